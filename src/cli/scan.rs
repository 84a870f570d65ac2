//! `hive scan [-json] [-host H] [-reap [-auto-approve]]`: what hive made on the hosts, whose
//! it is, and whether it is live, expired or orphaned; `-reap` removes the orphans and
//! destroys the expired states. Exits 1 when something could not be scanned or reaped.

use super::inspect::print_diagnostics;
use super::{Context, VarArgs};
use crate::ops::reap::{reap, ReapReport};
use crate::ops::scan::{scan, ScanOptions, ScanReport, Scanned, Status};
use hive_state::lock::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print what was found (and reaped) as one JSON document.
    #[arg(long)]
    json: bool,
    /// Also scan this host, which the configuration does not declare: [USER@]ADDRESS[:PORT]
    /// (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// The private key for -host hosts (default: the SSH agent).
    #[arg(long = "ssh-key", value_name = "FILE")]
    ssh_key: Option<std::path::PathBuf>,
    /// Where -host hosts' keys are checked (default: ~/.ssh/known_hosts).
    #[arg(long = "known-hosts", value_name = "FILE")]
    known_hosts: Option<std::path::PathBuf>,
    /// Remove the orphaned objects and destroy the expired states (through the state).
    #[arg(long)]
    reap: bool,
    /// Reap without asking.
    #[arg(long = "auto-approve")]
    auto_approve: bool,
    /// Wait this long for a state's lock while reaping (e.g. 30s).
    #[arg(long = "lock-timeout", value_name = "DURATION", default_value = "0s")]
    lock_timeout: String,
    #[command(flatten)]
    vars: VarArgs,
}

fn when(expires: Option<u64>) -> String {
    expires.map_or_else(|| "-".into(), rfc3339)
}

fn json_of(report: &ScanReport, o: &Scanned) -> serde_json::Value {
    serde_json::json!({
        "host": report.hosts[o.host].name,
        "driver": o.driver,
        "kind": o.found.kind,
        "name": o.found.name,
        "address": o.found.tag.address,
        "lineage": o.found.tag.lineage,
        "state": o.found.tag.state,
        "expires": o.expires.map(rfc3339),
        "status": o.status.word(),
        "reason": o.reason,
    })
}

fn print_table(report: &ScanReport) {
    if report.objects.is_empty() {
        println!("No hive-made objects on {}.", host_names(report));
        return;
    }
    let rows: Vec<[String; 8]> = report
        .objects
        .iter()
        .map(|o| {
            [
                report.hosts[o.host].name.clone(),
                o.found.kind.clone(),
                o.found.name.clone(),
                o.found.tag.address.clone(),
                o.status.word().to_string(),
                when(o.expires),
                o.found.tag.lineage.chars().take(8).collect(),
                o.found.tag.state.clone(),
            ]
        })
        .collect();
    let heads = [
        "HOST", "KIND", "NAME", "ADDRESS", "STATUS", "EXPIRES", "LINEAGE", "STATE",
    ];
    let widths: Vec<usize> = (0..heads.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([heads[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        println!("{}", text.trim_end());
    };
    line(&heads);
    for (row, o) in rows.iter().zip(&report.objects) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
        if !o.reason.is_empty() {
            println!("    {}", o.reason);
        }
    }
    let count = |s: Status| report.objects.iter().filter(|o| o.status == s).count();
    println!(
        "\n{} object{} on {}: {} live, {} expired, {} orphaned, {} unknown, {} kept.",
        report.objects.len(),
        if report.objects.len() == 1 { "" } else { "s" },
        host_names(report),
        count(Status::Live),
        count(Status::Expired),
        count(Status::Orphaned),
        count(Status::Unknown),
        count(Status::Kept)
    );
}

fn host_names(report: &ScanReport) -> String {
    report
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_reaped(report: &ScanReport, reaped: &ReapReport) {
    let name = |i: usize| {
        let o = &report.objects[i];
        format!(
            "{} {} ({}, {})",
            o.found.kind, o.found.name, o.found.tag.address, report.hosts[o.host].name
        )
    };
    for &i in &reaped.removed {
        println!("Removed {}", name(i));
    }
    for (i, why) in &reaped.busy {
        println!("Left {}: {why}", name(*i));
    }
    for (location, result) in &reaped.destroyed {
        match result {
            Ok(n) => println!("Destroyed the expired state {location}: {n} object(s)"),
            Err(e) => eprintln!("Error: destroying the expired state {location}: {e}"),
        }
    }
    for (i, why) in &reaped.failed {
        eprintln!("Error: removing {}: {why}", name(*i));
    }
    println!(
        "\nReaped: {} removed, {} state(s) destroyed, {} failed, {} left busy.",
        reaped.removed.len(),
        reaped.destroyed.iter().filter(|(_, r)| r.is_ok()).count(),
        reaped.failed.len() + reaped.destroyed.iter().filter(|(_, r)| r.is_err()).count(),
        reaped.busy.len()
    );
}

fn json_of_reaped(report: &ScanReport, reaped: &ReapReport) -> serde_json::Value {
    let object = |i: usize| json_of(report, &report.objects[i]);
    serde_json::json!({
        "removed": reaped.removed.iter().map(|&i| object(i)).collect::<Vec<_>>(),
        "failed": reaped.failed.iter().map(|(i, why)| serde_json::json!({"object": object(*i), "error": why})).collect::<Vec<_>>(),
        "busy": reaped.busy.iter().map(|(i, why)| serde_json::json!({"object": object(*i), "reason": why})).collect::<Vec<_>>(),
        "destroyed": reaped.destroyed.iter().map(|(location, r)| match r {
            Ok(n) => serde_json::json!({"state": location, "objects": n}),
            Err(e) => serde_json::json!({"state": location, "error": e}),
        }).collect::<Vec<_>>(),
    })
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let lock_timeout = match hive_sdk::units::parse_duration(&args.lock_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: -lock-timeout: {e}");
            return 1;
        }
    };
    if args.auto_approve && !args.reap {
        eprintln!("Error: -auto-approve goes with -reap");
        return 1;
    }
    let options = ScanOptions {
        vars: args.vars.options(),
        hosts: args.hosts.clone(),
        ssh_key: args.ssh_key.clone(),
        known_hosts: args.known_hosts.clone(),
    };
    let report = match scan(&ctx.dir, &ctx.registry, &options) {
        Ok(report) => report,
        Err(validated) => {
            print_diagnostics(ctx, &validated.diagnostics, &validated.sources);
            return 1;
        }
    };
    if !args.json {
        print_table(&report);
        for problem in &report.problems {
            eprintln!("Warning: {problem}");
        }
    }
    let mut reaped = None;
    let reapable = report.reapable().count();
    if args.reap && reapable > 0 {
        let approved = args.auto_approve
            || {
                if args.json {
                    eprintln!("Error: -reap with -json needs -auto-approve");
                    return 1;
                }
                super::run::ask_yes(&format!(
                "Do you want to reap {reapable} object{}?\n  hive will remove the orphaned objects and destroy the expired states listed above.",
                if reapable == 1 { "" } else { "s" }
            ))
            };
        if !approved {
            println!("Reap cancelled.");
            return 1;
        }
        let done = reap(&report, &ctx.registry, lock_timeout);
        if !args.json {
            print_reaped(&report, &done);
        }
        reaped = Some(done);
    } else if args.reap && !args.json {
        println!("Nothing to reap.");
    }
    if args.json {
        let mut doc = serde_json::json!({
            "hosts": report.hosts.iter().map(|h| h.name.clone()).collect::<Vec<_>>(),
            "objects": report.objects.iter().map(|o| json_of(&report, o)).collect::<Vec<_>>(),
            "problems": report.problems,
        });
        if let Some(done) = &reaped {
            doc["reaped"] = json_of_reaped(&report, done);
        }
        println!("{doc:#}");
    }
    let reap_failed = reaped.as_ref().is_some_and(|r| {
        !r.failed.is_empty() || !r.busy.is_empty() || r.destroyed.iter().any(|(_, d)| d.is_err())
    });
    u8::from(!report.problems.is_empty() || reap_failed)
}
