//! `hive test`'s results: the lines people read, JSON events, and JUnit XML (one testsuite
//! per file, one testcase per run, a failed teardown as a testcase of its own).

use crate::ops::test::{FileOutcome, RunOutcome, Status, Teardown};
use serde_json::json;

fn word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error => "error",
        Status::Skip => "skip",
    }
}

/// `  run "nodes"... pass (12.3s)` and, beneath, each failure.
pub fn run_line(outcome: &RunOutcome) -> String {
    let mut out = format!(
        "  run \"{}\"... {} ({:.1}s)",
        outcome.name,
        word(outcome.status),
        outcome.elapsed.as_secs_f64()
    );
    for f in &outcome.failures {
        for (i, line) in f.lines().enumerate() {
            out.push_str(if i == 0 { "\n    - " } else { "\n      " });
            out.push_str(line);
        }
    }
    out
}

pub fn teardown_line(t: &Teardown) -> String {
    match &t.error {
        None => format!(
            "  teardown: destroyed {} object(s) ({:.1}s)",
            t.destroyed,
            t.elapsed.as_secs_f64()
        ),
        Some(e) => format!("  teardown FAILED: {e}"),
    }
}

/// The summary line: `Success! 3 passed, 0 failed.` or `Failure! ...`.
pub fn summary(files: &[FileOutcome]) -> String {
    let count = |s: Status| {
        files
            .iter()
            .flat_map(|f| &f.runs)
            .filter(|r| r.status == s)
            .count()
    };
    let (pass, fail, error, skip) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Error),
        count(Status::Skip),
    );
    let teardowns = files.iter().filter(|f| f.teardown.error.is_some()).count();
    let all = files.iter().all(FileOutcome::passed);
    let mut line = format!(
        "{} {pass} passed, {} failed",
        if all { "Success!" } else { "Failure!" },
        fail + error
    );
    if skip > 0 {
        line.push_str(&format!(", {skip} skipped"));
    }
    if teardowns > 0 {
        line.push_str(&format!(", {teardowns} teardown(s) failed"));
    }
    line.push('.');
    line
}

pub fn run_event(file: &str, outcome: &RunOutcome) -> serde_json::Value {
    json!({
        "type": "test_run",
        "@message": format!("{file}: run \"{}\": {}", outcome.name, word(outcome.status)),
        "file": file,
        "run": outcome.name,
        "status": word(outcome.status),
        "failures": outcome.failures,
        "elapsed_seconds": outcome.elapsed.as_secs_f64(),
    })
}

pub fn teardown_event(file: &str, t: &Teardown) -> serde_json::Value {
    json!({
        "type": "test_teardown",
        "@message": format!("{file}: {}", teardown_line(t).trim()),
        "file": file,
        "destroyed": t.destroyed,
        "error": t.error,
        "elapsed_seconds": t.elapsed.as_secs_f64(),
    })
}

pub fn summary_event(files: &[FileOutcome]) -> serde_json::Value {
    json!({
        "type": "test_summary",
        "@message": summary(files),
        "passed": files.iter().all(FileOutcome::passed),
    })
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

pub fn junit(files: &[FileOutcome]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hive test\">\n",
    );
    for f in files {
        let fails = f.runs.iter().filter(|r| r.status == Status::Fail).count();
        let errors = f.runs.iter().filter(|r| r.status == Status::Error).count()
            + usize::from(f.teardown.error.is_some());
        let skipped = f.runs.iter().filter(|r| r.status == Status::Skip).count();
        let tests = f.runs.len() + usize::from(f.teardown.error.is_some());
        let time: f64 = f.runs.iter().map(|r| r.elapsed.as_secs_f64()).sum::<f64>()
            + f.teardown.elapsed.as_secs_f64();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{fails}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
            escape(&f.name)
        ));
        for r in &f.runs {
            out.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&r.name),
                escape(&f.name),
                r.elapsed.as_secs_f64()
            ));
            let body = r.failures.join("\n");
            match r.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail | Status::Error | Status::Skip => {
                    let tag = match r.status {
                        Status::Fail => "failure",
                        Status::Error => "error",
                        _ => "skipped",
                    };
                    let first = r.failures.first().map(String::as_str).unwrap_or_default();
                    out.push_str(&format!(
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>\n",
                        escape(first.lines().next().unwrap_or_default()),
                        escape(&body)
                    ));
                }
            }
        }
        if let Some(e) = &f.teardown.error {
            out.push_str(&format!(
                "    <testcase name=\"teardown\" classname=\"{}\" time=\"{:.3}\">\n      <error message=\"{}\">{}</error>\n    </testcase>\n",
                escape(&f.name),
                f.teardown.elapsed.as_secs_f64(),
                escape(e.lines().next().unwrap_or_default()),
                escape(e)
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
