//! `hive checkpoint save|restore|list|delete NAME`.

use super::Context;
use crate::ops::checkpoint;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Save every instance of the state together under NAME.
    Save { name: String },
    /// Put every instance back as NAME saved it (refused once the state changed).
    Restore { name: String },
    /// The checkpoints of this configuration's state.
    List,
    /// Remove a checkpoint from every instance.
    Delete { name: String },
}

pub fn run(ctx: &Context, command: &Command) -> u8 {
    let started = std::time::Instant::now();
    let place = checkpoint::Place::configured(&ctx.dir);
    let done = match command {
        Command::Save { name } => {
            checkpoint::save(&ctx.dir, &ctx.registry, &place, name).map(|s| {
                for (address, kept) in &s.instances {
                    println!("{address}: {kept}");
                }
                format!(
                    "Saved checkpoint {name}: {} instance(s) in {:.1}s.",
                    s.instances.len(),
                    started.elapsed().as_secs_f64()
                )
            })
        }
        Command::Restore { name } => checkpoint::restore(&ctx.dir, &ctx.registry, &place, name)
            .map(|s| {
                format!(
                    "Restored checkpoint {name}: {} instance(s) in {:.1}s.",
                    s.instances.len(),
                    started.elapsed().as_secs_f64()
                )
            }),
        Command::Delete { name } => checkpoint::delete(&ctx.dir, &ctx.registry, &place, name)
            .map(|()| format!("Deleted checkpoint {name}.")),
        Command::List => checkpoint::list(&place).map(|all| {
            all.iter()
                .map(|s| {
                    format!(
                        "{}  {}  serial {}  {} instance(s)",
                        s.name,
                        s.created,
                        s.serial,
                        s.instances.len()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
    };
    match done {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            0
        }
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}
