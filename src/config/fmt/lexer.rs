//! A small lossless tokenizer for HCL source, used by the formatter.
//!
//! Whitespace (other than newlines) is dropped; every other byte of the input
//! belongs to exactly one token. Quoted strings (including any `${ ... }` /
//! `%{ ... }` template sequences, which may nest further strings and braces),
//! heredocs and comments are single opaque tokens that the formatter copies
//! (almost) byte-for-byte. The lexer is iterative and never panics.
//!
//! As in the HCL specification (and Terraform), a quoted string may not
//! contain a raw line break outside a `${ ... }` / `%{ ... }` sequence; such a
//! string is reported as unterminated at its opening quote. (`hcl-edit` is
//! more lenient and accepts raw line breaks in quoted strings.)

use super::FormatError;

/// The kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An identifier (including keywords such as `for`, `in`, `true`).
    Ident,
    /// A number literal such as `42`, `1.5` or `1.5e3` (no sign).
    Number,
    /// A quoted string or string template, kept as one opaque token.
    Str,
    /// A heredoc from `<<` through its closing delimiter.
    Heredoc,
    /// A `#` or `//` comment, up to (excluding) the newline.
    LineComment,
    /// A `/* ... */` comment, possibly spanning lines.
    BlockComment,
    /// An operator or punctuation token.
    Punct,
    /// Any other single character that HCL does not know.
    Other,
    /// A line break (`\n`; a preceding `\r` is treated as whitespace).
    Newline,
}

/// A token: its kind and its byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
}

fn error(message: &str, offset: usize) -> FormatError {
    FormatError {
        message: message.to_string(),
        offset,
    }
}

/// Whether `c` may start an HCL identifier.
pub(super) fn is_id_start(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic() || c == '_'
    } else {
        let mut buf = [0u8; 4];
        hcl_edit::Ident::try_from(&*c.encode_utf8(&mut buf)).is_ok()
    }
}

/// Whether `c` may continue an HCL identifier (HCL allows `-` here).
pub(super) fn is_id_continue(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    } else {
        let mut s = String::with_capacity(5);
        s.push('a');
        s.push(c);
        hcl_edit::Ident::try_from(s.as_str()).is_ok()
    }
}

/// Decodes the character starting at byte `pos` (which must be a char boundary).
fn char_at(src: &str, pos: usize) -> Option<char> {
    src.get(pos..).and_then(|rest| rest.chars().next())
}

/// Returns the end of the identifier whose first character starts at `pos`.
fn ident_end(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while let Some(&b) = bytes.get(pos) {
        if b.is_ascii() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                pos += 1;
            } else {
                break;
            }
        } else {
            match char_at(src, pos) {
                Some(c) if is_id_continue(c) => pos += c.len_utf8(),
                _ => break,
            }
        }
    }
    pos
}

/// Whether an identifier starts at byte `pos`.
fn ident_starts_at(src: &str, pos: usize) -> bool {
    char_at(src, pos).is_some_and(is_id_start)
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == needle))
        .map(|i| from + i)
}

/// Finds the `*/` closing a block comment whose body starts at `from`;
/// returns the offset just past it.
fn block_comment_end(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"*/"))
        .map(|i| from + i + 2)
}

/// Tokenizes `src`. Fails only on an unterminated string, heredoc or block comment.
pub(super) fn lex(src: &str) -> Result<Vec<Token>, FormatError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::with_capacity(src.len() / 4 + 1);
    let mut pos = 0;
    while let Some(&b) = bytes.get(pos) {
        let next = bytes.get(pos + 1).copied();
        let start = pos;
        let kind = match b {
            b'\n' => {
                pos += 1;
                Kind::Newline
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                pos += 1;
                continue;
            }
            b'#' => {
                pos = find_byte(bytes, pos, b'\n').unwrap_or(bytes.len());
                Kind::LineComment
            }
            b'/' if next == Some(b'/') => {
                pos = find_byte(bytes, pos, b'\n').unwrap_or(bytes.len());
                Kind::LineComment
            }
            b'/' if next == Some(b'*') => {
                pos = block_comment_end(bytes, pos + 2)
                    .ok_or_else(|| error("unterminated block comment", start))?;
                Kind::BlockComment
            }
            b'"' => {
                pos = string_end(bytes, pos)?;
                Kind::Str
            }
            b'<' if next == Some(b'<') => match heredoc_end(src, pos)? {
                Some(end) => {
                    pos = end;
                    Kind::Heredoc
                }
                None => {
                    pos += 1;
                    Kind::Punct
                }
            },
            b'0'..=b'9' => {
                pos = number_end(bytes, pos);
                Kind::Number
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                pos = ident_end(src, pos + 1);
                Kind::Ident
            }
            0x80.. => {
                // `pos` is always a char boundary here: every other branch
                // advances over whole characters or ASCII bytes.
                let c = char_at(src, pos).unwrap_or('\u{fffd}');
                let len = c.len_utf8().max(1);
                if c.is_whitespace() {
                    pos += len;
                    continue;
                }
                if is_id_start(c) {
                    pos = ident_end(src, pos + len);
                    Kind::Ident
                } else {
                    pos += len;
                    Kind::Other
                }
            }
            _ => {
                let (len, kind) = punct(bytes, pos);
                pos += len;
                kind
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: pos,
        });
    }
    Ok(tokens)
}

/// Length and kind of the operator/punctuation token at `pos`.
fn punct(bytes: &[u8], pos: usize) -> (usize, Kind) {
    let b = bytes.get(pos).copied().unwrap_or(0);
    let next = bytes.get(pos + 1).copied();
    match (b, next) {
        (b'=', Some(b'=' | b'>')) => (2, Kind::Punct),
        (b'!' | b'<' | b'>', Some(b'=')) => (2, Kind::Punct),
        (b'&', Some(b'&')) | (b'|', Some(b'|')) | (b':', Some(b':')) => (2, Kind::Punct),
        (b'.', Some(b'.')) if bytes.get(pos + 2) == Some(&b'.') => (3, Kind::Punct),
        (
            b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'?' | b':' | b'.'
            | b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}',
            _,
        ) => (1, Kind::Punct),
        _ => (1, Kind::Other),
    }
}

/// End of the number literal starting at `pos` (digits, optional fraction,
/// optional exponent; a `.` or `e` not followed by digits is not consumed).
fn number_end(bytes: &[u8], mut pos: usize) -> usize {
    let digits = |mut p: usize| {
        while bytes.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        p
    };
    pos = digits(pos);
    if bytes.get(pos) == Some(&b'.') && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) {
        pos = digits(pos + 1);
    }
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        let mut p = pos + 1;
        if matches!(bytes.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        if bytes.get(p).is_some_and(u8::is_ascii_digit) {
            pos = digits(p);
        }
    }
    pos
}

/// Scanner state while skipping over a (possibly nested) string template.
enum StrState {
    /// Inside a quoted string opened at the given offset.
    Literal(usize),
    /// Inside a `${`/`%{` sequence, with the given count of unclosed inner `{`.
    Template(usize),
}

/// Returns the end offset of the quoted string starting at `start` (a `"`).
/// Iterative, so arbitrarily deep nesting cannot overflow the stack.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, FormatError> {
    let mut stack = vec![StrState::Literal(start)];
    let mut pos = start + 1;
    let innermost = |stack: &[StrState]| {
        stack
            .iter()
            .rev()
            .find_map(|s| match s {
                StrState::Literal(open) => Some(*open),
                StrState::Template(_) => None,
            })
            .unwrap_or(start)
    };
    while let Some(top) = stack.last_mut() {
        match top {
            StrState::Literal(open) => match bytes.get(pos) {
                None | Some(b'\n') => return Err(error("unterminated string", *open)),
                Some(b'\\') => {
                    pos += 1;
                    if bytes.get(pos).is_some_and(|&c| c != b'\n') {
                        pos += 1;
                    }
                }
                Some(b'"') => {
                    stack.pop();
                    pos += 1;
                }
                Some(&c @ (b'$' | b'%')) => {
                    if bytes.get(pos + 1) == Some(&c) && bytes.get(pos + 2) == Some(&b'{') {
                        // `$${` / `%%{`: an escaped, literal marker.
                        pos += 3;
                    } else if bytes.get(pos + 1) == Some(&b'{') {
                        stack.push(StrState::Template(0));
                        pos += 2;
                    } else {
                        pos += 1;
                    }
                }
                Some(_) => pos += 1,
            },
            StrState::Template(depth) => match bytes.get(pos) {
                None => return Err(error("unterminated string", innermost(&stack))),
                Some(b'"') => {
                    stack.push(StrState::Literal(pos));
                    pos += 1;
                }
                Some(b'{') => {
                    *depth += 1;
                    pos += 1;
                }
                Some(b'}') => {
                    if *depth == 0 {
                        stack.pop();
                    } else {
                        *depth -= 1;
                    }
                    pos += 1;
                }
                Some(b'#') => pos = find_byte(bytes, pos, b'\n').unwrap_or(bytes.len()),
                Some(b'/') if bytes.get(pos + 1) == Some(&b'/') => {
                    pos = find_byte(bytes, pos, b'\n').unwrap_or(bytes.len());
                }
                Some(b'/') if bytes.get(pos + 1) == Some(&b'*') => {
                    match block_comment_end(bytes, pos + 2) {
                        Some(end) => pos = end,
                        None => return Err(error("unterminated string", innermost(&stack))),
                    }
                }
                Some(_) => pos += 1,
            },
        }
    }
    Ok(pos)
}

/// If a heredoc starts at `start` (`<<` or `<<-`, an identifier, optional
/// trailing blanks and a line break), returns the offset just past its closing
/// delimiter. Returns `Ok(None)` if this `<<` does not introduce a heredoc.
///
/// As in `hcl-edit`, the heredoc ends at the first following line that
/// consists of optional blanks and the delimiter, not followed by an
/// identifier character.
fn heredoc_end(src: &str, start: usize) -> Result<Option<usize>, FormatError> {
    let bytes = src.as_bytes();
    let mut pos = start + 2;
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    if !ident_starts_at(src, pos) {
        return Ok(None);
    }
    let delim_start = pos;
    pos = ident_end(src, pos);
    let delim = bytes.get(delim_start..pos).unwrap_or_default();
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\r')) {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'\n') => {}
        None => return Err(error("unterminated heredoc", start)),
        Some(_) => return Ok(None),
    }
    let mut line = pos + 1;
    loop {
        let mut p = line;
        while matches!(bytes.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        if bytes.get(p..).is_some_and(|rest| rest.starts_with(delim)) {
            let end = p + delim.len();
            let continues = char_at(src, end).is_some_and(is_id_continue);
            if !continues {
                return Ok(Some(end));
            }
        }
        match find_byte(bytes, line, b'\n') {
            Some(nl) => line = nl + 1,
            None => return Err(error("unterminated heredoc", start)),
        }
    }
}
