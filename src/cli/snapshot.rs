//! `hive snapshot ADDR...`

use super::{Context, VarArgs};
use crate::ops::apply::RunOptions;
use crate::ops::plan::PlanOptions;
use hive_sdk::addr::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to snapshot: a volume kept in a store, or a resource (each of its instances).
    #[arg(value_name = "ADDR", required = true)]
    addresses: Vec<String>,
    #[command(flatten)]
    vars: VarArgs,
    /// Wait this long for the state lock (e.g. 30s) instead of failing at once.
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    lock_timeout: String,
    /// Print one JSON object per snapshot instead of text.
    #[arg(long)]
    json: bool,
}

/// `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn chunks(n: usize) -> String {
    if n == 1 {
        "1 chunk".into()
    } else {
        format!("{n} chunks")
    }
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let targets: Result<Vec<Target>, String> =
        args.addresses.iter().map(|a| a.parse::<Target>()).collect();
    let lock_timeout = hive_sdk::units::parse_duration(&args.lock_timeout)
        .map_err(|e| format!("-lock-timeout: {e}"));
    let (targets, lock_timeout) = match (targets, lock_timeout) {
        (Ok(t), Ok(l)) => (t, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let options = RunOptions {
        plan: PlanOptions {
            vars: args.vars.options(),
            refresh: true,
            ..PlanOptions::default()
        },
        lock_timeout,
        command: "hive snapshot".into(),
        ..RunOptions::default()
    };
    let json = args.json;
    let progress = |address: &hive_sdk::addr::InstanceAddr, message: &str| {
        if !json {
            eprintln!("{address}: {message}...");
        }
    };
    let (result, snapshots) =
        crate::ops::snapshot::snapshot(&ctx.dir, &ctx.registry, &options, &targets, &progress);
    super::run::report_diagnostics(ctx, &result, &super::json_stream::JsonStream::off());
    if result.diagnostics.has_errors() {
        return 1;
    }
    let mut failed = false;
    for s in &snapshots {
        match &s.outcome {
            Ok(done) if json => println!(
                "{}",
                serde_json::json!({
                    "address": s.address.to_string(),
                    "location": done.location,
                    "size": done.size,
                    "chunks": done.chunks,
                    "chunks_sent": done.chunks_sent,
                    "bytes_sent": done.bytes_sent,
                    "pruned": done.pruned,
                    "consistency": done.consistency,
                    "warnings": done.warnings,
                })
            ),
            Ok(done) => {
                println!(
                    "{}: snapshot {} ({} in {}; sent {} in {} new; {})",
                    s.address,
                    done.location,
                    bytes(done.size),
                    chunks(done.chunks),
                    bytes(done.bytes_sent),
                    chunks(done.chunks_sent),
                    done.consistency
                );
                for warning in &done.warnings {
                    eprintln!("Warning: {}: {warning}", s.address);
                }
                if done.pruned > 0 {
                    println!(
                        "{}: {} older snapshot(s) removed (keep_snapshots)",
                        s.address, done.pruned
                    );
                }
            }
            Err(e) => {
                failed = true;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"address": s.address.to_string(), "error": e})
                    );
                } else {
                    eprintln!("Error: snapshotting {}: {e}", s.address);
                }
            }
        }
    }
    u8::from(failed)
}
