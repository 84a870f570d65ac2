//! Text formats: `urlencode`, `csvdecode`, `textencodebase64`, `textdecodebase64`,
//! `base64gzip`.

use super::{fail, string_arg, FnContext, FnError};
use base64::Engine as _;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::io::Write as _;

/// `urlencode(string)`: as a URL query value (space as `+`, as Go's `QueryEscape`).
pub(super) fn urlencode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("urlencode", &args, 0)?;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

/// The records of CSV text (RFC 4180: quoted fields may hold commas, quotes doubled and line
/// breaks).
fn records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(format!(
                            "line {line}: extraneous text after a closing quote"
                        ));
                    }
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => {
                return Err(format!(
                    "line {line}: a bare quote in a field that is not quoted"
                ))
            }
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// `csvdecode(string)`: a list of maps, one per record, keyed by the first record's fields.
pub(super) fn csvdecode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("csvdecode", &args, 0)?;
    let bad = |e: String| fail(Some(0), format!("csvdecode: {e}"));
    let mut rows = records(&text).map_err(bad)?.into_iter();
    let Some(header) = rows.next() else {
        return Err(bad("missing header line".into()));
    };
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        if row.len() != header.len() {
            return Err(bad(format!(
                "line {}: wrong number of fields ({} where the header has {})",
                i + 2,
                row.len(),
                header.len()
            )));
        }
        let record: BTreeMap<String, Value> = header
            .iter()
            .cloned()
            .zip(row.into_iter().map(Value::String))
            .collect();
        out.push(Value::Map(record));
    }
    Ok(Value::List(out))
}

/// The encodings `textencodebase64` and `textdecodebase64` know, by their IANA names.
#[derive(Clone, Copy)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Latin1,
}

fn encoding(fname: &str, name: &str) -> Result<Encoding, FnError> {
    match name.to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => Ok(Encoding::Utf8),
        "UTF-16LE" => Ok(Encoding::Utf16Le),
        "UTF-16BE" | "UTF-16" => Ok(Encoding::Utf16Be),
        "ISO-8859-1" | "LATIN1" | "L1" | "ISO8859-1" => Ok(Encoding::Latin1),
        _ => Err(fail(
            Some(1),
            format!(
                "{fname}: encoding {name:?} is not supported (hive knows UTF-8, UTF-16LE, UTF-16BE and ISO-8859-1)"
            ),
        )),
    }
}

pub(super) fn textencodebase64(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("textencodebase64", &args, 0)?;
    let enc = encoding(
        "textencodebase64",
        &string_arg("textencodebase64", &args, 1)?,
    )?;
    let bytes: Vec<u8> = match enc {
        Encoding::Utf8 => text.into_bytes(),
        Encoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Encoding::Latin1 => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| c))
            .collect::<Result<_, _>>()
            .map_err(|c| {
                fail(
                    Some(0),
                    format!("textencodebase64: {c:?} cannot be written in ISO-8859-1"),
                )
            })?,
    };
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

pub(super) fn textdecodebase64(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let data = string_arg("textdecodebase64", &args, 0)?;
    let enc = encoding(
        "textdecodebase64",
        &string_arg("textdecodebase64", &args, 1)?,
    )?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_bytes())
        .map_err(|_| {
            fail(
                Some(0),
                format!("textdecodebase64: {data:?} is not valid base64"),
            )
        })?;
    let not_text = || {
        fail(
            Some(0),
            "textdecodebase64: the bytes are not text in that encoding",
        )
    };
    let units = |pairs: Vec<u16>| String::from_utf16(&pairs).map_err(|_| not_text());
    let text = match enc {
        Encoding::Utf8 => String::from_utf8(bytes).map_err(|_| not_text())?,
        Encoding::Utf16Le | Encoding::Utf16Be if bytes.len() % 2 != 0 => return Err(not_text()),
        Encoding::Utf16Le => units(
            bytes
                .chunks(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect(),
        )?,
        Encoding::Utf16Be => units(
            bytes
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect(),
        )?,
        Encoding::Latin1 => bytes.into_iter().map(char::from).collect(),
    };
    Ok(Value::String(text))
}

/// `base64gzip(string)`: the string gzip-compressed, in base64.
pub(super) fn base64gzip(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("base64gzip", &args, 0)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
        .map_err(|e| fail(None, format!("base64gzip: {e}")))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, s};
    use hive_sdk::Value;

    #[test]
    fn formats_as_terraform_has_them() {
        assert_eq!(
            call_fn("urlencode", vec![s("a b&c/é")]),
            Ok(s("a+b%26c%2F%C3%A9"))
        );
        let rows = call_fn("csvdecode", vec![s("a,b\n1,\"x,\"\"y\"\"\"\n")]);
        assert_eq!(
            rows,
            Ok(Value::List(vec![Value::map([
                ("a", s("1")),
                ("b", s("x,\"y\""))
            ])]))
        );
        assert!(call_fn("csvdecode", vec![s("a,b\n1\n")]).is_err());
        let encoded = call_fn("textencodebase64", vec![s("Hello"), s("UTF-16LE")]);
        assert_eq!(encoded, Ok(s("SABlAGwAbABvAA==")));
        assert_eq!(
            call_fn(
                "textdecodebase64",
                vec![s("SABlAGwAbABvAA=="), s("UTF-16LE")]
            ),
            Ok(s("Hello"))
        );
    }
}
