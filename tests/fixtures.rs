//! Data-driven tests: every folder under fixtures/invalid holds a configuration and the exact
//! diagnostics `hive validate` prints for it (expected.txt); every folder under fixtures/valid
//! holds a configuration and the values its outputs evaluate to (expected.json).

use crate::support::{assert_golden, cases, hive, run};
use hive::ops::validate::{validate, VarOptions};

#[test]
fn invalid_configurations_give_exact_diagnostics() {
    let mut failures = Vec::new();
    for case in cases("invalid") {
        let r = run(hive().arg("validate").current_dir(&case));
        let result = std::panic::catch_unwind(|| {
            assert_eq!(
                r.code,
                1,
                "{}: exit code; stderr:\n{}",
                case.display(),
                r.stderr
            );
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
            assert_golden(&case.join("expected.txt"), &r.stderr);
        });
        if result.is_err() {
            failures.push(case.display().to_string());
        }
    }
    assert!(failures.is_empty(), "failed cases: {failures:#?}");
}

#[test]
fn invalid_configurations_give_the_same_diagnostics_as_json() {
    for case in cases("invalid") {
        let r = run(hive().args(["validate", "-json"]).current_dir(&case));
        assert_eq!(r.code, 1, "{}", case.display());
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
        assert_eq!(doc["valid"], false);
        let count = doc["error_count"].as_u64().unwrap_or(0);
        assert!(count >= 1, "{}", case.display());
        let text = flatten(&run(hive().arg("validate").current_dir(&case)).stderr);
        for d in doc["diagnostics"].as_array().into_iter().flatten() {
            let summary = flatten(d["summary"].as_str().unwrap_or_default());
            assert!(
                text.contains(&summary),
                "{}: {summary} not in text output",
                case.display()
            );
            if let Some(range) = d.get("range") {
                let at = format!(
                    "{}:{}:{}",
                    range["filename"].as_str().unwrap_or_default(),
                    range["start"]["line"],
                    range["start"]["column"]
                );
                assert!(
                    text.contains(&at),
                    "{}: {at} not in text output",
                    case.display()
                );
            }
        }
    }
}

#[test]
fn valid_configurations_evaluate_to_the_expected_outputs() {
    let mut failures = Vec::new();
    for case in cases("valid") {
        let options = VarOptions::default();
        let result = validate(&case, &crate::support::registry(), &options);
        let rendered = hive::render::diag::render_text(
            &result.diagnostics,
            &result.sources,
            hive::render::diag::Style::Plain,
        );
        let outcome = std::panic::catch_unwind(|| {
            assert!(
                !result.diagnostics.has_errors(),
                "{}:\n{rendered}",
                case.display()
            );
            let evaluated = result.evaluated.as_ref().expect("evaluated");
            let outputs: serde_json::Map<String, serde_json::Value> = evaluated
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), shown(v)))
                .collect();
            let text = serde_json::to_string_pretty(&outputs).expect("json") + "\n";
            assert_golden(&case.join("expected.json"), &text);
        });
        if outcome.is_err() {
            failures.push(case.display().to_string());
        }
        let r = run(hive().arg("validate").current_dir(&case));
        assert_eq!(r.code, 0, "{}: {}", case.display(), r.stderr);
    }
    assert!(failures.is_empty(), "failed cases: {failures:#?}");
}

/// Text with the report's line drawing removed and white space collapsed, so wrapped lines
/// compare equal to the message they wrap.
fn flatten(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as JSON, with unknown and sensitive parts shown as the plan shows them.
fn shown(v: &hive_sdk::Value) -> serde_json::Value {
    use hive_sdk::Value;
    match v {
        Value::Unknown => serde_json::Value::String("(known after apply)".into()),
        Value::Sensitive(_) => serde_json::Value::String("(sensitive)".into()),
        Value::List(items) | Value::Set(items) => items.iter().map(shown).collect(),
        Value::Map(entries) => entries.iter().map(|(k, v)| (k.clone(), shown(v))).collect(),
        other => other.to_json(),
    }
}
