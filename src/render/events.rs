//! `-json` output of plan and apply: one JSON object per line, each with a `type`, a
//! human-readable `@message` and an `@timestamp`. Values are never included, so nothing
//! sensitive can leak; `hive show -json` gives values (redacted).
//!
//! Types: `version`, `diagnostic`, `planned_change`, `change_summary`, `apply_start`,
//! `apply_complete`, `apply_errored`, `apply_skipped`, `interrupted`, `outputs`.

use crate::diag::{Diagnostic, Sources};
use crate::engine::{Event, StepKind};
use crate::plan::{Action, Change, Plan};
use hive_sdk::Value;
use serde_json::{json, Value as J};
use std::collections::BTreeMap;

fn line(kind: &str, message: String, mut fields: J) -> J {
    if let J::Object(map) = &mut fields {
        map.insert("@message".into(), J::String(message));
        map.insert(
            "@timestamp".into(),
            J::String(hive_state::lock::rfc3339_now()),
        );
        map.insert("type".into(), J::String(kind.into()));
    }
    fields
}

pub fn version() -> J {
    let v = env!("CARGO_PKG_VERSION");
    line(
        "version",
        format!("hive {v}"),
        json!({ "hive": v, "ui": "1.0" }),
    )
}

pub fn diagnostic(d: &Diagnostic, sources: &Sources) -> J {
    line(
        "diagnostic",
        format!(
            "{}: {}",
            if d.is_error() { "Error" } else { "Warning" },
            d.summary
        ),
        json!({ "diagnostic": super::diag::diagnostic_json(d, sources) }),
    )
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::NoOp => "noop",
        Action::Create => "create",
        Action::Update => "update",
        Action::DeleteThenCreate => "replace",
        Action::CreateThenDelete => "replace_create_first",
        Action::Delete => "delete",
    }
}

pub fn planned_change(c: &Change) -> J {
    line(
        "planned_change",
        format!("{}: plan to {}", c.address, action_name(c.action)),
        json!({
            "change": {
                "address": c.address,
                "kind": c.kind,
                "driver": c.driver,
                "action": action_name(c.action),
                "reasons": c.reasons,
                "replace_because": c.replace_because,
            }
        }),
    )
}

pub fn change_summary(operation: &str, add: usize, change: usize, remove: usize) -> J {
    let message = match operation {
        "plan" => format!("Plan: {add} to add, {change} to change, {remove} to destroy."),
        _ => {
            format!("Apply complete! Resources: {add} added, {change} changed, {remove} destroyed.")
        }
    };
    line(
        "change_summary",
        message,
        json!({ "changes": { "add": add, "change": change, "remove": remove, "operation": operation } }),
    )
}

pub fn plan_lines(plan: &Plan) -> Vec<J> {
    let mut out: Vec<J> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(planned_change)
        .collect();
    let (add, change, remove) = plan.counts();
    out.push(change_summary("plan", add, change, remove));
    out
}

pub fn outputs(outputs: &BTreeMap<String, Value>) -> J {
    let described: serde_json::Map<String, J> = outputs
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({ "sensitive": v.contains_sensitive(), "known": v.is_wholly_known() }),
            )
        })
        .collect();
    line(
        "outputs",
        format!("Outputs: {}", outputs.len()),
        json!({ "outputs": described }),
    )
}

fn step_action(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Create => "create",
        StepKind::Update => "update",
        StepKind::Delete => "delete",
        StepKind::DeleteDeposed => "delete_replaced",
    }
}

pub fn event(e: &Event) -> J {
    let message = describe(e);
    match e {
        Event::Started { address, kind } => line(
            "apply_start",
            message,
            json!({ "hook": { "address": address, "action": step_action(*kind) } }),
        ),
        Event::Finished {
            address,
            kind,
            elapsed,
        } => line(
            "apply_complete",
            message,
            json!({ "hook": { "address": address, "action": step_action(*kind), "elapsed_seconds": elapsed.as_secs_f64() } }),
        ),
        Event::Failed {
            address,
            kind,
            error,
            elapsed,
        } => line(
            "apply_errored",
            message,
            json!({ "hook": { "address": address, "action": step_action(*kind), "error": error, "elapsed_seconds": elapsed.as_secs_f64() } }),
        ),
        Event::Skipped {
            address,
            kind,
            because,
        } => line(
            "apply_skipped",
            message,
            json!({ "hook": { "address": address, "action": step_action(*kind), "because": because } }),
        ),
        Event::Progress { address, .. } => line(
            "apply_progress",
            message,
            json!({ "hook": { "address": address } }),
        ),
        Event::Interrupted { running } => line(
            "interrupted",
            message,
            json!({ "running": running, "abandoning": false }),
        ),
        Event::Abandoning { running } => line(
            "interrupted",
            message,
            json!({ "running": running, "abandoning": true }),
        ),
    }
}

/// One line describing an event, as plain progress output prints it and as JSON events
/// carry it in `@message`.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Started { address, kind } => format!("{address}: {}...", kind.words().0),
        Event::Finished {
            address,
            kind,
            elapsed,
        } => format!("{address}: {} in {:.1}s", kind.words().1, elapsed.as_secs_f64()),
        Event::Failed {
            address,
            kind,
            error,
            elapsed,
        } => format!(
            "{address}: {} failed after {:.1}s: {error}",
            kind.words().0,
            elapsed.as_secs_f64()
        ),
        Event::Skipped {
            address,
            kind,
            because,
        } => format!("{address}: not {} because {because} failed", kind.words().1),
        Event::Progress { address, message } => format!("{address}: {message}"),
        Event::Interrupted { running } => format!(
            "Interrupt received: no new steps start; waiting for {running} running step{} to finish (interrupt again to abandon them)",
            if *running == 1 { "" } else { "s" }
        ),
        Event::Abandoning { running } => format!(
            "Second interrupt: abandoning {running} running step{}; they are recorded as interrupted",
            if *running == 1 { "" } else { "s" }
        ),
    }
}
