//! The command line: argument parsing and the thin command files that call into `ops` and
//! print through `render`.

mod checkpoint;
mod debug_log;
mod fmt;
mod graph;
mod hosts;
mod import;
mod inspect;
mod json_stream;
mod progress;
mod run;
mod scan;
mod snapshot;
mod ssh;
mod state;
mod test;
mod validate;

use crate::ops::validate::VarOptions;
use clap::{CommandFactory, Parser, Subcommand};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "hive",
    version,
    about = "Declarative test clusters: hosts, bridges, images, volumes and instances from HCL",
    after_help = "Long options take one dash or two (-auto-approve, --auto-approve)."
)]
struct Cli {
    /// Work in DIR instead of the current directory (before or after the command).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Never colour the output (also: NO_COLOR in the environment).
    #[arg(long = "no-color", global = true)]
    no_color: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration: syntax, names, types, references and cycles. Calls no backend.
    Validate(validate::Args),
    /// Rewrite configuration files in canonical form.
    Fmt(fmt::Args),
    /// Show what apply would do.
    Plan(run::PlanCommand),
    /// Make the infrastructure match the configuration.
    Apply(run::ApplyCommand),
    /// Destroy everything the state records.
    Destroy(run::ApplyCommand),
    /// Show the state, or a saved plan.
    Show(inspect::ShowArgs),
    /// Show the outputs recorded by the last apply.
    Output(inspect::OutputArgs),
    /// Inspect or change the state by hand.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Remove a state lock whose holder is gone (a local lock is taken over by itself).
    ForceUnlock(state::ForceUnlockArgs),
    /// Print the dependency graph of resource instances as DOT.
    Graph(graph::Args),
    /// Adopt an object made outside hive as ADDR.
    Import(import::Args),
    /// Log into an instance over SSH with hive's key, or run a command there (after --).
    Ssh(ssh::Args),
    /// Copy volumes kept in a store into it (only the chunks it does not have yet).
    Snapshot(snapshot::Args),
    /// Check the configuration's hosts: UP or DOWN and why, and their free capacity.
    Hosts(hosts::Args),
    /// Run the test files (*.hivetest.hcl): each against a state of its own, torn down after.
    Test(test::Args),
    /// Save, restore, list or delete checkpoints of every instance of the state.
    #[command(subcommand)]
    Checkpoint(checkpoint::Command),
    /// List what hive made on the hosts, whose it is and whether it is live, expired or
    /// orphaned; -reap removes what dead jobs left.
    Scan(scan::Args),
}

/// `-var` and `-var-file`, shared by every command that evaluates the configuration.
#[derive(Debug, clap::Args, Default)]
pub struct VarArgs {
    /// Set an input variable (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Read input variables from a file of NAME = VALUE lines (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
}

impl VarArgs {
    fn options(&self) -> VarOptions {
        VarOptions {
            vars: self.vars.clone(),
            var_files: self.var_files.clone(),
            env: std::env::vars().collect(),
            saved: Vec::new(),
        }
    }
}

/// What every command gets besides its own arguments.
pub struct Context {
    pub dir: PathBuf,
    pub color: bool,
    /// The providers this build has.
    pub registry: crate::engine::registry::Registry,
}

impl Context {
    /// Prints diagnostics on standard error, in color on a terminal.
    pub fn print_diagnostics(
        &self,
        diags: &crate::diag::Diagnostics,
        sources: &crate::diag::Sources,
    ) {
        if diags.is_empty() {
            return;
        }
        let style = if self.color {
            crate::render::diag::Style::Color
        } else {
            crate::render::diag::Style::Plain
        };
        eprint!(
            "{}",
            crate::render::diag::render_text(diags, sources, style)
        );
    }
}

pub fn main() -> ExitCode {
    let args = normalize_args(std::env::args_os().map(|a| a.to_string_lossy().into_owned()));
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let registry = match crate::engine::registry::Registry::standard() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: this build's providers do not fit together: {e}");
            return ExitCode::from(1);
        }
    };
    let registry = match debug_log::DebugLog::from_env() {
        Ok(None) => registry,
        Ok(Some(log)) => registry.logged(log),
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let ctx = Context {
        dir: cli.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        color: !cli.no_color
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stderr().is_terminal(),
        registry,
    };
    let code = match &cli.command {
        Command::Validate(args) => validate::run(&ctx, args),
        Command::Fmt(args) => fmt::run(&ctx, args),
        Command::Plan(args) => run::plan(&ctx, args),
        Command::Apply(args) => run::apply(&ctx, args, false),
        Command::Destroy(args) => run::apply(&ctx, args, true),
        Command::Show(args) => inspect::show(&ctx, args),
        Command::Output(args) => inspect::output(&ctx, args),
        Command::State(command) => state::run(&ctx, command),
        Command::ForceUnlock(args) => state::force_unlock(&ctx, args),
        Command::Graph(args) => graph::run_graph(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Ssh(args) => ssh::run(&ctx, args),
        Command::Snapshot(args) => snapshot::run(&ctx, args),
        Command::Hosts(args) => hosts::run(&ctx, args),
        Command::Test(args) => test::run(&ctx, args),
        Command::Checkpoint(command) => checkpoint::run(&ctx, command),
        Command::Scan(args) => scan::run(&ctx, args),
    };
    ExitCode::from(code)
}

/// Rewrites `-long-option` to `--long-option` for every long option hive knows, so Terraform
/// users' habits work; short options (`-C`) and values are left alone.
fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut longs = BTreeSet::new();
    collect_longs(&Cli::command(), &mut longs);
    let mut out = Vec::new();
    let mut after_double_dash = false;
    for arg in args {
        if after_double_dash {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        let rewritten = arg
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .and_then(|rest| {
                let name = rest.split('=').next().unwrap_or(rest);
                // hive's only short options are -C, -h and -V: any longer word is a long
                // option, so a mistyped one still gets clap's "did you mean".
                let is_long = longs.contains(name) || !name.starts_with('C');
                (name.len() > 1 && is_long).then(|| format!("--{rest}"))
            });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

fn collect_longs(cmd: &clap::Command, out: &mut BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            out.insert(long.to_string());
        }
    }
    for sub in cmd.get_subcommands() {
        collect_longs(sub, out);
    }
    out.insert("help".to_string());
    out.insert("version".to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_options_are_accepted() {
        let args = [
            "hive",
            "validate",
            "-json",
            "-var",
            "a=1",
            "-var-file=x",
            "-C",
            "d",
            "--",
            "-json",
        ];
        let out = normalize_args(args.iter().map(|s| s.to_string()));
        assert_eq!(
            out,
            [
                "hive",
                "validate",
                "--json",
                "--var",
                "a=1",
                "--var-file=x",
                "-C",
                "d",
                "--",
                "-json"
            ]
        );
    }
}
