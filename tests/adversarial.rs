//! Hostile input: each gives a clear diagnostic with a position and exit 1, never a panic, a
//! stack overflow or a hang.

use crate::support::{config_dir, hive, run, Run};

fn validate(text: &str) -> Run {
    let dir = config_dir(&[("main.hive.hcl", text)]);
    run(hive().arg("validate").current_dir(dir.path()))
}

fn assert_clean_failure(r: &Run, expect: &str) {
    assert_eq!(r.code, 1, "exit code; stderr:\n{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.contains(expect),
        "expected {expect:?} in:\n{}",
        r.stderr
    );
}

#[test]
fn a_20_megabyte_file_is_refused_with_its_size() {
    let mut text = String::from("locals {\n");
    while text.len() < 20 * 1024 * 1024 {
        text.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    text.push_str("}\n");
    let r = validate(&text);
    assert_clean_failure(&r, "main.hive.hcl is too large");
    assert!(r.stderr.contains("at most 8388608 bytes"), "{}", r.stderr);
}

#[test]
fn expressions_nested_ten_thousand_deep_are_refused_with_a_position() {
    let n = 10_000;
    let shapes = [
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}1{}", "{a=".repeat(n), "}".repeat(n)),
        format!("{}true", "!".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("{}x{}", "\"${".repeat(n), "}\"".repeat(n)),
        format!("f({}1{})", "g(".repeat(n), ")".repeat(n)),
    ];
    for (i, expr) in shapes.iter().enumerate() {
        let r = validate(&format!("locals {{\n  x = {expr}\n}}\n"));
        assert_eq!(r.code, 1, "shape {i}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "shape {i}: {}", r.stderr);
        assert!(
            r.stderr.contains("main.hive.hcl:2:"),
            "shape {i} has no position: {}",
            r.stderr
        );
    }
}

#[test]
fn blocks_nested_ten_thousand_deep_are_refused() {
    let n = 10_000;
    let text = format!("{}{}", "a {\n".repeat(n), "}\n".repeat(n));
    let r = validate(&text);
    assert_clean_failure(&r, "main.hive.hcl:");
}

#[test]
fn long_operator_chains_are_refused_or_evaluated() {
    let chain = vec!["1"; 10_000].join(" + ");
    let r = validate(&format!("locals {{\n  x = {chain}\n}}\n"));
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn huge_counts_and_ranges_do_not_exhaust_memory() {
    let r = validate("instance \"n\" {\n  count = 1e12\n}\n");
    assert_clean_failure(&r, "more than the 100000 instances");
    let r = validate("locals {\n  x = range(1e15)\n}\n");
    assert_clean_failure(&r, "range");
    let r = validate("locals {\n  x = format(\"%999999999999d\", 1)\n}\n");
    assert_eq!(
        r.code,
        if r.stderr.contains("Error") { 1 } else { 0 },
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn binary_garbage_is_reported_not_crashed_on() {
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.hive.hcl"), bytes).expect("write");
    let r = run(hive().arg("validate").current_dir(dir.path()));
    assert_clean_failure(&r, "main.hive.hcl");
}
