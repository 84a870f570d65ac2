//! `hive fmt [--check] [--diff] [FILES]`

use super::Context;
use crate::diag::{Diagnostics, Sources};
use crate::ops::fmt::{files_to_format, format_file};
use crate::render::diag::{render_text, Style};
use std::path::PathBuf;

/// Exit code of `--check` when some file is not formatted, as `terraform fmt -check` does.
const EXIT_NEEDS_FORMAT: u8 = 3;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Change nothing; list the files that are not formatted and exit 3 if there are any.
    #[arg(long)]
    check: bool,
    /// Print the changes as a unified diff.
    #[arg(long)]
    diff: bool,
    /// Files to format (default: every *.hive.hcl and *.hivevars.hcl file in the directory).
    files: Vec<PathBuf>,
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let style = if ctx.color {
        Style::Color
    } else {
        Style::Plain
    };
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let files = match files_to_format(&ctx.dir, &args.files) {
        Ok(files) => files,
        Err(d) => {
            diags.push(d);
            eprint!("{}", render_text(&diags, &sources, style));
            return 1;
        }
    };
    let mut unformatted = 0;
    for path in files {
        let result = match format_file(&path, &mut sources) {
            Ok(r) => r,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if !result.changed() {
            continue;
        }
        unformatted += 1;
        println!("{}", path.display());
        if args.diff {
            let name = path.display().to_string();
            let diff = similar::TextDiff::from_lines(&result.original, &result.formatted);
            print!(
                "{}",
                diff.unified_diff().context_radius(3).header(
                    &format!("{name} (original)"),
                    &format!("{name} (formatted)")
                )
            );
        }
        if !args.check {
            if let Err(e) = write_in_place(&path, &result.formatted) {
                diags.push(crate::diag::Diagnostic::error(format!(
                    "cannot write {}: {e}",
                    path.display()
                )));
            }
        }
    }
    if !diags.is_empty() {
        eprint!("{}", render_text(&diags, &sources, style));
    }
    if diags.has_errors() {
        1
    } else if args.check && unformatted > 0 {
        EXIT_NEEDS_FORMAT
    } else {
        0
    }
}

/// Replaces the file atomically, keeping its permissions.
fn write_in_place(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".hive-fmt.tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents)?;
    std::fs::set_permissions(&tmp, permissions)?;
    std::fs::rename(&tmp, path)
}
