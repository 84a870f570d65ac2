//! `hive show`, `hive output`, and reading and writing saved plan files.

use super::Context;
use crate::ops::state::{locate, open_state, StateSource};
use crate::plan::{Plan, PLAN_FORMAT_VERSION};
use crate::render::diag::{render_text, Style};
use crate::render::plan::{inline, render_plan};
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::State;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A saved plan to show instead of the state.
    file: Option<PathBuf>,
    /// Print JSON (sensitive values redacted).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// One output; all of them if not given.
    name: Option<String>,
    /// Print JSON: the inventory a CI job reads.
    #[arg(long)]
    json: bool,
    /// Print one string, number or bool output bare, for shell scripts (sensitive ones too).
    #[arg(long, requires = "name", conflicts_with = "json")]
    raw: bool,
    /// Print the instances as an inventory instead: `ansible` (YAML) or `ssh-config` (for
    /// `ssh -F`).
    #[arg(long, value_name = "FORMAT", value_parser = ["ansible", "ssh-config"], conflicts_with_all = ["name", "json", "raw"])]
    format: Option<String>,
}

/// Saved plans contain variable values (not sensitive ones, see `Plan::as_saved`): only their
/// owner may read them, whatever file was there before (its mode is not kept).
pub fn write_plan_file(path: &Path, plan: &Plan) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let text = serde_json::to_string_pretty(plan).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

pub fn read_plan_file(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the plan file {}: {e}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a hive plan file: {e}", path.display()))?;
    if plan.format_version != PLAN_FORMAT_VERSION {
        return Err(format!(
            "{} has plan format {}; this hive reads {PLAN_FORMAT_VERSION}",
            path.display(),
            plan.format_version
        ));
    }
    Ok(plan)
}

/// Prints diagnostics the way every command does.
pub fn print_diagnostics(
    ctx: &Context,
    diags: &crate::diag::Diagnostics,
    sources: &crate::diag::Sources,
) {
    let style = if ctx.color {
        Style::Color
    } else {
        Style::Plain
    };
    eprint!("{}", render_text(diags, sources, style));
}

/// The state without taking the lock (reading only); what went wrong is printed.
pub fn read_state(ctx: &Context) -> Result<Option<State>, ()> {
    let located = locate(&ctx.dir, &ctx.registry).map_err(|(sources, diags)| {
        print_diagnostics(ctx, &diags, &sources);
    })?;
    let mut opened = open_state(
        &located.settings,
        &ctx.dir,
        &StateSource::Configured,
        None,
        Duration::ZERO,
    )
    .map_err(|d| eprintln!("Error: {}", d.summary))?;
    Ok(opened.state.take())
}

/// JSON for people's tools: sensitive values replaced by a marker, unknown ones by null.
pub fn redacted_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Sensitive(_) => serde_json::Value::String("(sensitive)".into()),
        Value::Unknown => serde_json::Value::Null,
        Value::List(items) | Value::Set(items) => items.iter().map(redacted_json).collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.clone(), redacted_json(v)))
            .collect(),
        plain => plain.to_json(),
    }
}

pub fn show(ctx: &Context, args: &ShowArgs) -> u8 {
    if let Some(file) = &args.file {
        let plan = match read_plan_file(file) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        };
        if args.json {
            let changes: Vec<serde_json::Value> = plan
                .changes
                .iter()
                .filter(|c| c.action != crate::plan::Action::NoOp)
                .map(|c| {
                    serde_json::json!({
                        "address": c.address,
                        "action": c.action,
                        "reasons": c.reasons,
                        "before": c.before.as_ref().map(redacted_json),
                        "after": c.after.as_ref().map(redacted_json),
                        "replace_because": c.replace_because,
                    })
                })
                .collect();
            let (add, change, destroy) = plan.counts();
            println!(
                "{:#}",
                serde_json::json!({
                    "format_version": "1.0",
                    "lineage": plan.lineage,
                    "serial": plan.serial,
                    "changes": changes,
                    "summary": { "add": add, "change": change, "destroy": destroy },
                })
            );
        } else {
            print!("{}", render_plan(&plan, ctx.registry.catalog()));
        }
        return 0;
    }
    let Ok(state) = read_state(ctx) else {
        return 1;
    };
    let Some(state) = state else {
        if args.json {
            println!("{{\"format_version\":\"1.0\",\"resources\":[],\"outputs\":{{}}}}");
        } else {
            println!("The state is empty: nothing has been applied.");
        }
        return 0;
    };
    if args.json {
        let resources: Vec<serde_json::Value> = state
            .resources
            .values()
            .map(|r| {
                serde_json::json!({
                    "address": r.address,
                    "kind": r.kind,
                    "driver": r.driver,
                    "id": r.id,
                    "status": r.status,
                    "dependencies": r.dependencies,
                    "attributes": redacted_json(&tagged::from_json(&r.attributes)),
                })
            })
            .collect();
        println!(
            "{:#}",
            serde_json::json!({
                "format_version": "1.0",
                "lineage": state.lineage,
                "serial": state.serial,
                "resources": resources,
                "outputs": outputs_json(&state),
            })
        );
        return 0;
    }
    for r in state.resources.values() {
        let status = match r.status {
            hive_state::Status::Ready => String::new(),
            other => format!(
                " ({})",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
        };
        println!("# {}{status}", r.address);
        print_attributes(&tagged::from_json(&r.attributes));
        println!();
    }
    if !state.outputs.is_empty() {
        println!("Outputs:\n");
        print_outputs(&state);
    }
    0
}

fn print_attributes(v: &Value) {
    let Some(entries) = v.as_map() else { return };
    let width = entries.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in entries.iter().filter(|(_, v)| !v.is_null()) {
        println!("  {k:<width$} = {}", inline(v));
    }
}

fn output_value(o: &hive_state::OutputState) -> Value {
    tagged::from_json(&o.value).mark_sensitive_if(o.sensitive)
}

fn outputs_json(state: &State) -> serde_json::Value {
    state
        .outputs
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                serde_json::json!({ "value": redacted_json(&output_value(o)), "sensitive": o.sensitive }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn print_outputs(state: &State) {
    let width = state.outputs.keys().map(String::len).max().unwrap_or(0);
    for (k, o) in &state.outputs {
        println!("{k:<width$} = {}", inline(&output_value(o)));
    }
}

pub fn output(ctx: &Context, args: &OutputArgs) -> u8 {
    let Ok(state) = read_state(ctx) else {
        return 1;
    };
    let state = state.unwrap_or_else(|| State::new(String::new()));
    if let Some(format) = &args.format {
        let nodes = crate::ops::ssh::nodes(&state, &ctx.registry, &ctx.dir);
        for why in crate::render::inventory::unreachable(&nodes) {
            eprintln!("hive: left out of the inventory: {why}");
        }
        if format == "ansible" {
            print!("{}", crate::render::inventory::ansible(&nodes));
        } else {
            print!("{}", crate::render::inventory::ssh_config(&nodes));
        }
        return 0;
    }
    match &args.name {
        None if args.json => println!("{:#}", outputs_json(&state)),
        None => print_outputs(&state),
        Some(name) => {
            let Some(o) = state.outputs.get(name) else {
                let known: Vec<&str> = state.outputs.keys().map(String::as_str).collect();
                eprintln!(
                    "Error: no output \"{name}\"{}",
                    crate::diag::did_you_mean(name, known.iter().copied())
                        .map(|h| format!(": {h}"))
                        .unwrap_or_default()
                );
                return 1;
            };
            let value = output_value(o);
            if args.raw {
                let bare = match value.unmarked() {
                    Value::String(text) => text.clone(),
                    Value::Number(n) => hive_sdk::value::format_number(*n),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        eprintln!(
                            "Error: output \"{name}\" is a {}: --raw prints only strings, numbers and bools; use --json",
                            other.type_name()
                        );
                        return 1;
                    }
                };
                println!("{bare}");
            } else if args.json {
                println!("{}", redacted_json(&value));
            } else {
                println!("{}", inline(&value));
            }
        }
    }
    0
}
