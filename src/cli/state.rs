//! `hive state list | show | rm | mv` and `hive force-unlock`: state surgery, under the lock.

use super::Context;
use crate::config::load_dir;
use crate::ops::state::{open_state, state_path};
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
}

fn path(ctx: &Context) -> Result<std::path::PathBuf, String> {
    let config = load_dir(&ctx.dir).ok().map(|(c, _)| c);
    state_path(&ctx.dir, config.as_ref()).map_err(|d| d.summary)
}

fn matches(target: &Target, address: &str) -> bool {
    crate::engine::apply::parse_instance(address).is_some_and(|a| target.matches(&a))
}

pub fn run(ctx: &Context, command: &StateCommand) -> u8 {
    match run_inner(ctx, command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

fn parse_targets(list: &[String]) -> Result<Vec<Target>, String> {
    list.iter().map(|a| a.parse::<Target>()).collect()
}

fn run_inner(ctx: &Context, command: &StateCommand) -> Result<(), String> {
    let path = path(ctx)?;
    let writes = matches!(command, StateCommand::Rm { .. } | StateCommand::Mv { .. });
    let name = match command {
        StateCommand::List { .. } => "hive state list",
        StateCommand::Show { .. } => "hive state show",
        StateCommand::Rm { .. } => "hive state rm",
        StateCommand::Mv { .. } => "hive state mv",
    };
    let opened = open_state(path, writes.then_some(name), Duration::ZERO).map_err(|d| d.summary)?;
    let mut state = opened
        .state
        .clone()
        .unwrap_or_else(|| State::new(String::new()));
    match command {
        StateCommand::List { addresses } => {
            let targets = parse_targets(addresses)?;
            for r in state.resources.values() {
                if targets.is_empty() || targets.iter().any(|t| matches(t, &r.address)) {
                    println!("{}", r.address);
                }
            }
        }
        StateCommand::Show { address } => {
            let r = state
                .resource(address)
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
            // Exact addresses (`command.a#deposed-…` too) or resource/instance targets.
            let (exact, patterns): (Vec<&String>, Vec<&String>) = addresses
                .iter()
                .partition(|a| state.resources.contains_key(*a));
            let targets: Vec<Target> = patterns
                .iter()
                .map(|a| a.parse::<Target>())
                .collect::<Result<_, _>>()?;
            let doomed: Vec<String> = state
                .resources
                .keys()
                .filter(|a| exact.contains(a) || targets.iter().any(|t| matches(t, a)))
                .cloned()
                .collect();
            if doomed.is_empty() {
                return Err(format!(
                    "nothing in the state matches {}",
                    addresses.join(", ")
                ));
            }
            for a in &doomed {
                state.remove(a);
                println!("Removed {a}");
            }
            state.serial += 1;
            opened
                .backend
                .write_snapshot(&state)
                .map_err(|e| e.to_string())?;
            println!(
                "Removed {} object(s); they still exist in their backends.",
                doomed.len()
            );
        }
        StateCommand::Mv { from, to } => {
            let from_t: Target = from.parse()?;
            let to_t: Target = to.parse()?;
            let moves: Vec<(String, String)> = match (&from_t, &to_t) {
                (Target::Instance(f), Target::Instance(t)) => vec![(f.to_string(), t.to_string())],
                // A resource without count or for_each is its one instance.
                (Target::Instance(f), Target::Resource(t)) => {
                    vec![(
                        f.to_string(),
                        t.instance(hive_sdk::addr::InstanceKey::None).to_string(),
                    )]
                }
                (Target::Resource(f), Target::Instance(t)) => {
                    vec![(
                        f.instance(hive_sdk::addr::InstanceKey::None).to_string(),
                        t.to_string(),
                    )]
                }
                (Target::Resource(f), Target::Resource(t)) => state
                    .resources
                    .keys()
                    .filter_map(|a| {
                        let inst = crate::engine::apply::parse_instance(a)?;
                        (&inst.resource == f).then(|| (a.clone(), t.instance(inst.key).to_string()))
                    })
                    .collect(),
            };
            if moves.is_empty() {
                return Err(format!("no object {from} in the state"));
            }
            for (f, t) in &moves {
                if state.resource(t).is_some() {
                    return Err(format!("{t} is already in the state"));
                }
                let Some(mut r) = state.remove(f) else {
                    continue;
                };
                if let Some(inst) = crate::engine::apply::parse_instance(t) {
                    r.kind = inst.resource.kind.clone();
                }
                r.address = t.clone();
                state.put(r);
                // What depended on the old address depends on the new one.
                for other in state.resources.values_mut() {
                    for dep in other.dependencies.iter_mut().filter(|d| *d == f) {
                        *dep = t.clone();
                    }
                }
                println!("Moved {f} to {t}");
            }
            state.serial += 1;
            opened
                .backend
                .write_snapshot(&state)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock ID, as the error about the stale lock gives it.
    id: String,
}

pub fn force_unlock(ctx: &Context, args: &ForceUnlockArgs) -> u8 {
    let path = match path(ctx) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let backend = hive_state::file::FileBackend::new(path);
    match hive_state::lock::force_unlock(&backend.lock_path(), &args.id) {
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
