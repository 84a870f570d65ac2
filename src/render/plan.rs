//! Plans as text, the way Terraform users read them:
//!
//! ```text
//!   # command.smoke must be replaced (triggers forces replacement)
//! -/+ command "smoke" {
//!       ~ id       = "6f1c..." -> (known after apply)
//!       ~ triggers = {
//!           ~ ip = "10.0.0.1" -> "10.0.0.2"
//!         } # forces replacement
//!     }
//! ```
//!
//! Unchanged attributes of an update are counted, not shown; sensitive values print as
//! `(sensitive)`; multi-line strings show as a unified diff.

use crate::config::Catalog;
use crate::plan::{Action, Change, Plan};
use hive_sdk::value::format_number;
use hive_sdk::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

pub fn render_plan(plan: &Plan, kinds: &Catalog) -> String {
    let mut out = String::new();
    let changes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    for (from, to) in &plan.moved {
        let _ = writeln!(out, "  # {from} has moved to {to}");
    }
    for (address, id) in &plan.imports {
        let _ = writeln!(out, "  # {address} will be imported from {id}");
    }
    for address in &plan.forgotten {
        let _ = writeln!(
            out,
            "  # {address} will no longer be managed by hive: removed from the state, not destroyed"
        );
    }
    let refactors =
        !plan.moved.is_empty() || !plan.forgotten.is_empty() || !plan.imports.is_empty();
    if refactors {
        out.push('\n');
    }
    if changes.is_empty() && refactors {
        let _ = writeln!(
            out,
            "Plan: 0 to add, 0 to change, 0 to destroy; {} to import, {} to move, {} to forget.",
            plan.imports.len(),
            plan.moved.len(),
            plan.forgotten.len()
        );
    } else if changes.is_empty() && plan.outputs_change() {
        out.push_str("No changes to the infrastructure; applying records new output values.\n");
    } else if changes.is_empty() {
        out.push_str("No changes. The infrastructure matches the configuration.\n");
    } else {
        out.push_str("hive will perform the following actions:\n\n");
        for change in changes {
            render_change(change, kinds, &mut out);
            out.push('\n');
        }
        let (add, change, destroy) = plan.counts();
        let _ = writeln!(
            out,
            "Plan: {add} to add, {change} to change, {destroy} to destroy."
        );
    }
    let outputs = render_outputs(plan);
    if !outputs.is_empty() {
        out.push_str("\nChanges to outputs:\n");
        out.push_str(&outputs);
    }
    out
}

fn render_outputs(plan: &Plan) -> String {
    let mut out = String::new();
    let names: BTreeSet<&String> = plan
        .outputs
        .keys()
        .chain(plan.prior_outputs.keys())
        .collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        let line = match (plan.prior_outputs.get(name), plan.outputs.get(name)) {
            (None, Some(after)) => format!("+ {name:<width$} = {}", inline(after)),
            (Some(before), None) => format!("- {name:<width$} = {}", inline(before)),
            (Some(before), Some(after))
                if !(after.is_wholly_known() && crate::lang::eval::values_equal(before, after)) =>
            {
                format!("~ {name:<width$} = {} -> {}", inline(before), inline(after))
            }
            _ => continue,
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn header(change: &Change) -> String {
    let what = match change.action {
        Action::NoOp => "is unchanged",
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::DeleteThenCreate => "must be replaced",
        Action::CreateThenDelete => "must be replaced (the new one is created first)",
        Action::Delete => "will be destroyed",
    };
    let why = if change.reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", change.reasons.join("; "))
    };
    format!("  # {} {what}{why}", change.object())
}

pub fn render_change(change: &Change, kinds: &Catalog, out: &mut String) {
    let _ = writeln!(out, "{}", header(change));
    let (kind, name) = (&change.address.resource.kind, &change.address.resource.name);
    let symbol = change.action.symbol();
    let _ = writeln!(out, "{symbol:>3} {kind} \"{name}\" {{");
    let empty = Value::Map(Default::default());
    let before = match change.action {
        Action::Create => &empty,
        _ => change.before.as_ref().unwrap_or(&empty),
    };
    let after = match change.action {
        Action::Delete => &empty,
        _ => change.after.as_ref().unwrap_or(&empty),
    };
    // References to other resources show as their ids, not as copies of them.
    let (before, after) = match kinds.kind(&change.kind) {
        Some(k) => (k.schema.identities(before), k.schema.identities(after)),
        None => (before.clone(), after.clone()),
    };
    let (before, after) = (&before, &after);
    let mut tails: BTreeMap<&str, &str> = change
        .replace_because
        .iter()
        .map(|a| (a.as_str(), " # forces replacement"))
        .collect();
    // hive chose the host among `hosts`: shown by name, and said so.
    let is_placed = |v: &Option<Value>| {
        v.as_ref()
            .is_some_and(|a| a.attr("hosts").is_some_and(|h| !h.is_null()))
    };
    let by_name = |raw: &Option<Value>, shown: &Value| -> Value {
        let name = raw
            .as_ref()
            .and_then(|r| r.attr("host"))
            .and_then(|h| h.attr_str("name"));
        match (name, shown) {
            (Some(name), Value::Map(entries)) => {
                let mut entries = entries.clone();
                entries.insert("host".into(), Value::string(name));
                Value::Map(entries)
            }
            _ => shown.clone(),
        }
    };
    let (before, after) = if is_placed(&change.after) {
        tails.entry("host").or_insert(" (placed)");
        (
            by_name(&change.before, before),
            by_name(&change.after, after),
        )
    } else {
        (before.clone(), after.clone())
    };
    let (before, after) = (&before, &after);
    let hidden = render_object_body(before, after, 6, &tails, change.action, out);
    if hidden > 0 {
        let _ = writeln!(
            out,
            "{}# ({hidden} unchanged attribute{} hidden)",
            " ".repeat(8),
            if hidden == 1 { "" } else { "s" }
        );
    }
    out.push_str("    }\n");
}

/// Renders the attributes of an object; returns how many unchanged ones were left out.
fn render_object_body(
    before: &Value,
    after: &Value,
    indent: usize,
    tails: &BTreeMap<&str, &str>,
    action: Action,
    out: &mut String,
) -> usize {
    let b = before.as_map();
    let a = after.as_map();
    let keys: BTreeSet<&String> = b
        .into_iter()
        .flat_map(|m| m.keys())
        .chain(a.into_iter().flat_map(|m| m.keys()))
        .collect();
    let shown: Vec<(&String, &Value, &Value)> = keys
        .into_iter()
        .map(|k| {
            let bv = b.and_then(|m| m.get(k)).unwrap_or(&Value::Null);
            let av = a.and_then(|m| m.get(k)).unwrap_or(&Value::Null);
            (k, bv, av)
        })
        .collect();
    let visible: Vec<&(&String, &Value, &Value)> = shown
        .iter()
        .filter(|(_, bv, av)| !(bv.is_null() && av.is_null()))
        .collect();
    let mut hidden = 0;
    let changed: Vec<&&(&String, &Value, &Value)> = visible
        .iter()
        .filter(|(_, bv, av)| {
            let same = crate::lang::eval::values_equal(bv, av) && bv.is_wholly_known();
            if same
                && matches!(
                    action,
                    Action::Update | Action::DeleteThenCreate | Action::CreateThenDelete
                )
            {
                hidden += 1;
                false
            } else {
                true
            }
        })
        .collect();
    let width = changed.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (k, bv, av) in changed {
        let tail = tails.get(k.as_str()).copied().unwrap_or("");
        render_attribute(k, bv, av, indent, width, tail, out);
    }
    hidden
}

fn render_attribute(
    name: &str,
    before: &Value,
    after: &Value,
    indent: usize,
    width: usize,
    tail: &str,
    out: &mut String,
) {
    let pad = " ".repeat(indent);
    let (symbol, before_shown) = match (before.is_null(), after.is_null()) {
        (true, false) => ("+", false),
        (false, true) => ("-", true),
        _ if crate::lang::eval::values_equal(before, after) && after.is_wholly_known() => {
            (" ", false)
        }
        _ => ("~", true),
    };
    // Objects nest, so a change deep inside shows where it is.
    let is_object = |v: &Value| matches!(v, Value::Map(_));
    if (is_object(before) || before.is_null())
        && (is_object(after) || after.is_null())
        && !(before.is_null() && after.is_null())
    {
        let _ = writeln!(out, "{pad}{symbol} {name:<width$} = {{");
        let action = match symbol {
            "+" => Action::Create,
            "-" => Action::Delete,
            _ => Action::Update,
        };
        let hidden = render_object_body(before, after, indent + 4, &BTreeMap::new(), action, out);
        if hidden > 0 {
            let _ = writeln!(out, "{pad}    # ({hidden} unchanged hidden)");
        }
        let _ = writeln!(out, "{pad}  }}{tail}");
        return;
    }
    if let Some(diff) = multiline_diff(before, after, before_shown, indent) {
        let _ = writeln!(out, "{pad}{symbol} {name:<width$} = <<-EOT{tail}");
        out.push_str(&diff);
        let _ = writeln!(out, "{pad}  EOT");
        return;
    }
    let value = match symbol {
        "+" | " " => inline(after),
        "-" => format!("{} -> null", inline(before)),
        _ => format!("{} -> {}", inline(before), inline(after)),
    };
    let _ = writeln!(out, "{pad}{symbol} {name:<width$} = {value}{tail}");
}

/// A multi-line string (user data, scripts) as the lines of a heredoc: a unified diff when it
/// changed, the text when it is new.
fn multiline_diff(before: &Value, after: &Value, changed: bool, indent: usize) -> Option<String> {
    let b = match before {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    let a = match after {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    let multiline = b.is_some_and(|s| s.contains('\n')) || a.is_some_and(|s| s.contains('\n'));
    // A text that becomes unknown (or sensitive) reads best on one line: "..." -> (known
    // after apply).
    let both_text_or_new = a.is_some() && (b.is_some() || !changed);
    if !multiline || !both_text_or_new {
        return None;
    }
    let pad = " ".repeat(indent + 4);
    let mut out = String::new();
    if changed && b.is_some() && a.is_some() {
        let diff = similar::TextDiff::from_lines(b.unwrap_or(""), a.unwrap_or(""));
        for line in diff.unified_diff().context_radius(2).to_string().lines() {
            let _ = writeln!(out, "{pad}{line}");
        }
    } else {
        for line in a.or(b).unwrap_or("").lines() {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    Some(out)
}

/// A value on one line, as HCL.
pub fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Number(n) => format_number(*n),
        Value::Map(entries) if entries.is_empty() => "{}".into(),
        Value::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Value::List(items) | Value::Set(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}
