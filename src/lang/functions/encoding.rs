//! Encoding functions: JSON, YAML, base64 and SHA-256.

use super::{arg, fail, string_arg, FnContext, FnError};
use base64::Engine as _;
use hive_sdk::value::format_number;
use hive_sdk::Value;
use sha2::Digest as _;
use std::collections::BTreeMap;

/// `jsonencode(value)`, written as Terraform writes it: keys sorted, numbers with all their
/// digits and no exponent, and `<`, `>`, `&`, U+2028 and U+2029 escaped as Go's encoder does.
pub(super) fn jsonencode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut out = String::new();
    write_json(arg(&args, 0), &mut out)?;
    Ok(Value::String(out))
}

fn write_json(v: &Value, out: &mut String) -> Result<(), FnError> {
    match v.unmarked() {
        Value::Null | Value::Unknown => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if !n.is_finite() => {
            return Err(fail(
                Some(0),
                "jsonencode: cannot write infinity or NaN as JSON",
            ))
        }
        Value::Number(n) => out.push_str(&format_number(*n)),
        Value::String(text) => write_json_string(text, out),
        Value::List(items) | Value::Set(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(item, out)?;
            }
            out.push('}');
        }
        Value::Sensitive(inner) => write_json(inner, out)?,
    }
    Ok(())
}

fn write_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(super) fn jsondecode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("jsondecode", &args, 0)?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| fail(Some(0), format!("jsondecode: invalid JSON: {e}")))?;
    Ok(Value::from_json(&json))
}

pub(super) fn base64encode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("base64encode", &args, 0)?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
    ))
}

pub(super) fn base64decode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    use base64::DecodeError;
    let text = string_arg("base64decode", &args, 0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| {
            let why = match e {
                DecodeError::InvalidByte(offset, _) => {
                    format!("invalid character at offset {offset}")
                }
                DecodeError::InvalidLength(_) => "invalid length".to_string(),
                DecodeError::InvalidLastSymbol(offset, _) => {
                    format!("invalid last character at offset {offset}")
                }
                DecodeError::InvalidPadding => "invalid padding".to_string(),
            };
            fail(Some(0), format!("base64decode: invalid base64 data: {why}"))
        })?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        fail(
            Some(0),
            "base64decode: the decoded bytes are not valid UTF-8 text",
        )
    })
}

pub(super) fn sha256(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("sha256", &args, 0)?;
    let digest = sha2::Sha256::digest(text.as_bytes());
    Ok(Value::String(
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

pub(super) fn yamlencode(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::String(to_yaml(arg(&args, 0))))
}

/// A value as a block-style YAML document (ending with a newline).
fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match inline(value) {
        Some(text) => {
            out.push_str(&text);
            out.push('\n');
        }
        None => write_block(value, 0, &mut out),
    }
    out
}

/// Longer keys than this are written as explicit keys (`? key`): YAML limits implicit keys to
/// 1024 characters.
const MAX_IMPLICIT_KEY: usize = 1000;

/// The one-line form of a scalar or an empty collection; `None` for anything that needs a block.
fn inline(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null | Value::Unknown => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_nan() => ".nan".to_string(),
        Value::Number(n) if n.is_infinite() => if *n > 0.0 { ".inf" } else { "-.inf" }.to_string(),
        Value::Number(n) => format_number(*n),
        Value::String(s) => yaml_string(s),
        Value::List(items) | Value::Set(items) if items.is_empty() => "[]".to_string(),
        Value::Map(entries) if entries.is_empty() => "{}".to_string(),
        Value::Sensitive(inner) => return inline(inner),
        Value::List(_) | Value::Set(_) | Value::Map(_) => return None,
    })
}

/// Writes a non-empty list or map, each line indented by `indent` spaces.
fn write_block(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Map(entries) => write_map(entries, indent, out),
        Value::List(items) | Value::Set(items) => write_seq(items, indent, out),
        Value::Sensitive(inner) => write_block(inner, indent, out),
        other => {
            // Not reached: callers pass only what `inline` refused.
            out.push_str(&" ".repeat(indent));
            out.push_str(&inline(other).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn write_map(entries: &BTreeMap<String, Value>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (key, value) in entries {
        let key = yaml_string(key);
        out.push_str(&pad);
        if key.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            out.push_str(&pad);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        match inline(value) {
            Some(text) => {
                out.push(' ');
                out.push_str(&text);
                out.push('\n');
            }
            None => {
                out.push('\n');
                write_block(value, indent + 2, out);
            }
        }
    }
}

fn write_seq(items: &[Value], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        out.push_str(&pad);
        out.push_str("- ");
        match inline(item) {
            Some(text) => {
                out.push_str(&text);
                out.push('\n');
            }
            None => {
                // The nested block starts on the dash's line: its first line's indentation
                // (indent + 2 spaces) is replaced by the dash and a space.
                let mut child = String::new();
                write_block(item, indent + 2, &mut child);
                out.push_str(child.get(indent + 2..).unwrap_or_default());
            }
        }
    }
}

/// A string as a plain scalar when YAML reads it back as the same string, else double-quoted.
fn yaml_string(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// Whether `s` can be written unquoted and read back (by YAML 1.1 and 1.2 readers) as the same
/// string.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // Indicators, and what may start a number (`1`, `+1`, `.5`, `.inf`; `-` is an indicator).
    if "-?:,[]{}#&*!|>'\"%@`+.".contains(first) || first.is_ascii_digit() {
        return false;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    if s.chars().any(|c| c.is_control() || needs_escape(c)) {
        return false;
    }
    // Words that read as bools or null (YAML 1.1 knows more of them than 1.2), and the merge
    // and value keys of YAML 1.1.
    !matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | "<<" | "="
    )
}

/// Characters that are not printable in YAML, or that YAML 1.1 reads as line breaks.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        | '\u{fffe}' | '\u{ffff}')
}

/// A double-quoted scalar; its escapes are JSON's, which YAML shares.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn m(entries: &[(&str, Value)]) -> Value {
        Value::map(entries.iter().cloned())
    }

    #[test]
    fn json_round_trip() {
        let v = m(&[
            (
                "b",
                list(vec![n(1.0), n(2.5), Value::Bool(true), Value::Null]),
            ),
            ("a", s("x\"y")),
            ("c", m(&[])),
        ]);
        let text = call_fn("jsonencode", vec![v.clone()]).unwrap();
        assert_eq!(text, s(r#"{"a":"x\"y","b":[1,2.5,true,null],"c":{}}"#));
        assert_eq!(call_fn("jsondecode", vec![text]), Ok(v));
        assert_eq!(call_fn("jsonencode", vec![s("a")]), Ok(s("\"a\"")));
        assert_eq!(call_fn("jsonencode", vec![Value::Null]), Ok(s("null")));
        assert_eq!(
            call_fn("jsonencode", vec![Value::set(vec![s("b"), s("a")])]),
            Ok(s(r#"["a","b"]"#))
        );
        assert_eq!(call_fn("jsondecode", vec![s(" 12 ")]), Ok(n(12.0)));
    }

    #[test]
    fn json_errors() {
        let e = call_fn("jsondecode", vec![s("{\"a\": ")]).unwrap_err();
        assert_eq!(e.arg, Some(0));
        assert!(
            e.message.starts_with("jsondecode: invalid JSON: "),
            "{}",
            e.message
        );
        assert!(call_fn("jsondecode", vec![s("")]).is_err());
        assert!(call_fn("jsondecode", vec![s("[1] x")]).is_err());
        assert!(call_fn("jsondecode", vec![s("1e400")]).is_err());
        assert_eq!(
            call_fn("jsondecode", vec![list(vec![])]),
            Err(fail(
                Some(0),
                "jsondecode: argument 1 must be a string, got list"
            ))
        );
        // Deep nesting is refused, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(call_fn("jsondecode", vec![s(&deep)]).is_err());
        // Unknown inside a value makes jsonencode unknown.
        assert_eq!(
            call_fn("jsonencode", vec![list(vec![Value::Unknown])]),
            Ok(Value::Unknown)
        );
    }

    #[test]
    fn base64_and_sha256() {
        assert_eq!(
            call_fn("base64encode", vec![s("Hello World")]),
            Ok(s("SGVsbG8gV29ybGQ="))
        );
        assert_eq!(
            call_fn("base64decode", vec![s("SGVsbG8gV29ybGQ=")]),
            Ok(s("Hello World"))
        );
        assert_eq!(call_fn("base64encode", vec![s("")]), Ok(s("")));
        assert_eq!(
            call_fn("base64decode", vec![s("SGVs!G8=")]),
            Err(fail(
                Some(0),
                "base64decode: invalid base64 data: invalid character at offset 4"
            ))
        );
        assert!(call_fn("base64decode", vec![s("SGVsbG8")]).is_err());
        // 0xff 0xfe is not UTF-8.
        assert_eq!(
            call_fn("base64decode", vec![s("//4=")]),
            Err(fail(
                Some(0),
                "base64decode: the decoded bytes are not valid UTF-8 text"
            ))
        );
        assert!(call_fn("base64encode", vec![m(&[])]).is_err());
        assert_eq!(
            call_fn("sha256", vec![s("hello world")]),
            Ok(s(
                "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
            ))
        );
        assert_eq!(
            call_fn("sha256", vec![s("")]),
            Ok(s(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ))
        );
        assert!(call_fn("sha256", vec![list(vec![])]).is_err());
        assert_eq!(
            call_fn("base64encode", vec![secret(s("pw"))]),
            Ok(secret(s("cHc=")))
        );
    }

    #[test]
    fn yaml_scalars() {
        let y = |v: Value| call_fn("yamlencode", vec![v]).unwrap();
        assert_eq!(y(s("hello")), s("hello\n"));
        assert_eq!(y(n(3.0)), s("3\n"));
        assert_eq!(y(n(2.5)), s("2.5\n"));
        assert_eq!(y(Value::Bool(true)), s("true\n"));
        assert_eq!(y(Value::Null), s("null\n"));
        assert_eq!(y(m(&[])), s("{}\n"));
        assert_eq!(y(list(vec![])), s("[]\n"));
        for quoted in [
            "",
            "1",
            "1.5",
            "0x1f",
            "+1",
            ".inf",
            "-1",
            "true",
            "False",
            "yes",
            "NO",
            "on",
            "off",
            "y",
            "null",
            "~",
            "a: b",
            "a #b",
            "a:",
            "- x",
            "?x",
            ":x",
            ",x",
            "[x",
            "]x",
            "{x",
            "}x",
            "#x",
            "&x",
            "*x",
            "!x",
            "|x",
            ">x",
            "'x",
            "\"x",
            "%x",
            "@x",
            "`x",
            " x",
            "x ",
            "a\nb",
            "a\tb",
            "\u{7}",
            "\u{85}",
            "\u{2028}",
            "<<",
            "2001-12-14",
            "12:30",
            "...",
            "---",
        ] {
            let out = y(s(quoted));
            let text = out.as_str().unwrap();
            assert!(
                text.starts_with('"'),
                "{quoted:?} should be quoted, got {text:?}"
            );
        }
        for plain in [
            "a",
            "hello world",
            "a:b",
            "a#b",
            "x-y",
            "under_score",
            "é",
            "http://x",
        ] {
            assert_eq!(
                y(s(plain)),
                s(&format!("{plain}\n")),
                "{plain:?} should be plain"
            );
        }
        assert_eq!(y(s("a\"b\\c\nd\u{1}")), s("\"a\\\"b\\\\c\\nd\\u0001\"\n"));
    }

    #[test]
    fn yaml_nested_maps_and_lists() {
        let v = m(&[
            (
                "spec",
                m(&[
                    ("replicas", n(3.0)),
                    (
                        "ports",
                        list(vec![
                            m(&[("name", s("http")), ("port", n(80.0))]),
                            m(&[("name", s("https")), ("port", n(443.0))]),
                        ]),
                    ),
                    ("labels", m(&[("app", s("web")), ("tier", s("1"))])),
                    ("empty_list", list(vec![])),
                    ("empty_map", m(&[])),
                ]),
            ),
            (
                "matrix",
                list(vec![
                    list(vec![n(1.0), n(2.0)]),
                    list(vec![]),
                    list(vec![list(vec![s("deep")])]),
                ]),
            ),
            ("enabled", Value::Bool(false)),
            ("note", s("line one\nline two")),
            ("1", s("numeric key")),
        ]);
        let expected = "\
\"1\": numeric key
enabled: false
matrix:
  - - 1
    - 2
  - []
  - - - deep
note: \"line one\\nline two\"
spec:
  empty_list: []
  empty_map: {}
  labels:
    app: web
    tier: \"1\"
  ports:
    - name: http
      port: 80
    - name: https
      port: 443
  replicas: 3
";
        assert_eq!(call_fn("yamlencode", vec![v]), Ok(s(expected)));
        assert_eq!(
            call_fn(
                "yamlencode",
                vec![list(vec![s("a"), m(&[("k", list(vec![n(1.0)]))])])]
            ),
            Ok(s("- a\n- k:\n    - 1\n"))
        );
    }

    #[test]
    fn yaml_long_keys_are_explicit() {
        let key = "k".repeat(1200);
        let out = to_yaml(&Value::map([(key.clone(), m(&[("a", n(1.0))]))]));
        assert_eq!(out, format!("? {key}\n:\n  a: 1\n"));
    }
}
