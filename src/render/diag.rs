//! Diagnostics as text (with the source line and the offending span underlined) or as JSON.

use crate::diag::{Diagnostic, Diagnostics, Severity, Sources};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde_json::json;
use std::fmt;

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

/// Renders every diagnostic, then nothing else: the caller prints the summary line.
pub fn render_text(diags: &Diagnostics, sources: &Sources, style: Style) -> String {
    let theme = match style {
        Style::Plain => GraphicalTheme::unicode_nocolor(),
        Style::Color => GraphicalTheme::unicode(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        // Break lines only at spaces: paths, fingerprints and commands stay copyable.
        .with_word_separator(textwrap::WordSeparator::Custom(words_between_spaces))
        .with_word_splitter(textwrap::WordSplitter::NoHyphenation)
        .with_break_words(false)
        .with_context_lines(1);
    let mut out = String::new();
    for d in &diags.items {
        let report = Report::new(d, sources);
        let mut text = String::new();
        if handler.render_report(&mut text, &report).is_err() {
            text = format!("{}: {}\n", severity_word(d.severity), d.summary);
        }
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// Words for the wrapper: split at spaces only. An empty line is one empty word, so it still
/// gets the report's left border.
fn words_between_spaces(line: &str) -> Box<dyn Iterator<Item = textwrap::core::Word<'_>> + '_> {
    if line.is_empty() {
        return Box::new(std::iter::once(textwrap::core::Word::from("")));
    }
    textwrap::WordSeparator::AsciiSpace.find_words(line)
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
    }
}

/// Position of a diagnostic as `file:line:col`, when it has one.
pub fn location(d: &Diagnostic, sources: &Sources) -> Option<String> {
    let span = d.span.as_ref()?;
    let file = sources.get(span.file)?;
    let (line, col) = file.line_col(span.range.start);
    Some(format!("{}:{line}:{col}", file.name))
}

/// Adapter from our diagnostic to miette's report interface.
struct Report {
    summary: String,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    label: Option<LabeledSpan>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &Sources) -> Report {
        let mut summary = format!("{}: {}", severity_word(d.severity), d.summary);
        let located = d
            .span
            .as_ref()
            .and_then(|s| sources.get(s.file).map(|f| (s, f)));
        if let Some((span, file)) = located {
            let (line, col) = file.line_col(span.range.start);
            summary = format!("{summary}\n  at {}:{line}:{col}", file.name);
        }
        if let Some(detail) = &d.detail {
            summary = format!("{summary}\n\n{detail}");
        }
        let (source, label) = match located {
            Some((span, file)) => {
                let len = file.text.len();
                let start = span.range.start.min(len);
                let end = span.range.end.clamp(start, len);
                (
                    Some(NamedSource::new(file.name.clone(), file.text.to_string())),
                    Some(LabeledSpan::new(d.label.clone(), start, end - start)),
                )
            }
            None => (None, None),
        };
        Report {
            summary,
            severity: d.severity,
            help: d.help.clone(),
            source,
            label,
        }
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
}

/// The JSON document of `hive validate -json` (the shape Terraform users' tools read).
pub fn to_json(diags: &Diagnostics, sources: &Sources) -> serde_json::Value {
    let items: Vec<serde_json::Value> = diags
        .items
        .iter()
        .map(|d| diagnostic_json(d, sources))
        .collect();
    json!({
        "format_version": "1.0",
        "valid": !diags.has_errors(),
        "error_count": diags.error_count(),
        "warning_count": diags.warning_count(),
        "diagnostics": items,
    })
}

pub fn diagnostic_json(d: &Diagnostic, sources: &Sources) -> serde_json::Value {
    let mut obj = json!({
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "summary": d.summary,
        "detail": d.detail.clone().unwrap_or_default(),
    });
    if let Some(help) = &d.help {
        obj["help"] = json!(help);
    }
    let located = d
        .span
        .as_ref()
        .and_then(|s| sources.get(s.file).map(|f| (s, f)));
    if let Some((span, file)) = located {
        let pos = |offset: usize| {
            let (line, column) = file.line_col(offset);
            json!({ "line": line, "column": column, "byte": offset })
        };
        obj["range"] = json!({
            "filename": file.name,
            "start": pos(span.range.start),
            "end": pos(span.range.end),
        });
        let (line, _) = file.line_col(span.range.start);
        let line_start = file.text[..span.range.start.min(file.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line_text = file.text[line_start..].lines().next().unwrap_or("");
        obj["snippet"] = json!({
            "code": line_text,
            "start_line": line,
            "highlight_start_offset": span.range.start.saturating_sub(line_start),
            "highlight_end_offset": span.range.end.saturating_sub(line_start).min(line_text.len()),
        });
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_break_only_at_spaces() {
        let path = "/tmp/.tmp3WdyTj/a-long-directory-name/another-long-part/known_hosts";
        let key = "SHA256:xy38d/UHnBc4iB9QFmG3uuEs9wC7mE++qHvvTVzlj5g";
        // Every prefix length, so some line end falls inside the path and the key.
        for pad in 0..60 {
            let mut diags = Diagnostics::default();
            diags.push(Diagnostic::error(format!(
                "{}unknown host key {key}: it is not in {path}; add it \
                 (ssh-keyscan -p 22 10.231.0.11 >> {path}) or pin it (host_key = \"{key}\")",
                "x".repeat(pad)
            )));
            let text = render_text(&diags, &Sources::default(), Style::Plain);
            assert!(text.lines().count() > 1, "wrapped at all: {text}");
            assert!(text.contains(path), "{text}");
            assert!(text.contains(key), "{text}");
        }
    }
}
