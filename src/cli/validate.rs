//! `hive validate [-json]`

use super::{Context, VarArgs};
use crate::ops::validate::validate;
use crate::render::diag::{render_text, to_json, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as one JSON document.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    vars: VarArgs,
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let result = validate(&ctx.dir, &ctx.registry, &args.vars.options());
    let diags = &result.diagnostics;
    if args.json {
        println!("{:#}", to_json(diags, &result.sources));
    } else {
        let style = if ctx.color {
            Style::Color
        } else {
            Style::Plain
        };
        eprint!("{}", render_text(diags, &result.sources, style));
        if diags.has_errors() {
            let n = diags.error_count();
            eprintln!(
                "The configuration is not valid: {n} error{}.",
                if n == 1 { "" } else { "s" }
            );
        } else {
            println!("Success! The configuration is valid.");
        }
    }
    let code = u8::from(diags.has_errors());
    // The process ends here: freeing a large configuration piece by piece only costs time.
    std::mem::forget(result);
    code
}
