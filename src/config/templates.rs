//! Corrections to template literals as the parser leaves them, made once after parsing so the
//! evaluator sees what HCL means:
//!
//! - `<<-` heredocs lose the indent that *every* non-blank line has (the parser computes it
//!   from some lines only and may cut into text), and lines inside `%{ }` directives lose it
//!   too;
//! - in quoted strings, escapes (`\n`, `\"`, `\u00e9`...) inside `%{ }` directives are
//!   decoded, as they are everywhere else in the string.
//!
//! Literals are rebuilt from the source text, so their spans stay true.

use hcl_edit::expr::Expression;
use hcl_edit::template::{Directive, HeredocTemplate, StringTemplate};
use hcl_edit::visit_mut::{self, VisitMut};
use hcl_edit::{Span, Spanned};

/// Applies the corrections to every template in a parsed file.
pub fn normalize(body: &mut hcl_edit::structure::Body, text: &str) {
    let mut fixer = Fixer {
        text,
        mode: Mode::Plain,
    };
    fixer.visit_body_mut(body);
}

#[derive(Clone, Copy)]
enum Mode {
    /// Literals are right as parsed.
    Plain,
    /// Inside a `<<-` heredoc whose lines lose `indent` leading blanks; `body_start` is the
    /// offset of its first line.
    Heredoc { indent: usize, body_start: usize },
    /// Directly in a quoted string: the parser decoded these literals.
    Quoted,
    /// Inside a directive of a quoted string: escapes still to decode.
    QuotedDirective,
}

struct Fixer<'t> {
    text: &'t str,
    mode: Mode,
}

impl Fixer<'_> {
    fn with_mode(&mut self, mode: Mode, f: impl FnOnce(&mut Self)) {
        let outer = std::mem::replace(&mut self.mode, mode);
        f(self);
        self.mode = outer;
    }

    fn raw(&self, literal: &Spanned<String>) -> Option<(usize, &str)> {
        let span = literal.span()?;
        Some((span.start, self.text.get(span)?))
    }
}

impl VisitMut for Fixer<'_> {
    fn visit_expr_mut(&mut self, node: &mut Expression) {
        // An expression inside a template has literals of its own.
        self.with_mode(Mode::Plain, |this| visit_mut::visit_expr_mut(this, node));
    }

    fn visit_string_template_mut(&mut self, node: &mut StringTemplate) {
        self.with_mode(Mode::Quoted, |this| {
            visit_mut::visit_string_template_mut(this, node)
        });
    }

    fn visit_directive_mut(&mut self, node: &mut Directive) {
        let mode = match self.mode {
            Mode::Quoted => Mode::QuotedDirective,
            other => other,
        };
        self.with_mode(mode, |this| visit_mut::visit_directive_mut(this, node));
    }

    fn visit_heredoc_template_mut(&mut self, node: &mut HeredocTemplate) {
        let mode = node
            .span()
            .and_then(|span| flush_heredoc_indent(self.text, span))
            .map_or(Mode::Plain, |(indent, body_start)| Mode::Heredoc {
                indent,
                body_start,
            });
        self.with_mode(mode, |this| {
            visit_mut::visit_heredoc_template_mut(this, node)
        });
    }

    fn visit_literal_mut(&mut self, node: &mut Spanned<String>) {
        let fixed = match (self.mode, self.raw(node)) {
            (Mode::Heredoc { indent, body_start }, Some((start, raw))) => {
                let at_line_start = start == body_start || self.text[..start].ends_with('\n');
                dedent(&unescape_template_markers(raw), indent, at_line_start)
            }
            (Mode::QuotedDirective, Some((_, raw))) => unescape_quoted(raw),
            _ => return,
        };
        **node = fixed;
    }
}

/// For a `<<-` heredoc spanning `span`: the indent every non-blank line of its body has, and
/// where the body starts. `None` for a `<<` heredoc.
fn flush_heredoc_indent(text: &str, span: std::ops::Range<usize>) -> Option<(usize, usize)> {
    let whole = text.get(span.clone())?;
    if !whole.starts_with("<<-") {
        return None;
    }
    let body_start = span.start + whole.find('\n')? + 1;
    // The last line holds the closing delimiter.
    let body_end = span.start + whole.rfind('\n')? + 1;
    let body = text.get(body_start..body_end.max(body_start))?;
    let indent = body
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    Some((indent, body_start))
}

/// Removes up to `indent` leading blanks from each line; the first line only if it starts a
/// line of the source.
fn dedent(raw: &str, indent: usize, at_line_start: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if i > 0 || at_line_start {
            let blanks = line.len() - line.trim_start_matches([' ', '\t']).len();
            out.push_str(&line[blanks.min(indent)..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `$${` and `%%{` stand for a literal `${` and `%{` in any template.
fn unescape_template_markers(raw: &str) -> String {
    raw.replace("$${", "${").replace("%%{", "%{")
}

/// Decodes the escapes of a quoted string. An escape that is not valid is kept as written
/// (the parser reports those elsewhere).
fn unescape_quoted(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && raw_follows(&mut chars, "${") {
            out.push_str("${");
            continue;
        }
        if c == '%' && raw_follows(&mut chars, "%{") {
            out.push_str("%{");
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(u @ ('u' | 'U')) => {
                let width = if u == 'u' { 4 } else { 8 };
                let digits: String = chars.clone().take(width).collect();
                match u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(decoded) if digits.len() == width => {
                        out.push(decoded);
                        for _ in 0..width {
                            chars.next();
                        }
                    }
                    _ => {
                        out.push('\\');
                        out.push(u);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Consumes `rest` from `chars` if it comes next (after the character already taken).
fn raw_follows(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, rest: &str) -> bool {
    let mut probe = chars.clone();
    if rest.chars().all(|c| probe.next() == Some(c)) {
        *chars = probe;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_keeps_text_and_strips_only_blanks() {
        assert_eq!(dedent("    a\n  b\n", 2, true), "  a\nb\n");
        assert_eq!(dedent("x\n    y", 4, false), "x\ny");
        assert_eq!(dedent("#!/bin/sh", 4, true), "#!/bin/sh");
    }

    #[test]
    fn quoted_escapes_decode() {
        assert_eq!(
            unescape_quoted(r#"a\nb\t\"c\"\\ \u00e9 $${x} %%{y}"#),
            "a\nb\t\"c\"\\ é ${x} %{y}"
        );
        assert_eq!(unescape_quoted(r"\q \u12"), r"\q \u12");
    }
}
