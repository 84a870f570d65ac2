//! Arbitrary bytes as a configuration file: loading, evaluating and formatting must never
//! panic, and formatting what formats must be idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("main.hive.hcl"), data).is_err() {
        return;
    }
    let _ = hive::ops::validate::validate(dir.path(), &Default::default());
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(once) = hive::config::fmt::format_source(text) {
            let twice = hive::config::fmt::format_source(&once);
            assert_eq!(twice.as_ref(), Ok(&once), "fmt is not idempotent");
        }
    }
});
