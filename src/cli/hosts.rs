//! `hive hosts [-json]`: each host UP or DOWN, why, and what it can take. Exits 1 when a host
//! is DOWN, so a pipeline can wait for its hosts.

use super::inspect::print_diagnostics;
use super::{Context, VarArgs};
use crate::ops::hosts::{check_hosts, HostReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the hosts as one JSON document.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    vars: VarArgs,
}

fn mib(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |m| format!("{m} MiB"))
}

fn json_of(report: &HostReport) -> serde_json::Value {
    let h = &report.health;
    serde_json::json!({
        "address": report.address,
        "reached_at": report.reached_at,
        "status": if h.up { "UP" } else { "DOWN" },
        "reason": h.reason,
        "memory_mib": h.memory_mib,
        "cpus": h.cpus,
        "disk_mib": h.disk_mib,
        "capacity_declared": h.declared,
    })
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let reports = match check_hosts(&ctx.dir, &ctx.registry, &args.vars.options()) {
        Ok(reports) => reports,
        Err(validated) => {
            print_diagnostics(ctx, &validated.diagnostics, &validated.sources);
            return 1;
        }
    };
    let down = reports.iter().filter(|r| !r.health.up).count();
    if args.json {
        let doc = serde_json::json!({ "hosts": reports.iter().map(json_of).collect::<Vec<_>>() });
        println!("{doc:#}");
    } else if reports.is_empty() {
        println!("The configuration declares no host.");
    } else {
        let width = reports.iter().map(|r| r.address.len()).max().unwrap_or(4);
        println!(
            "{:<width$}  {:<6}  {:<15}  {:>10}  {:>4}  {:>11}  REASON",
            "HOST", "STATUS", "AT", "MEMORY", "CPUS", "DISK"
        );
        for r in &reports {
            let h = &r.health;
            println!(
                "{:<width$}  {:<6}  {:<15}  {:>10}  {:>4}  {:>11}  {}{}",
                r.address,
                if h.up { "UP" } else { "DOWN" },
                r.reached_at,
                mib(h.memory_mib),
                h.cpus.map_or_else(|| "-".into(), |c| c.to_string()),
                mib(h.disk_mib),
                h.reason,
                if h.declared {
                    " (declared capacity)"
                } else {
                    ""
                }
            );
        }
    }
    u8::from(down > 0)
}
