//! `hive graph [-plan]`: the dependency graph of resource instances as DOT.

use super::{Context, VarArgs};
use crate::engine::Silent;
use crate::ops::apply::{run, RunOptions, Then};
use crate::ops::plan::PlanOptions;
use crate::ops::validate::validate;
use crate::render::diag::{render_text, Style};
use crate::render::graph::render_dot;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Make a plan and show each instance's planned action.
    #[arg(long)]
    plan: bool,
    #[command(flatten)]
    vars: VarArgs,
}

pub fn run_graph(ctx: &Context, args: &Args) -> u8 {
    let style = if ctx.color {
        Style::Color
    } else {
        Style::Plain
    };
    if args.plan {
        let options = RunOptions {
            plan: PlanOptions {
                vars: args.vars.options(),
                refresh: true,
                ..PlanOptions::default()
            },
            command: "hive graph -plan".into(),
            ..RunOptions::default()
        };
        let result = run(&ctx.dir, &ctx.registry, &options, Then::Stop, &mut Silent);
        if result.diagnostics.has_errors() {
            eprint!(
                "{}",
                render_text(&result.diagnostics, &result.sources, style)
            );
            return 1;
        }
        let Some(plan) = result.plan else { return 1 };
        let nodes: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.object().to_string(), Some(c.action)))
            .collect();
        let edges: Vec<_> = plan
            .changes
            .iter()
            .flat_map(|c| {
                c.dependencies
                    .iter()
                    .map(|d| (c.object().to_string(), d.to_string()))
            })
            .collect();
        print!("{}", render_dot(&nodes, &edges));
        return 0;
    }
    let result = validate(&ctx.dir, &ctx.registry, &args.vars.options());
    if result.diagnostics.has_errors() {
        eprint!(
            "{}",
            render_text(&result.diagnostics, &result.sources, style)
        );
        return 1;
    }
    let Some(evaluated) = result.evaluated else {
        return 1;
    };
    let instances = evaluated.instances();
    let nodes: Vec<_> = instances
        .iter()
        .map(|(a, _)| (a.to_string(), None))
        .collect();
    let mut edges = Vec::new();
    for (addr, _) in &instances {
        for dep in evaluated
            .resource_deps
            .get(&addr.resource)
            .into_iter()
            .flatten()
        {
            for (other, _) in instances.iter().filter(|(o, _)| &o.resource == dep) {
                edges.push((addr.to_string(), other.to_string()));
            }
        }
    }
    print!("{}", render_dot(&nodes, &edges));
    0
}
