//! Diagnostics: errors and warnings about the configuration, each pointing at a span of a source
//! file. They are data; `render::diag` turns them into text or JSON.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in [`Sources`].
pub type FileId = usize;

/// A source file as loaded: its name as shown to the user, and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, path: PathBuf, text: Arc<str>) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name,
            path,
            text,
            line_starts,
        }
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

/// Every file a command read, so diagnostics can quote them.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, name: String, path: &Path, text: Arc<str>) -> FileId {
        self.files
            .push(SourceFile::new(name, path.to_path_buf(), text));
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }
}

/// A byte range in one source file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, range }
    }

    /// The span covering `self` and `other` (same file).
    pub fn to(&self, other: &Span) -> Span {
        Span::new(
            self.file,
            self.range.start.min(other.range.start)..self.range.end.max(other.range.end),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// More about it: what was expected, what was found.
    pub detail: Option<String>,
    /// Where; `None` for problems that are not in a file (a bad `-var` flag).
    pub span: Option<Span>,
    /// The text under the underline.
    pub label: Option<String>,
    /// What to write instead.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            detail: None,
            span: None,
            label: None,
            help: None,
        }
    }

    pub fn warning(summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary)
        }
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Diagnostic {
        self.span = span.or(self.span);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Diagnostic {
        self.detail = Some(detail.into());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Diagnostic {
        self.help = help.or(self.help);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A collection of diagnostics from one command.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Keeps the first diagnostic at each place: the same mistake evaluated for every `count`
    /// instance is reported once, even when the message quotes the instance's value.
    /// Diagnostics without a place are kept unless their summary repeats.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.items.retain(|d| match &d.span {
            Some(s) => seen.insert((String::new(), Some((s.file, s.range.start, s.range.end)))),
            None => seen.insert((d.summary.clone(), None)),
        });
    }

    /// Replaces every occurrence of a secret in the diagnostics' texts with `(sensitive)`: a
    /// last line of defence for messages that quote a value.
    pub fn redact(&mut self, secrets: &[String]) {
        for d in &mut self.items {
            redact_text(&mut d.summary, secrets);
            for text in [&mut d.detail, &mut d.label, &mut d.help]
                .into_iter()
                .flatten()
            {
                redact_text(text, secrets);
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The largest character boundary of `text` at or before `offset`: parsers may report a
/// position inside a multi-byte character.
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The span of the one character at `offset` (empty at the end of the text).
pub fn char_span(file: FileId, text: &str, offset: usize) -> Span {
    let at = floor_char_boundary(text, offset);
    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    Span::new(file, at..end)
}

/// Replaces every occurrence of a secret in `text` with `(sensitive)`. Secrets shorter than
/// three characters are left alone: replacing them would garble messages and hide nothing.
pub fn redact_text(text: &mut String, secrets: &[String]) {
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        if text.contains(secret.as_str()) {
            *text = text.replace(secret.as_str(), "(sensitive)");
        }
    }
}

/// `Did you mean "x"?` for the candidate closest to `name`, if one is close enough to be a typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let best = candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)?;
    Some(format!("did you mean \"{}\"?", best.1))
}

/// Edit distance over characters where swapping two neighbours counts as one edit (the most
/// common typo: `lna` for `lan`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("a".into(), PathBuf::from("a"), Arc::from("ab\ncé d\n"));
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(7), (2, 4)); // after "cé " (é is two bytes)
        assert_eq!(f.line_col(999), (3, 1));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let names = ["cpus", "memory", "image"];
        assert_eq!(
            did_you_mean("cpu", names).as_deref(),
            Some("did you mean \"cpus\"?")
        );
        assert_eq!(
            did_you_mean("memroy", names).as_deref(),
            Some("did you mean \"memory\"?")
        );
        assert_eq!(did_you_mean("zzzzzz", names), None);
        assert_eq!(
            did_you_mean("lna", ["lan"]).as_deref(),
            Some("did you mean \"lan\"?")
        );
    }
}
