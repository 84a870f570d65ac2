//! Arbitrary bytes as a configuration file (the body is `hive::fuzzing::parse_eval_fmt`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hive::fuzzing::parse_eval_fmt(data));
