//! `hive fmt`: which files are not in canonical form, and what they would become.

use crate::config::fmt::format_source;
use crate::diag::{char_span, Diagnostic, Sources, Span};
use std::path::{Path, PathBuf};

pub struct FileResult {
    pub path: PathBuf,
    pub original: String,
    pub formatted: String,
}

impl FileResult {
    pub fn changed(&self) -> bool {
        self.original != self.formatted
    }
}

/// The files `hive fmt` works on: the ones named, or every `*.hive.hcl` and `*.hivevars.hcl`
/// file in `dir`.
pub fn files_to_format(dir: &Path, named: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostic> {
    if !named.is_empty() {
        return Ok(named.to_vec());
    }
    crate::config::files_with_suffix(dir, &[".hive.hcl", ".hivevars.hcl"])
}

/// Formats one file's contents; a file that cannot be tokenised is an error at its position.
pub fn format_file(path: &Path, sources: &mut Sources) -> Result<FileResult, Diagnostic> {
    let name = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| Diagnostic::error(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > crate::config::MAX_FILE_SIZE {
        return Err(Diagnostic::error(format!("{name} is too large to format")));
    }
    let original = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let span = char_span(0, &lossy, at);
        let file = sources.add(name.clone(), path, lossy.into());
        Diagnostic::error(format!("{name} is not valid UTF-8")).at(Span::new(file, span.range))
    })?;
    let formatted = format_source(&original).map_err(|e| {
        let file = sources.add(name.clone(), path, original.clone().into());
        Diagnostic::error(format!("cannot format {name}: {}", e.message))
            .at(char_span(file, &original, e.offset))
    })?;
    Ok(FileResult {
        path: path.to_path_buf(),
        original,
        formatted,
    })
}
