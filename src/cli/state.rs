//! `hive state list | show | rm | mv` and `hive force-unlock`: state surgery, under the lock.

use super::inspect::print_diagnostics;
use super::Context;
use crate::ops::retag::{retag, tag_for, Retag};
use crate::ops::state::{locate, open_state, OpenState, StateSource};
use crate::render::plan::inline;
use hive_sdk::addr::Target;
use hive_sdk::value::tagged;
use hive_state::State;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum StateCommand {
    /// List the recorded objects (optionally only those matching ADDR).
    List { addresses: Vec<String> },
    /// Show one recorded object's attributes.
    Show { address: String },
    /// Forget objects: they stay in the backend, hive no longer manages them.
    Rm { addresses: Vec<String> },
    /// Rename a recorded object or resource (after renaming it in the configuration).
    Mv { from: String, to: String },
    /// Move the state to the backend the configuration now names (local or S3), from where
    /// the last command here kept it; the old copy is set aside, not deleted.
    Migrate,
}

pub fn run(ctx: &Context, command: &StateCommand) -> u8 {
    match run_inner(ctx, command) {
        Ok(()) => 0,
        Err(Some(e)) => {
            eprintln!("Error: {e}");
            1
        }
        Err(None) => 1,
    }
}

/// The state's backend, opened (locked for `command` when it writes).
fn open(ctx: &Context, command: Option<&str>) -> Result<OpenState, Option<String>> {
    let located = locate(&ctx.dir, &ctx.registry).map_err(|(sources, diags)| {
        print_diagnostics(ctx, &diags, &sources);
        None
    })?;
    open_state(
        &located.settings,
        &ctx.dir,
        &StateSource::Configured,
        command,
        Duration::ZERO,
    )
    .map_err(|d| Some(d.summary))
}

fn run_inner(ctx: &Context, command: &StateCommand) -> Result<(), Option<String>> {
    if let StateCommand::Migrate = command {
        return migrate(ctx);
    }
    let writes = matches!(command, StateCommand::Rm { .. } | StateCommand::Mv { .. });
    let name = match command {
        StateCommand::List { .. } => "hive state list",
        StateCommand::Show { .. } => "hive state show",
        StateCommand::Rm { .. } => "hive state rm",
        StateCommand::Mv { .. } => "hive state mv",
        StateCommand::Migrate => "hive state migrate",
    };
    let mut opened = open(ctx, writes.then_some(name))?;
    let mut state = opened
        .state
        .clone()
        .unwrap_or_else(|| State::new(String::new()));
    match command {
        StateCommand::List { addresses } => {
            let targets: Vec<Target> = addresses
                .iter()
                .map(|a| a.parse::<Target>())
                .collect::<Result<_, _>>()?;
            for object in state.resources.keys() {
                if targets.is_empty() || targets.iter().any(|t| t.matches(&object.instance)) {
                    println!("{object}");
                }
            }
        }
        StateCommand::Show { address } => {
            let r = address
                .parse::<hive_sdk::addr::InstanceAddr>()
                .ok()
                .and_then(|a| state.resource(&a))
                .ok_or_else(|| format!("no object {address} in the state"))?;
            println!("# {}", r.address);
            println!("  id     = {}", r.id.as_deref().unwrap_or("(none)"));
            if let Some(entries) = tagged::from_json(&r.attributes).as_map() {
                let width = entries.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in entries.iter().filter(|(_, v)| !v.is_null()) {
                    println!("  {k:<width$} = {}", inline(v));
                }
            }
        }
        StateCommand::Rm { addresses } => {
            let before = state.clone();
            let removed = crate::ops::state::remove(&mut state, addresses)?;
            // Untagged first: a removed object still tagged would be reaped by hive scan.
            let released: Vec<Retag<'_>> = removed
                .iter()
                .filter_map(|o| before.resources.get(o))
                .map(|record| Retag { record, tag: None })
                .collect();
            let location = opened.backend.location();
            let failed = retag(
                &ctx.registry,
                &ctx.dir,
                &before.lineage,
                &location,
                &released,
            );
            if !failed.is_empty() {
                return Err(Some(format!(
                    "nothing was removed: hive could not take its tag off {} (a tagged object no state records would be reaped by hive scan); fix that and try again",
                    failed.join("; ")
                )));
            }
            for o in &removed {
                println!("Removed {o}");
            }
            opened.backend.write(&state).map_err(|e| e.to_string())?;
            println!(
                "Removed {} object(s); they still exist in their backends.",
                removed.len()
            );
            if let Some(backup) = opened.backend.backup_location() {
                println!("The state before this change is kept in {backup}.");
            }
        }
        StateCommand::Migrate => {}
        StateCommand::Mv { from, to } => {
            let before = state.clone();
            let moved = crate::ops::state::rename(&mut state, from, to)?;
            opened.backend.write(&state).map_err(|e| e.to_string())?;
            for (f, t) in &moved {
                println!("Moved {f} to {t}");
            }
            let location = opened.backend.location();
            let items: Vec<Retag<'_>> = moved
                .iter()
                .flat_map(|(f, t)| {
                    before
                        .resources
                        .values()
                        .filter(move |r| &r.address == f)
                        .map(|record| Retag {
                            record,
                            tag: Some(tag_for(&before, &location, t)),
                        })
                })
                .collect();
            for failure in retag(&ctx.registry, &ctx.dir, &before.lineage, &location, &items) {
                eprintln!("Warning: re-tagging {failure}");
            }
            if let Some(backup) = opened.backend.backup_location() {
                println!("The state before this change is kept in {backup}.");
            }
        }
    }
    Ok(())
}

fn migrate(ctx: &Context) -> Result<(), Option<String>> {
    let located = locate(&ctx.dir, &ctx.registry).map_err(|(sources, diags)| {
        print_diagnostics(ctx, &diags, &sources);
        None
    })?;
    let moved = crate::ops::migrate::migrate(&ctx.dir, &located.settings.backend)?;
    println!(
        "Moved the state (serial {}, {} object(s)) from {} to {}.",
        moved.serial, moved.resources, moved.from, moved.to
    );
    println!("The old copy is kept at {}.", moved.kept);
    // Every object's tag names where its state now lives.
    let opened = open(ctx, None)?;
    if let Some(state) = &opened.state {
        let items: Vec<Retag<'_>> = state
            .resources
            .values()
            .map(|record| Retag {
                record,
                tag: Some(tag_for(state, &moved.to, &record.address)),
            })
            .collect();
        for failure in retag(&ctx.registry, &ctx.dir, &state.lineage, &moved.from, &items) {
            eprintln!("Warning: re-tagging {failure}");
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock ID, as the error about the stale lock gives it.
    id: String,
}

/// Opens the configured backend directly: a lock is removed where the configuration says,
/// even while the state is still recorded elsewhere (that check would refuse).
pub fn force_unlock(ctx: &Context, args: &ForceUnlockArgs) -> u8 {
    let opened = locate(&ctx.dir, &ctx.registry)
        .map_err(|(sources, diags)| {
            print_diagnostics(ctx, &diags, &sources);
            None
        })
        .and_then(|located| {
            hive_state::settings::open(&located.settings.backend, &ctx.dir).map_err(Some)
        });
    let mut backend = match opened {
        Ok(b) => b,
        Err(e) => {
            if let Some(e) = e {
                eprintln!("Error: opening the state: {e}");
            }
            return 1;
        }
    };
    match backend.force_unlock(&args.id) {
        Ok(info) => {
            println!("Removed the lock: {info}");
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}
