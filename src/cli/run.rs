//! `hive plan`, `hive apply` and `hive destroy`.

use super::json_stream::JsonStream;
use super::progress::Progress;
use super::{Context, VarArgs};
use crate::engine::apply::{ApplyReport, Stop};
use crate::ops::apply::{run, RunOptions, RunResult, Then};
use crate::ops::plan::PlanOptions;
use crate::plan::Plan;
use crate::render::events;
use crate::render::plan::{inline, render_plan};
use hive_sdk::addr::Target;
use std::io::{BufRead, Write};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    vars: VarArgs,
    /// Ask the backends what exists before planning (default true).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    refresh: bool,
    /// Plan only this resource or instance and what it needs (repeatable).
    #[arg(long = "target", value_name = "ADDR")]
    targets: Vec<String>,
    /// Leave this resource or instance alone, and everything that depends on it (repeatable).
    #[arg(long = "exclude", value_name = "ADDR")]
    excludes: Vec<String>,
    /// Replace this instance even if nothing changed (repeatable).
    #[arg(long = "replace", value_name = "ADDR")]
    replace: Vec<String>,
    /// Wait this long for the state lock (e.g. 30s) instead of failing at once.
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    lock_timeout: String,
    /// Print line-delimited JSON events instead of text (see the README).
    #[arg(long)]
    json: bool,
    /// Also write the JSON events to FILE, while the terminal gets the text.
    #[arg(long = "json-into", value_name = "FILE")]
    json_into: Option<std::path::PathBuf>,
}

impl PlanArgs {
    /// Where the command's JSON events go; `None` (the error said) when the file cannot be
    /// made.
    fn json_stream(&self) -> Option<JsonStream> {
        match JsonStream::open(self.json, self.json_into.as_deref()) {
            Ok(stream) => {
                stream.line(&events::version());
                Some(stream)
            }
            Err(e) => {
                eprintln!("Error: {e}");
                None
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PlanCommand {
    #[command(flatten)]
    plan: PlanArgs,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long = "detailed-exitcode")]
    detailed_exitcode: bool,
    /// Plan the destruction of everything in the state.
    #[arg(long)]
    destroy: bool,
    /// Save the plan to FILE; `hive apply FILE` then does exactly it.
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ApplyCommand {
    #[command(flatten)]
    plan: PlanArgs,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    auto_approve: bool,
    /// At most this many steps at once (default: the configuration's, or 10).
    #[arg(long, value_name = "N")]
    parallelism: Option<usize>,
    /// What this apply makes or keeps expires this long after it (e.g. 2h): `hive scan
    /// -reap` then destroys it. Wins over the configuration's `ttl`.
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// A plan saved with `hive plan -out FILE`: applied exactly, without asking.
    #[arg(value_name = "PLAN_FILE")]
    plan_file: Option<std::path::PathBuf>,
}

fn options(args: &PlanArgs, command: &str, destroy: bool) -> Result<RunOptions, String> {
    let parse = |list: &[String]| -> Result<Vec<Target>, String> {
        list.iter().map(|t| t.parse::<Target>()).collect()
    };
    let lock_timeout = hive_sdk::units::parse_duration(&args.lock_timeout)
        .map_err(|e| format!("-lock-timeout: {e}"))?;
    Ok(RunOptions {
        plan: PlanOptions {
            vars: args.vars.options(),
            refresh: args.refresh,
            targets: parse(&args.targets)?,
            excludes: parse(&args.excludes)?,
            replace: parse(&args.replace)?,
            destroy,
        },
        lock_timeout,
        parallelism: None,
        command: command.to_string(),
        saved_plan: None,
        state: Default::default(),
        ttl: None,
    })
}

pub(super) fn report_diagnostics(ctx: &Context, result: &RunResult, json: &JsonStream) {
    for d in &result.diagnostics.items {
        json.line(&events::diagnostic(d, &result.sources));
    }
    if json.on_stdout() {
        return;
    }
    for note in &result.recovered {
        eprintln!("Note: {note}");
    }
    ctx.print_diagnostics(&result.diagnostics, &result.sources);
}

pub fn plan(ctx: &Context, args: &PlanCommand) -> u8 {
    let options = match options(&args.plan, "hive plan", args.destroy) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let Some(json) = args.plan.json_stream() else {
        return 1;
    };
    let result = run(
        &ctx.dir,
        &ctx.registry,
        &options,
        Then::Stop,
        &mut Progress::new(&json),
    );
    report_diagnostics(ctx, &result, &json);
    // A plan made with errors is one that left out what is on a DOWN host: it is shown, and
    // the command fails.
    let failed = result.diagnostics.has_errors();
    let Some(plan) = result.plan else {
        return 1;
    };
    show_plan(&plan, ctx.registry.catalog(), &json);

    if let Some(out) = &args.out {
        if let Err(e) = super::inspect::write_plan_file(out, &plan.as_saved(ctx.registry.catalog()))
        {
            eprintln!("Error: saving the plan to {}: {e}", out.display());
            return 1;
        }
        println!(
            "\nSaved the plan to {}. Apply exactly it with: hive apply {}",
            out.display(),
            out.display()
        );
    }
    let code = if failed {
        1
    } else if args.detailed_exitcode && plan.has_changes() {
        2
    } else {
        0
    };
    // The process ends here: freeing a large plan piece by piece only costs time.
    std::mem::forget(plan);
    code
}

pub fn apply(ctx: &Context, args: &ApplyCommand, destroy: bool) -> u8 {
    let command = if destroy {
        "hive destroy"
    } else {
        "hive apply"
    };
    let mut options = match options(&args.plan, command, destroy) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    options.parallelism = args.parallelism;
    if let Some(ttl) = &args.ttl {
        match hive_sdk::units::parse_duration(ttl) {
            Ok(d) if !d.is_zero() => options.ttl = Some(d),
            Ok(_) => {
                eprintln!("Error: -ttl must be longer than nothing");
                return 1;
            }
            Err(e) => {
                eprintln!("Error: -ttl: {e}");
                return 1;
            }
        }
    }
    if let Some(file) = &args.plan_file {
        match super::inspect::read_plan_file(file) {
            Ok(plan) => options.saved_plan = Some(plan),
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        }
    }
    // A saved plan was already reviewed: it is applied without asking.
    let auto_approve = args.auto_approve || args.plan_file.is_some();
    if args.plan.json && !auto_approve {
        eprintln!("Error: -json needs -auto-approve (a JSON stream cannot ask for confirmation)");
        return 1;
    }
    let Some(json) = args.plan.json_stream() else {
        return 1;
    };
    let catalog = ctx.registry.catalog();
    let mut confirm = |plan: &Plan| {
        show_plan(plan, catalog, &json);
        auto_approve || json.on_stdout() || ask(destroy)
    };
    let mut progress = Progress::new(&json);
    let result = run(
        &ctx.dir,
        &ctx.registry,
        &options,
        Then::Confirm(&mut confirm),
        &mut progress,
    );
    report_diagnostics(ctx, &result, &json);
    if result.diagnostics.has_errors() && result.report.is_none() {
        return 1;
    }
    if result.declined {
        println!("\n{} cancelled.", if destroy { "Destroy" } else { "Apply" });
        return 1;
    }
    let Some(report) = &result.report else {
        if let Some(plan) = &result.plan {
            show_plan(plan, catalog, &json);
        }
        return u8::from(result.diagnostics.has_errors());
    };
    let code = exit_code(report, &result);
    json.line(&events::change_summary(
        "apply",
        progress.added,
        progress.changed,
        progress.destroyed,
    ));
    if !destroy {
        json.line(&events::outputs(&report.outputs));
    }
    if json.on_stdout() {
        return code;
    }
    let verb = if destroy { "Destroy" } else { "Apply" };
    let whole =
        report.failed.is_empty() && report.stopped.is_none() && !result.diagnostics.has_errors();
    if whole {
        println!(
            "\n{verb} complete! Resources: {} added, {} changed, {} destroyed.",
            progress.added, progress.changed, progress.destroyed
        );
    } else {
        let how = match report.stopped {
            Some(Stop::Interrupted) => "interrupted",
            Some(Stop::Terminated) => "terminated",
            _ => "incomplete",
        };
        println!(
            "\n{verb} {how}: {} added, {} changed, {} destroyed; {} failed, {} not started.",
            progress.added,
            progress.changed,
            progress.destroyed,
            report.failed.len(),
            report.not_started
        );
        for f in &report.failed {
            eprintln!("Error: {} {}: {}", f.doing, f.address, f.error);
        }
    }
    if !destroy && !report.outputs.is_empty() {
        println!("\nOutputs:\n");
        for (name, value) in report.outputs.iter().filter(|(_, v)| v.is_wholly_known()) {
            println!("{name} = {}", inline(value));
        }
    }
    code
}

/// 130 after Ctrl-C, 143 after SIGTERM (as a shell reports them), 1 when anything failed.
fn exit_code(report: &ApplyReport, result: &RunResult) -> u8 {
    match report.stopped {
        Some(Stop::Interrupted) => 130,
        Some(Stop::Terminated) => 143,
        _ => u8::from(!report.failed.is_empty() || result.diagnostics.has_errors()),
    }
}

/// The plan as text, unless standard output is JSON, and as JSON events where they go.
fn show_plan(plan: &Plan, catalog: &crate::config::Catalog, json: &JsonStream) {
    for line in events::plan_lines(plan) {
        json.line(&line);
    }
    if !json.on_stdout() {
        print!("{}", render_plan(plan, catalog));
    }
}

/// Asks for `yes` on the terminal (or standard input).
fn ask(destroy: bool) -> bool {
    let what = if destroy {
        "Do you really want to destroy all resources?\n  hive will destroy everything described above; there is no undo."
    } else {
        "Do you want to perform these actions?\n  hive will perform the actions described above."
    };
    ask_yes(what)
}

/// Asks `question` and waits for `yes` on the terminal (or standard input).
pub(super) fn ask_yes(what: &str) -> bool {
    print!("\n{what}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => {
            println!();
            eprintln!("No answer on standard input: pass -auto-approve to apply without asking.");
            false
        }
        Ok(_) => line.trim() == "yes",
        Err(_) => false,
    }
}
