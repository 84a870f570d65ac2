//! More string functions: `chomp`, `indent`, `title`, `trim`, `trimprefix`, `trimsuffix`,
//! `strrev`, `formatlist`, `regex`, `regexall`.

use super::{fail, integer_arg, string_arg, FnContext, FnError};
use hive_sdk::Value;
use std::collections::BTreeMap;

/// `chomp(string)`: without the newlines at its end (`\n`, `\r\n`, `\r`).
pub(super) fn chomp(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("chomp", &args, 0)?;
    Ok(Value::string(text.trim_end_matches(['\n', '\r'])))
}

/// `indent(spaces, string)`: every line but the first indented.
pub(super) fn indent(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let spaces = integer_arg("indent", &args, 0)?;
    let text = string_arg("indent", &args, 1)?;
    let pad = " ".repeat(usize::try_from(spaces.max(0)).unwrap_or(0).min(1 << 16));
    Ok(Value::string(text.replace('\n', &format!("\n{pad}"))))
}

/// Whether a character separates words for `title` (as Go's `strings.Title` decides).
fn separates(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// `title(string)`: the first letter of each word in upper case.
pub(super) fn title(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("title", &args, 0)?;
    let mut out = String::with_capacity(text.len());
    let mut after_separator = true;
    for c in text.chars() {
        if after_separator {
            out.push(super::strings::simple_upper(c));
        } else {
            out.push(c);
        }
        after_separator = separates(c);
    }
    Ok(Value::String(out))
}

/// `trim(string, characters)`: without any of `characters` at either end.
pub(super) fn trim(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("trim", &args, 0)?;
    let cut = string_arg("trim", &args, 1)?;
    Ok(Value::string(text.trim_matches(|c| cut.contains(c))))
}

pub(super) fn trimprefix(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("trimprefix", &args, 0)?;
    let prefix = string_arg("trimprefix", &args, 1)?;
    Ok(Value::string(text.strip_prefix(&*prefix).unwrap_or(&text)))
}

pub(super) fn trimsuffix(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("trimsuffix", &args, 0)?;
    let suffix = string_arg("trimsuffix", &args, 1)?;
    Ok(Value::string(text.strip_suffix(&*suffix).unwrap_or(&text)))
}

/// `strrev(string)`: its characters in reverse order, a character with the combining marks
/// after it kept whole.
pub(super) fn strrev(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("strrev", &args, 0)?;
    let mut clusters: Vec<String> = Vec::new();
    for c in text.chars() {
        let combining = matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F | 0x200D | 0xFE0F);
        match clusters.last_mut() {
            Some(last) if combining => last.push(c),
            _ => clusters.push(c.to_string()),
        }
    }
    clusters.reverse();
    Ok(Value::String(clusters.concat()))
}

/// `formatlist(spec, values...)`: `format` over lists element by element; an argument that
/// is not a list is the same for every element.
pub(super) fn formatlist(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut length: Option<usize> = None;
    for (i, a) in args.iter().enumerate().skip(1) {
        if let Value::List(items) = a {
            match length {
                Some(n) if n != items.len() => {
                    return Err(fail(
                        Some(i),
                        format!(
                            "formatlist: argument {} has length {}, which does not match the earlier list arguments' {n}",
                            i + 1,
                            items.len()
                        ),
                    ))
                }
                _ => length = Some(items.len()),
            }
        }
    }
    let Some(n) = length else {
        return Ok(Value::List(vec![super::strings::format(ctx, args)?]));
    };
    (0..n)
        .map(|j| {
            let row: Vec<Value> = args
                .iter()
                .enumerate()
                .map(|(i, a)| match a {
                    Value::List(items) if i > 0 => items[j].clone(),
                    other => other.clone(),
                })
                .collect();
            super::strings::format(ctx, row)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::List)
}

fn compile(fname: &str, args: &[Value]) -> Result<regex::Regex, FnError> {
    let pattern = string_arg(fname, args, 0)?;
    regex::Regex::new(&pattern).map_err(|e| {
        fail(
            Some(0),
            format!("{fname}: invalid regular expression pattern: {e}"),
        )
    })
}

/// One match as `regex` returns it: the whole match without capture groups, a list of the
/// groups, or a map when the groups are named.
fn shaped(re: &regex::Regex, caps: &regex::Captures<'_>) -> Value {
    let text = |m: Option<regex::Match<'_>>| m.map_or(Value::Null, |m| Value::string(m.as_str()));
    if re.captures_len() == 1 {
        return text(caps.get(0));
    }
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.iter().any(Option::is_some) {
        let map: BTreeMap<String, Value> = names
            .iter()
            .flatten()
            .map(|name| (name.to_string(), text(caps.name(name))))
            .collect();
        return Value::Map(map);
    }
    Value::List((1..re.captures_len()).map(|i| text(caps.get(i))).collect())
}

/// Whether a regex's capture groups are a mix of named and unnamed (Terraform refuses it).
fn mixed(fname: &str, re: &regex::Regex) -> Result<(), FnError> {
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.iter().any(Option::is_some) && names.iter().any(Option::is_none) {
        return Err(fail(
            Some(0),
            format!("{fname}: patterns cannot mix named and unnamed capture groups"),
        ));
    }
    Ok(())
}

pub(super) fn regex(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let re = compile("regex", &args)?;
    mixed("regex", &re)?;
    let text = string_arg("regex", &args, 1)?;
    match re.captures(&text) {
        Some(caps) => Ok(shaped(&re, &caps)),
        None => Err(fail(
            None,
            "regex: pattern did not match any part of the given string",
        )),
    }
}

pub(super) fn regexall(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let re = compile("regexall", &args)?;
    mixed("regexall", &re)?;
    let text = string_arg("regexall", &args, 1)?;
    Ok(Value::List(
        re.captures_iter(&text).map(|c| shaped(&re, &c)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, n, s};
    use hive_sdk::Value;

    #[test]
    fn text_as_terraform_has_it() {
        assert_eq!(call_fn("chomp", vec![s("a\r\n\n")]), Ok(s("a")));
        assert_eq!(call_fn("indent", vec![n(2.0), s("a\nb")]), Ok(s("a\n  b")));
        assert_eq!(
            call_fn("title", vec![s("hello wide-world")]),
            Ok(s("Hello Wide-World"))
        );
        assert_eq!(call_fn("trim", vec![s("?!a?!"), s("!?")]), Ok(s("a")));
        assert_eq!(call_fn("trimprefix", vec![s("abab"), s("ab")]), Ok(s("ab")));
        assert_eq!(call_fn("trimsuffix", vec![s("abab"), s("ab")]), Ok(s("ab")));
        assert_eq!(call_fn("strrev", vec![s("abc")]), Ok(s("cba")));
        assert_eq!(
            call_fn("regex", vec![s("(\\d+)-(\\d+)"), s("a 10-20 b")]),
            Ok(Value::List(vec![s("10"), s("20")]))
        );
        assert_eq!(
            call_fn("regexall", vec![s("\\d"), s("a1b2")]),
            Ok(Value::List(vec![s("1"), s("2")]))
        );
        assert!(call_fn("regex", vec![s("x"), s("abc")]).is_err());
    }
}
