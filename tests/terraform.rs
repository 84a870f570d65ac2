//! The differential corpus: every expression of tests/fixtures/terraform/corpus.txt gives in
//! hive exactly what it gives in Terraform (the text of its `jsonencode`), or an error where
//! Terraform gives one. Terraform's side is in expected.json, written by
//! `python3 lab/terraform-corpus.py` with a `terraform` binary on PATH; the corpus marks
//! (`!differs`) where hive deliberately differs, and the README lists those.

use hive::lang::console::evaluate;
use std::path::Path;

#[test]
fn hive_evaluates_the_corpus_as_terraform_does() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform");
    let text = std::fs::read_to_string(fixtures.join("expected.json")).expect("expected.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let entries = doc["entries"].as_array().expect("entries");
    // Every expression of the corpus has Terraform's answer: the file is not stale.
    let corpus = std::fs::read_to_string(fixtures.join("corpus.txt")).expect("corpus.txt");
    let expressions = corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter(|l| !l.starts_with("!differs "))
        .count();
    assert_eq!(
        expressions,
        entries.len(),
        "expected.json is stale: run python3 lab/terraform-corpus.py"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut wrong = Vec::new();
    for entry in entries {
        let expr = entry["expr"].as_str().expect("expr");
        if entry.get("differs").is_some() {
            continue;
        }
        let got = evaluate(&format!("jsonencode({expr})"), dir.path());
        match (entry["json"].as_str(), &got) {
            (Some(want), Ok(hive_sdk::Value::String(have))) if want == have => {}
            (None, Err(_)) => {}
            (want, _) => wrong.push(format!(
                "{expr}\n    terraform: {}\n    hive:      {got:?}",
                want.map_or_else(
                    || format!("error: {}", entry["error"].as_str().unwrap_or_default()),
                    str::to_string
                )
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} expressions differ from Terraform:\n{}",
        wrong.len(),
        entries.len(),
        wrong.join("\n")
    );
}
