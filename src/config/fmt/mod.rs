//! Canonical formatting of configuration files (what `hive fmt` does).
//!
//! The formatter never parses HCL into a tree: it tokenizes the source with a
//! small lossless lexer ([`lexer`]) and rebuilds the text line by line, only
//! changing the whitespace between tokens, the indentation of lines, and the
//! number of blank lines. Line breaks inside expressions are never added or
//! removed (newlines are significant in HCL bodies). Everything runs in linear
//! time and without recursion, so arbitrarily nested or unbalanced input is
//! safe.
//!
//! Rules, in short:
//! * indentation: two spaces per level of brackets `{ [ (` carried over from
//!   previous lines, where all brackets opened on one line count as one level
//!   (`foo({` ... `})` indents its body once); a line starting with a closing
//!   bracket is indented like the line that opened that bracket;
//! * canonical spacing between tokens (operators, commas, brackets, unary
//!   operators, splats, for-expressions, block labels, comments);
//! * `=` alignment within runs of consecutive attribute lines;
//! * blank lines collapsed, removed after an opening / before a closing
//!   bracket, and one blank line between top-level items;
//! * no trailing whitespace, LF line endings, exactly one final newline.
//!
//! Heredoc bodies, quoted strings and comment text are kept byte-for-byte.

mod lexer;
#[cfg(test)]
mod tests;

use lexer::{Kind, Token};
use std::fmt;

/// An error returned when the input cannot be tokenised.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    /// What went wrong, e.g. `unterminated string`.
    pub message: String,
    /// Byte offset in the input where the offending token starts.
    pub offset: usize,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.message, self.offset)
    }
}

impl std::error::Error for FormatError {}

/// Checks that the source splits into HCL tokens: every string, heredoc and block comment is
/// closed (a quoted string may not run past the end of its line). The configuration loader
/// runs this too, so `hive validate` and `hive fmt` agree on what is well-formed.
pub fn lexical_check(src: &str) -> Result<(), FormatError> {
    lexer::lex(src.strip_prefix('\u{feff}').unwrap_or(src)).map(|_| ())
}

/// Formats HCL source into canonical form. Returns Err with a message and a byte offset if the input cannot be tokenised (unterminated string, heredoc or block comment); never panics on any input.
pub fn format_source(src: &str) -> Result<String, FormatError> {
    // A leading byte order mark is kept as is (and not treated as a token).
    const BOM: &str = "\u{feff}";
    match src.strip_prefix(BOM) {
        Some(rest) => format_body(rest)
            .map(|formatted| BOM.to_string() + &formatted)
            .map_err(|e| FormatError {
                offset: e.offset + BOM.len(),
                ..e
            }),
        None => format_body(src),
    }
}

fn format_body(src: &str) -> Result<String, FormatError> {
    let tokens = lexer::lex(src)?;
    let lines = Builder::new(src, &tokens).build();
    Ok(render(&lines, src.len()))
}

/// The syntactic role of a token, as far as spacing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Open(u8),
    Close(u8),
    Comma,
    Dot,
    Ellipsis,
    DoubleColon,
    /// Binary/infix operators, including `=`, `?`, `:` and `=>`.
    Binary,
    /// Prefix `-` or `!`.
    Unary,
    /// `*` in `[*]` or `.*`.
    Splat,
    /// `for`, `in`, `if` inside a for-expression.
    Keyword,
    Ident,
    Number,
    Str,
    /// Heredocs and unknown characters.
    Operand,
    Comment,
}

impl Role {
    /// Whether an expression can end with this token (so that a following `-`
    /// is binary rather than unary).
    fn ends_operand(self) -> bool {
        matches!(
            self,
            Role::Ident
                | Role::Number
                | Role::Str
                | Role::Operand
                | Role::Close(_)
                | Role::Splat
                | Role::Ellipsis
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForState {
    /// Not a for-expression.
    None,
    /// After `for`, before `in`.
    Header,
    /// After `in`, before the `:`.
    Collection,
    /// After the `:`.
    Body,
}

/// One open bracket, tracked for for-expression keyword detection.
struct Frame {
    open: u8,
    /// No significant token has been seen inside the bracket yet.
    fresh: bool,
    state: ForState,
    /// `?` seen in the for-expression whose `:` is still pending.
    pending_conditionals: usize,
}

/// A logical line (tokens between two newlines), rendered without indentation.
#[derive(Debug, Default)]
struct Line {
    /// Rendered tokens; empty for a blank line.
    text: String,
    blank: bool,
    /// Indentation level (two spaces each).
    indent: usize,
    /// The line holds only comments.
    comment_only: bool,
    /// The first token is a closing bracket.
    starts_close: bool,
    /// The last non-comment token is an opening bracket.
    ends_open: bool,
    /// For an attribute line (`key = ...`): byte length and display width of the key.
    key: Option<(usize, usize)>,
    /// The line leaves brackets open or contains a multi-line token, so an
    /// alignment run ends after it.
    ends_run: bool,
    /// The line starts a top-level item (block or attribute).
    item_start: bool,
    /// The line is a complete single-line top-level attribute.
    single_attr: bool,
    /// Where a trailing line comment (`# ...`, `// ...`) after code starts in `text`: such
    /// comments line up within a run of aligned attributes, as `terraform fmt` does.
    trailing_comment: Option<usize>,
}

/// An open bracket, for indentation.
struct OpenBracket {
    /// Indentation level of the line that opened the bracket.
    base: usize,
    /// Index of that line.
    line: usize,
}

struct Builder<'a> {
    src: &'a str,
    tokens: &'a [Token],
    /// Open brackets, for for-expression tracking.
    frames: Vec<Frame>,
    /// Open brackets, with the indentation of the line that opened them.
    indents: Vec<OpenBracket>,
    /// Index of the line being built.
    line_no: usize,
    /// Role of the previous significant (non-comment) token, across lines.
    prev_sig: Option<Role>,
    /// Scratch buffer for token merge checks.
    scratch: String,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str, tokens: &'a [Token]) -> Self {
        Builder {
            src,
            tokens,
            frames: Vec::new(),
            indents: Vec::new(),
            line_no: 0,
            prev_sig: None,
            scratch: String::new(),
        }
    }

    fn text(&self, token: Token) -> &'a str {
        self.src.get(token.start..token.end).unwrap_or("")
    }

    fn bracket(&self, token: Token) -> Option<(bool, u8)> {
        if token.kind != Kind::Punct {
            return None;
        }
        match self.text(token).as_bytes() {
            [b @ (b'(' | b'[' | b'{')] => Some((true, *b)),
            [b @ (b')' | b']' | b'}')] => Some((false, *b)),
            _ => None,
        }
    }

    fn is_open(&self, token: Token) -> bool {
        matches!(self.bracket(token), Some((true, _)))
    }

    fn is_close(&self, token: Token) -> bool {
        matches!(self.bracket(token), Some((false, _)))
    }

    fn is_comment(token: Token) -> bool {
        matches!(token.kind, Kind::LineComment | Kind::BlockComment)
    }

    /// The next token after index `i` that is not a comment or newline.
    fn next_significant(&self, i: usize) -> Option<Token> {
        self.tokens
            .get(i + 1..)?
            .iter()
            .copied()
            .find(|t| !Self::is_comment(*t) && t.kind != Kind::Newline)
    }

    fn build(mut self) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut i = 0;
        loop {
            let start = i;
            while self.tokens.get(i).is_some_and(|t| t.kind != Kind::Newline) {
                i += 1;
            }
            lines.push(self.line(start, i));
            self.line_no += 1;
            if i >= self.tokens.len() {
                break;
            }
            i += 1;
        }
        lines
    }

    /// Builds the line made of tokens `start..end`.
    fn line(&mut self, start: usize, end: usize) -> Line {
        let tokens = self.tokens;
        let toks = tokens.get(start..end).unwrap_or_default();
        if toks.is_empty() {
            return Line {
                blank: true,
                ..Line::default()
            };
        }

        // Indentation: a line starting with a closing bracket is indented like
        // the line that opened that bracket; any other line one level deeper
        // than the line that opened the innermost open bracket.
        let top_level = self.indents.is_empty();
        let first_closes = self.is_close(toks[0]);
        let indent = match self.indents.last() {
            Some(open) if first_closes => open.base,
            Some(open) => open.base + 1,
            None => 0,
        };
        for &t in toks {
            if self.is_open(t) {
                self.indents.push(OpenBracket {
                    base: indent,
                    line: self.line_no,
                });
            } else if self.is_close(t) {
                self.indents.pop();
            }
        }
        let leaves_open = self
            .indents
            .last()
            .is_some_and(|open| open.line == self.line_no);

        // Spacing.
        let mut text = String::new();
        let mut prev: Option<(Role, Token)> = None;
        let mut multiline = false;
        let mut last_code: Option<Role> = None;
        let mut first_code: Option<Token> = None;
        let mut trailing_comment = None;
        for (j, &t) in toks.iter().enumerate() {
            let idx = start + j;
            let role = self.classify(idx);
            if let Some((prev_role, prev_tok)) = prev {
                let next_is_number = toks.get(j + 1).is_some_and(|n| n.kind == Kind::Number);
                if space_between(prev_role, role, next_is_number) || self.would_merge(prev_tok, t) {
                    text.push(' ');
                }
            }
            let last = j + 1 == toks.len();
            if role == Role::Comment && last && first_code.is_some() {
                let body = self.text(t);
                if body.starts_with('#') || body.starts_with("//") {
                    trailing_comment = Some(text.len());
                }
            }
            multiline |= push_token(&mut text, t.kind, self.text(t));
            if role != Role::Comment {
                last_code = Some(role);
                first_code.get_or_insert(t);
            }
            prev = Some((role, t));
        }

        let key = match toks {
            [k, eq, ..]
                if matches!(k.kind, Kind::Ident | Kind::Str)
                    && eq.kind == Kind::Punct
                    && self.text(*eq) == "=" =>
            {
                let key_text = self.text(*k);
                (!key_text.contains('\n')).then(|| (key_text.len(), key_text.chars().count()))
            }
            _ => None,
        };
        let item_start = top_level && first_code.is_some_and(|t| !self.is_close(t));
        let ends_run = leaves_open || multiline;
        Line {
            text,
            blank: false,
            indent,
            comment_only: first_code.is_none(),
            starts_close: first_closes,
            ends_open: matches!(last_code, Some(Role::Open(_))),
            key,
            ends_run,
            item_start,
            single_attr: item_start && key.is_some() && self.indents.is_empty() && !multiline,
            trailing_comment,
        }
    }

    /// Determines the role of token `idx` and updates the bracket/for state.
    fn classify(&mut self, idx: usize) -> Role {
        let Some(&token) = self.tokens.get(idx) else {
            return Role::Operand;
        };
        let text = self.text(token);
        let prev = self.prev_sig;
        let fresh = self.frames.last().is_some_and(|f| f.fresh);
        let state = self.frames.last().map_or(ForState::None, |f| f.state);
        if let Some(frame) = self.frames.last_mut() {
            if !matches!(token.kind, Kind::LineComment | Kind::BlockComment) {
                frame.fresh = false;
            }
        }
        let after_dot = prev == Some(Role::Dot);
        let role = match token.kind {
            Kind::LineComment | Kind::BlockComment | Kind::Newline => return Role::Comment,
            Kind::Number => Role::Number,
            Kind::Str => Role::Str,
            Kind::Heredoc | Kind::Other => Role::Operand,
            Kind::Ident => {
                let next_is_ident = self
                    .next_significant(idx)
                    .is_some_and(|t| t.kind == Kind::Ident);
                let open = self.frames.last().map_or(b'(', |f| f.open);
                if text == "for" && fresh && open != b'(' && next_is_ident {
                    self.set_for_state(ForState::Header);
                    Role::Keyword
                } else if text == "in" && state == ForState::Header && !after_dot {
                    self.set_for_state(ForState::Collection);
                    Role::Keyword
                } else if text == "if" && state == ForState::Body && !after_dot {
                    Role::Keyword
                } else {
                    Role::Ident
                }
            }
            Kind::Punct => match text {
                "(" | "[" | "{" => {
                    let open = text.as_bytes().first().copied().unwrap_or(b'(');
                    self.frames.push(Frame {
                        open,
                        fresh: true,
                        state: ForState::None,
                        pending_conditionals: 0,
                    });
                    Role::Open(open)
                }
                ")" | "]" | "}" => {
                    self.frames.pop();
                    Role::Close(text.as_bytes().first().copied().unwrap_or(b')'))
                }
                "," => Role::Comma,
                "." => Role::Dot,
                "..." => Role::Ellipsis,
                "::" => Role::DoubleColon,
                "!" => Role::Unary,
                "-" if !prev.is_some_and(Role::ends_operand) => Role::Unary,
                "*" if after_dot
                    || (prev == Some(Role::Open(b'['))
                        && self
                            .next_significant(idx)
                            .is_some_and(|t| self.text(t) == "]")) =>
                {
                    Role::Splat
                }
                "?" => {
                    if let Some(f) = self.frames.last_mut() {
                        if matches!(f.state, ForState::Collection | ForState::Body) {
                            f.pending_conditionals += 1;
                        }
                    }
                    Role::Binary
                }
                ":" => {
                    if let Some(f) = self.frames.last_mut() {
                        if f.pending_conditionals > 0 {
                            f.pending_conditionals -= 1;
                        } else if f.state == ForState::Collection {
                            f.state = ForState::Body;
                        }
                    }
                    Role::Binary
                }
                _ => Role::Binary,
            },
        };
        self.prev_sig = Some(role);
        role
    }

    fn set_for_state(&mut self, state: ForState) {
        if let Some(f) = self.frames.last_mut() {
            f.state = state;
        }
    }

    /// Whether writing `a` and `b` without a space between them would lex
    /// differently (e.g. `a` + `-` becomes the identifier `a-`).
    fn would_merge(&mut self, a: Token, b: Token) -> bool {
        let opaque = |t: Token| {
            matches!(
                t.kind,
                Kind::Str | Kind::Heredoc | Kind::LineComment | Kind::BlockComment
            )
        };
        if opaque(a) || opaque(b) {
            return false;
        }
        let (ta, tb) = (self.text(a), self.text(b));
        let joinable = |c: Option<char>| {
            c.is_some_and(|c| {
                !c.is_ascii() || c.is_ascii_alphanumeric() || "_-.=!<>&|/*:#".contains(c)
            })
        };
        if !joinable(ta.chars().next_back()) || !joinable(tb.chars().next()) {
            return false;
        }
        self.scratch.clear();
        self.scratch.push_str(ta);
        self.scratch.push_str(tb);
        match lexer::lex(&self.scratch) {
            Ok(toks) => !matches!(
                toks.as_slice(),
                [x, y] if x.end == ta.len() && x.kind == a.kind && y.kind == b.kind
            ),
            Err(_) => true,
        }
    }
}

/// Whether one space goes between a token with role `prev` and the next one
/// with role `cur` on the same line.
fn space_between(prev: Role, cur: Role, next_is_number: bool) -> bool {
    use Role::*;
    if prev == Comment || cur == Comment {
        return true;
    }
    match prev {
        Open(b'{') => return cur != Close(b'}'),
        Open(_) => return false,
        // `. .` stays apart so that it cannot turn into `...`.
        Dot => return matches!(cur, Dot | Ellipsis),
        DoubleColon | Unary => return false,
        _ => {}
    }
    match cur {
        Close(b'}') => true,
        Close(_) | Comma | Ellipsis | DoubleColon | Splat => false,
        // `1 .5` must not become the number `1.5`.
        Dot => prev == Number && next_is_number,
        Open(b'[') => !matches!(prev, Ident | Str | Close(b']' | b')') | Splat),
        Open(b'(') => prev != Ident,
        _ => true,
    }
}

/// Appends a token's canonical text; returns whether it spans several lines.
fn push_token(out: &mut String, kind: Kind, text: &str) -> bool {
    match kind {
        Kind::LineComment => {
            out.push_str(text.trim_end());
            false
        }
        Kind::BlockComment if text.contains('\n') => {
            for (n, line) in text.split('\n').enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.push_str(line.trim_end());
            }
            true
        }
        Kind::Heredoc => {
            // Drop blanks (and a `\r`) after the opening `<<EOF`; the body and
            // the closing delimiter line are kept byte-for-byte.
            match text.split_once('\n') {
                Some((opener, body)) => {
                    out.push_str(opener.trim_end());
                    out.push('\n');
                    out.push_str(body);
                }
                None => out.push_str(text),
            }
            true
        }
        Kind::Str => {
            out.push_str(text);
            text.contains('\n')
        }
        _ => {
            out.push_str(text);
            false
        }
    }
}

/// Decides blank lines and alignment, and writes the output.
fn render(lines: &[Line], size_hint: usize) -> String {
    // Blank lines to insert between top-level items.
    let mut blank_after = vec![false; lines.len()];
    let mut last_code: Option<usize> = None;
    let mut last_item_single = false;
    let mut blank_since = false;
    for (idx, line) in lines.iter().enumerate() {
        if line.blank {
            blank_since = true;
            continue;
        }
        if line.comment_only {
            continue;
        }
        if line.item_start {
            if let Some(prev) = last_code {
                let both_attributes = last_item_single && line.single_attr;
                if !(blank_since || both_attributes) {
                    blank_after[prev] = true;
                }
            }
            last_item_single = line.single_attr;
        }
        last_code = Some(idx);
        blank_since = false;
    }

    // The sequence of output lines; `None` is a blank line.
    let mut seq: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    let mut pending_blank = false;
    let mut last: Option<&Line> = None;
    for (idx, line) in lines.iter().enumerate() {
        if line.blank {
            pending_blank = true;
            continue;
        }
        if let Some(prev) = last {
            if pending_blank && !prev.ends_open && !line.starts_close {
                seq.push(None);
            }
        }
        seq.push(Some(idx));
        last = Some(line);
        pending_blank = blank_after[idx];
    }

    // Alignment of `=` in runs of attribute lines, then of their trailing comments.
    let mut pad = vec![0usize; lines.len()];
    let mut comment_pad = vec![0usize; lines.len()];
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, pad: &mut [usize], comment_pad: &mut [usize]| {
        let width = run
            .iter()
            .filter_map(|&i| lines[i].key.map(|(_, w)| w))
            .max()
            .unwrap_or(0);
        for &i in run.iter() {
            if let Some((_, w)) = lines[i].key {
                pad[i] = width - w;
            }
        }
        // Width of the code before each trailing comment, once `=` is aligned.
        let code_width = |i: usize| {
            lines[i].trailing_comment.map(|at| {
                pad[i]
                    + lines[i]
                        .text
                        .get(..at)
                        .map_or(at, |code| code.chars().count())
            })
        };
        let column = run.iter().filter_map(|&i| code_width(i)).max().unwrap_or(0);
        for &i in run.iter() {
            if let Some(w) = code_width(i) {
                comment_pad[i] = column - w;
            }
        }
        run.clear();
    };
    for entry in &seq {
        match entry {
            Some(idx) if lines[*idx].key.is_some() => {
                let line = &lines[*idx];
                if run.first().is_some_and(|&f| lines[f].indent != line.indent) {
                    flush(&mut run, &mut pad, &mut comment_pad);
                }
                run.push(*idx);
                if line.ends_run {
                    flush(&mut run, &mut pad, &mut comment_pad);
                }
            }
            _ => flush(&mut run, &mut pad, &mut comment_pad),
        }
    }
    flush(&mut run, &mut pad, &mut comment_pad);

    let mut out = String::with_capacity(size_hint + size_hint / 8 + 16);
    for entry in &seq {
        if let Some(idx) = *entry {
            let line = &lines[idx];
            out.extend(std::iter::repeat_n(' ', line.indent * 2));
            // The line's text in up to three parts: key, the rest of the code, a comment;
            // padding goes between them.
            let comment_at = line
                .trailing_comment
                .filter(|_| comment_pad[idx] > 0)
                .unwrap_or(line.text.len());
            let (code, comment) = line.text.split_at(comment_at.min(line.text.len()));
            match line.key {
                Some((len, _)) if pad[idx] > 0 && len <= code.len() => {
                    out.push_str(&code[..len]);
                    out.extend(std::iter::repeat_n(' ', pad[idx]));
                    out.push_str(&code[len..]);
                }
                _ => out.push_str(code),
            }
            if !comment.is_empty() {
                out.extend(std::iter::repeat_n(' ', comment_pad[idx]));
                out.push_str(comment);
            }
        }
        out.push('\n');
    }
    out
}
