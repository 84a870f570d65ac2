//! `hive import ADDR ID`

use super::{Context, VarArgs};
use crate::render::diag::{render_text, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to record it as (declared in the configuration), e.g. instance.web[0].
    address: String,
    /// The backend's id of the existing object (a domain name, a container name...).
    id: String,
    #[command(flatten)]
    vars: VarArgs,
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    match crate::ops::import::import(
        &ctx.dir,
        &ctx.registry,
        &args.address,
        &args.id,
        &args.vars.options(),
        &crate::ops::state::StateSource::Configured,
        std::time::Duration::ZERO,
    ) {
        Ok(address) => {
            println!(
                "Imported {} as {address}. The next plan compares it with its configuration.",
                args.id
            );
            0
        }
        Err(d) => {
            let mut diags = crate::diag::Diagnostics::default();
            diags.push(d);
            let style = if ctx.color {
                Style::Color
            } else {
                Style::Plain
            };
            eprint!("{}", render_text(&diags, &Default::default(), style));
            1
        }
    }
}
