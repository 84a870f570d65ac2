//! String functions: `format`, `join`, `split`, `replace`, `substr` and friends, and the
//! primitive conversions `tostring`, `tonumber`, `tobool`.

use super::{
    fail, integer_arg, number_arg, string_arg, strings_arg, type_error, FnContext, FnError,
};
use hive_sdk::value::format_number;
use hive_sdk::{Type, Value};

/// The widest field (and the longest precision) `format` accepts: enough for any real use,
/// small enough that a typo cannot exhaust memory.
const MAX_WIDTH: usize = 4096;

pub(super) fn format(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let spec = string_arg("format", &args, 0)?;
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    // The index of the next argument a verb consumes.
    let mut next = 1;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut verb = Verb::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => verb.left = true,
                '+' => verb.plus = true,
                ' ' => verb.space = true,
                '0' => verb.zero = true,
                '#' => verb.sharp = true,
                _ => break,
            }
            chars.next();
        }
        verb.width = read_count(&mut chars)?;
        if chars.peek() == Some(&'.') {
            chars.next();
            verb.precision = Some(read_count(&mut chars)?.unwrap_or(0));
        }
        let Some(letter) = chars.next() else {
            return Err(fail(
                Some(0),
                "format: the format string ends in the middle of a verb",
            ));
        };
        verb.letter = letter;
        if letter == '%' {
            out.push('%');
            continue;
        }
        if !"vsqtdfeExXob".contains(letter) {
            return Err(fail(
                Some(0),
                format!("format: unsupported verb \"%{letter}\""),
            ));
        }
        let Some(value) = args.get(next) else {
            return Err(fail(
                Some(0),
                format!(
                    "format: not enough arguments for \"%{letter}\": it needs argument {}, got {}",
                    next + 1,
                    args.len()
                ),
            ));
        };
        let text = verb.apply(value).map_err(|message| {
            fail(
                Some(next),
                format!(
                    "format: \"%{letter}\" cannot format argument {}: {message}",
                    next + 1
                ),
            )
        })?;
        out.push_str(&text);
        next += 1;
    }
    if next < args.len() {
        return Err(fail(
            Some(next),
            format!(
                "format: too many arguments; no verb for argument {}",
                next + 1
            ),
        ));
    }
    Ok(Value::String(out))
}

/// Reads a width or precision (digits); `None` if there are none.
fn read_count(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<Option<usize>, FnError> {
    let mut count: Option<usize> = None;
    while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        count = Some(
            count
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(digit as usize),
        );
    }
    match count {
        Some(c) if c > MAX_WIDTH => Err(fail(
            Some(0),
            format!("format: width or precision {c} is too large (at most {MAX_WIDTH})"),
        )),
        c => Ok(c),
    }
}

/// One parsed `%` verb.
#[derive(Default)]
struct Verb {
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
    letter: char,
}

impl Verb {
    /// Formats one argument; the error says why the value does not suit the verb.
    fn apply(&self, value: &Value) -> Result<String, String> {
        if value.is_null() && self.letter != 'v' {
            return Err("null value cannot be formatted".to_string());
        }
        match self.letter {
            'v' if self.sharp => Ok(self.pad(&json(value))),
            'v' => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => format_number(*n),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => "null".to_string(),
                    other => json(other),
                };
                Ok(self.pad(&text))
            }
            's' => {
                let Ok(Value::String(mut s)) = Type::String.convert(value.clone()) else {
                    return Err(format!("string required, got {}", value.type_name()));
                };
                if let Some(p) = self.precision {
                    s = s.chars().take(p).collect();
                }
                Ok(self.pad(&s))
            }
            'q' => {
                let Ok(Value::String(s)) = Type::String.convert(value.clone()) else {
                    return Err(format!("string required, got {}", value.type_name()));
                };
                Ok(self.pad(&json(&Value::String(s))))
            }
            't' => match Type::Bool.convert(value.clone()) {
                Ok(Value::Bool(b)) => Ok(self.pad(&b.to_string())),
                _ => Err(format!("bool required, got {}", value.type_name())),
            },
            letter => {
                let n = match Type::Number.convert(value.clone()) {
                    Ok(Value::Number(n)) if n.is_finite() => n,
                    Ok(Value::Number(_)) => return Err("number is not finite".to_string()),
                    _ => return Err(format!("number required, got {value}")),
                };
                let digits = match letter {
                    'f' => format!("{:.*}", self.precision.unwrap_or(6), n.abs()),
                    'e' | 'E' => {
                        let s = exponent(n.abs(), self.precision.unwrap_or(6));
                        if letter == 'E' {
                            s.to_uppercase()
                        } else {
                            s
                        }
                    }
                    _ => integer_digits(letter, n)?,
                };
                let sign = if n.is_sign_negative() && n != 0.0 {
                    "-"
                } else if self.plus {
                    "+"
                } else if self.space {
                    " "
                } else {
                    ""
                };
                Ok(self.pad_number(sign, &digits))
            }
        }
    }

    /// Pads `text` to the width with spaces (left or right).
    fn pad(&self, text: &str) -> String {
        let len = text.chars().count();
        let fill = self.width.unwrap_or(0).saturating_sub(len);
        let spaces = " ".repeat(fill);
        if self.left {
            format!("{text}{spaces}")
        } else {
            format!("{spaces}{text}")
        }
    }

    /// Pads a number: zeros go between the sign and the digits.
    fn pad_number(&self, sign: &str, digits: &str) -> String {
        if self.zero && !self.left {
            let len = sign.chars().count() + digits.chars().count();
            let fill = self.width.unwrap_or(0).saturating_sub(len);
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            self.pad(&format!("{sign}{digits}"))
        }
    }
}

/// The digits of a whole number's magnitude in the base the verb names.
fn integer_digits(letter: char, n: f64) -> Result<String, String> {
    if n.fract() != 0.0 {
        return Err(format!("{} is not a whole number", format_number(n)));
    }
    let magnitude = n.abs();
    if letter == 'd' {
        return Ok(format!("{magnitude:.0}"));
    }
    // 2^127: every whole f64 below it fits a u128.
    if magnitude >= 1.7014118346046923e38 {
        return Err("number is too large".to_string());
    }
    let m = magnitude as u128;
    Ok(match letter {
        'x' => format!("{m:x}"),
        'X' => format!("{m:X}"),
        'o' => format!("{m:o}"),
        _ => format!("{m:b}"),
    })
}

/// Scientific notation as Go writes it: `1.500000e+03`.
fn exponent(n: f64, precision: usize) -> String {
    let rust = format!("{n:.precision$e}");
    match rust.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => rust,
    }
}

fn json(value: &Value) -> String {
    serde_json::to_string(&value.to_json()).unwrap_or_default()
}

pub(super) fn join(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let sep = string_arg("join", &args, 0)?;
    let mut parts = Vec::new();
    for i in 1..args.len() {
        parts.extend(strings_arg("join", &args, i)?);
    }
    Ok(Value::String(parts.join(&sep)))
}

pub(super) fn split(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let sep = string_arg("split", &args, 0)?;
    let text = string_arg("split", &args, 1)?;
    let parts: Vec<Value> = if sep.is_empty() {
        // As in Terraform (Go's strings.Split): one element per character.
        text.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        text.split(sep.as_str()).map(Value::string).collect()
    };
    Ok(Value::List(parts))
}

pub(super) fn lower(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("lower", &args, 0)?;
    Ok(Value::String(text.chars().map(simple_lower).collect()))
}

/// Case mapping character by character, as Go's (and so Terraform's) is: a character whose
/// mapping is more than one character (`ß` to `SS`) stays as it is, and a final sigma is a
/// sigma like any other.
pub(super) fn simple_upper(c: char) -> char {
    let mut mapped = c.to_uppercase();
    match (mapped.next(), mapped.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn simple_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut mapped = c.to_lowercase();
    match (mapped.next(), mapped.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

pub(super) fn upper(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("upper", &args, 0)?;
    Ok(Value::String(text.chars().map(simple_upper).collect()))
}

pub(super) fn replace(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("replace", &args, 0)?;
    let substr = string_arg("replace", &args, 1)?;
    let replacement = string_arg("replace", &args, 2)?;
    // A substring wrapped in slashes is a regular expression; `$1` and `${name}` in the
    // replacement are its groups.
    if let Some(pattern) = substr
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/'))
        .filter(|_| substr.len() > 1)
    {
        let re = regex::Regex::new(pattern).map_err(|e| {
            fail(
                Some(1),
                format!("replace: invalid regular expression {substr}: {e}"),
            )
        })?;
        return Ok(Value::String(
            re.replace_all(&text, replacement.as_str()).into_owned(),
        ));
    }
    Ok(Value::String(text.replace(&substr, &replacement)))
}

pub(super) fn trimspace(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::string(string_arg("trimspace", &args, 0)?.trim()))
}

/// `substr(str, offset, length)`, counting characters: a negative offset counts from the end,
/// a negative length takes the rest of the string, an offset past the end gives "".
pub(super) fn substr(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("substr", &args, 0)?;
    let offset = integer_arg("substr", &args, 1)?;
    let length = integer_arg("substr", &args, 2)?;
    let total = text.chars().count();
    let start = if offset < 0 {
        let back = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
        total.checked_sub(back).ok_or_else(|| {
            fail(
                Some(1),
                format!(
                    "substr: offset {offset} is out of range for a string of {total} characters"
                ),
            )
        })?
    } else {
        usize::try_from(offset).unwrap_or(usize::MAX)
    };
    let rest = text.chars().skip(start);
    let result: String = if length < 0 {
        rest.collect()
    } else {
        rest.take(usize::try_from(length).unwrap_or(usize::MAX))
            .collect()
    };
    Ok(Value::String(result))
}

pub(super) fn startswith(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("startswith", &args, 0)?;
    let prefix = string_arg("startswith", &args, 1)?;
    Ok(Value::Bool(text.starts_with(&prefix)))
}

pub(super) fn endswith(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("endswith", &args, 0)?;
    let suffix = string_arg("endswith", &args, 1)?;
    Ok(Value::Bool(text.ends_with(&suffix)))
}

pub(super) fn strcontains(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let text = string_arg("strcontains", &args, 0)?;
    let substr = string_arg("strcontains", &args, 1)?;
    Ok(Value::Bool(text.contains(&substr)))
}

pub(super) fn tostring(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let v = super::arg(&args, 0);
    match v {
        Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => Type::String
            .convert(v.clone())
            .map_err(|e| fail(Some(0), format!("tostring: {e}"))),
        other => Err(fail(
            Some(0),
            format!("tostring: cannot convert {} to a string", other.type_name()),
        )),
    }
}

pub(super) fn tonumber(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let v = super::arg(&args, 0);
    match v {
        Value::Null => Ok(Value::Null),
        Value::Number(n) if n.is_finite() => Ok(v.clone()),
        Value::String(_) => number_arg("tonumber", &args, 0)
            .map(Value::Number)
            .map_err(|_| fail(Some(0), format!("tonumber: cannot convert {v} to a number"))),
        Value::Number(_) => number_arg("tonumber", &args, 0).map(Value::Number),
        other => Err(fail(
            Some(0),
            format!("tonumber: cannot convert {} to a number", other.type_name()),
        )),
    }
}

pub(super) fn tobool(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let v = super::arg(&args, 0);
    match v {
        Value::Null | Value::Bool(_) => Ok(v.clone()),
        Value::String(s) if s == "true" => Ok(Value::Bool(true)),
        Value::String(s) if s == "false" => Ok(Value::Bool(false)),
        Value::String(_) => Err(fail(
            Some(0),
            format!("tobool: cannot convert {v} to a bool"),
        )),
        other => Err(type_error(
            "tobool",
            0,
            "a bool or \"true\"/\"false\"",
            other,
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn fmt(args: Vec<Value>) -> Result<Value, FnError> {
        call_fn("format", args)
    }

    #[test]
    fn format_verbs() {
        assert_eq!(
            fmt(vec![s("Hello, %s!"), s("Ander")]),
            Ok(s("Hello, Ander!"))
        );
        assert_eq!(fmt(vec![s("%d items"), n(42.0)]), Ok(s("42 items")));
        assert_eq!(fmt(vec![s("%.2f"), n(1.23456)]), Ok(s("1.23")));
        assert_eq!(fmt(vec![s("%f"), n(1.5)]), Ok(s("1.500000")));
        assert_eq!(fmt(vec![s("%5d|"), n(42.0)]), Ok(s("   42|")));
        assert_eq!(fmt(vec![s("%-5s|"), s("ab")]), Ok(s("ab   |")));
        assert_eq!(fmt(vec![s("%05d"), n(-42.0)]), Ok(s("-0042")));
        assert_eq!(fmt(vec![s("%+d"), n(5.0)]), Ok(s("+5")));
        assert_eq!(fmt(vec![s("%q"), s("a\"b")]), Ok(s("\"a\\\"b\"")));
        assert_eq!(fmt(vec![s("%t"), Value::Bool(true)]), Ok(s("true")));
        assert_eq!(fmt(vec![s("100%%")]), Ok(s("100%")));
        assert_eq!(
            fmt(vec![s("%x %X %o %b"), n(255.0), n(255.0), n(8.0), n(5.0)]),
            Ok(s("ff FF 10 101"))
        );
        assert_eq!(fmt(vec![s("%e"), n(1500.0)]), Ok(s("1.500000e+03")));
        assert_eq!(fmt(vec![s("%.3s"), s("abcdef")]), Ok(s("abc")));
        // Conversions: numbers as %s, numeric strings as %d.
        assert_eq!(fmt(vec![s("%s-%d"), n(1.5), s("7")]), Ok(s("1.5-7")));
        // %v: natural form; collections as JSON.
        assert_eq!(
            fmt(vec![
                s("%v %v %v %v"),
                s("x"),
                n(2.0),
                list(vec![n(1.0), s("a")]),
                Value::Null
            ]),
            Ok(s("x 2 [1,\"a\"] null"))
        );
        assert_eq!(fmt(vec![s("%#v"), s("x")]), Ok(s("\"x\"")));
        // Width counts characters, not bytes.
        assert_eq!(fmt(vec![s("%3s|"), s("é")]), Ok(s("  é|")));
        assert_eq!(fmt(vec![s("no verbs")]), Ok(s("no verbs")));
        assert_eq!(fmt(vec![s("%d"), n(1e20)]), Ok(s("100000000000000000000")));
    }

    #[test]
    fn format_errors() {
        let e = fmt(vec![s("%s and %s"), s("a")]).unwrap_err();
        assert_eq!(e.arg, Some(0));
        assert_eq!(
            e.message,
            "format: not enough arguments for \"%s\": it needs argument 3, got 2"
        );
        let e = fmt(vec![s("%s"), s("a"), s("b")]).unwrap_err();
        assert_eq!(e.arg, Some(2));
        assert_eq!(
            e.message,
            "format: too many arguments; no verb for argument 3"
        );
        let e = fmt(vec![s("%d"), n(1.5)]).unwrap_err();
        assert_eq!(e.arg, Some(1));
        assert_eq!(
            e.message,
            "format: \"%d\" cannot format argument 2: 1.5 is not a whole number"
        );
        let e = fmt(vec![s("%d"), s("abc")]).unwrap_err();
        assert_eq!(
            e.message,
            "format: \"%d\" cannot format argument 2: number required, got \"abc\""
        );
        let e = fmt(vec![s("%s"), list(vec![])]).unwrap_err();
        assert_eq!(
            e.message,
            "format: \"%s\" cannot format argument 2: string required, got list"
        );
        assert!(fmt(vec![s("%t"), n(1.0)]).is_err());
        assert!(fmt(vec![s("%s"), Value::Null]).is_err());
        assert_eq!(
            fmt(vec![s("%y"), n(1.0)]).unwrap_err().message,
            "format: unsupported verb \"%y\""
        );
        assert!(fmt(vec![s("50%")]).is_err());
        // Huge widths and precisions are refused, not allocated.
        let e = fmt(vec![s("%1000000000000d"), n(1.0)]).unwrap_err();
        assert_eq!(
            e.message,
            "format: width or precision 1000000000000 is too large (at most 4096)"
        );
        assert!(fmt(vec![s("%99999999999999999999999999d"), n(1.0)]).is_err());
        assert!(fmt(vec![s("%.100000f"), n(1.0)]).is_err());
        assert!(fmt(vec![s("%x"), n(1e300)]).is_err());
        assert_eq!(
            fmt(vec![n(1.0).mark_sensitive_if(false), s("x")])
                .unwrap_err()
                .arg,
            Some(1)
        );
        assert_eq!(
            fmt(vec![list(vec![])]).unwrap_err().message,
            "format: argument 1 must be a string, got list"
        );
    }

    #[test]
    fn join_and_split() {
        assert_eq!(
            call_fn("join", vec![s(", "), strs(&["a", "b", "c"])]),
            Ok(s("a, b, c"))
        );
        assert_eq!(
            call_fn(
                "join",
                vec![s("-"), strs(&["a"]), list(vec![n(1.0), Value::Bool(false)])]
            ),
            Ok(s("a-1-false"))
        );
        assert_eq!(call_fn("join", vec![s(","), list(vec![])]), Ok(s("")));
        assert_eq!(
            call_fn("join", vec![s(","), n(1.0)]),
            Err(fail(
                Some(1),
                "join: argument 2 must be a list of strings, got number"
            ))
        );
        assert_eq!(
            call_fn("join", vec![s(","), list(vec![Value::Null])])
                .unwrap_err()
                .message,
            "join: argument 2 must be a list of strings, element 0 is null"
        );
        assert_eq!(
            call_fn("split", vec![s(","), s("a,b,,c")]),
            Ok(strs(&["a", "b", "", "c"]))
        );
        assert_eq!(call_fn("split", vec![s(","), s("")]), Ok(strs(&[""])));
        assert_eq!(
            call_fn("split", vec![s(""), s("ab")]),
            Ok(strs(&["a", "b"]))
        );
        assert_eq!(
            call_fn("split", vec![s(","), list(vec![])]).unwrap_err(),
            fail(Some(1), "split: argument 2 must be a string, got list")
        );
    }

    #[test]
    fn case_trim_and_tests() {
        assert_eq!(call_fn("lower", vec![s("HeLLo")]), Ok(s("hello")));
        // As Terraform: a letter whose capital is two letters stays as it is.
        assert_eq!(call_fn("upper", vec![s("straße")]), Ok(s("STRAßE")));
        assert_eq!(call_fn("trimspace", vec![s(" \t a b \n")]), Ok(s("a b")));
        assert_eq!(
            call_fn("startswith", vec![s("hello"), s("he")]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_fn("startswith", vec![s("hello"), s("lo")]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call_fn("endswith", vec![s("hello"), s("lo")]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_fn("strcontains", vec![s("hello"), s("ell")]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_fn("strcontains", vec![s("hello"), s("xyz")]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call_fn("lower", vec![Value::map([("a", n(1.0))])]),
            Err(fail(Some(0), "lower: argument 1 must be a string, got map"))
        );
        assert_eq!(
            call_fn("startswith", vec![s("a"), Value::Null]),
            Err(fail(
                Some(1),
                "startswith: argument 2 must be a string, got null"
            ))
        );
    }

    #[test]
    fn replace_substrings() {
        assert_eq!(
            call_fn("replace", vec![s("1 + 2 + 3"), s("+"), s("-")]),
            Ok(s("1 - 2 - 3"))
        );
        assert_eq!(
            call_fn("replace", vec![s("abc"), s("x"), s("y")]),
            Ok(s("abc"))
        );
        assert_eq!(
            call_fn("replace", vec![s("/"), s("/"), s("\\")]),
            Ok(s("\\"))
        );
        assert_eq!(
            call_fn("replace", vec![s("abcab"), s("/a(.)/"), s("<$1>")]),
            Ok(s("<b>c<b>"))
        );
        let e = call_fn("replace", vec![s("abc"), s("/a(/"), s("")]).unwrap_err();
        assert_eq!(e.arg, Some(1));
        assert!(e.message.contains("invalid regular expression"));
        assert!(call_fn("replace", vec![s("abc"), list(vec![]), s("")]).is_err());
    }

    #[test]
    fn substr_counts_characters() {
        let sub = |t: &str, o: f64, l: f64| call_fn("substr", vec![s(t), n(o), n(l)]);
        assert_eq!(sub("hello world", 1.0, 4.0), Ok(s("ello")));
        assert_eq!(sub("hello", 0.0, -1.0), Ok(s("hello")));
        assert_eq!(sub("hello", -3.0, -1.0), Ok(s("llo")));
        assert_eq!(sub("hello", -3.0, 2.0), Ok(s("ll")));
        assert_eq!(sub("hello", 10.0, 2.0), Ok(s("")));
        assert_eq!(sub("hello", 2.0, 100.0), Ok(s("llo")));
        assert_eq!(sub("héllo", 1.0, 2.0), Ok(s("él")));
        assert_eq!(sub("hello", 1e15, 1e15), Ok(s("")));
        let e = sub("hello", -6.0, 1.0).unwrap_err();
        assert_eq!(e.arg, Some(1));
        assert_eq!(
            e.message,
            "substr: offset -6 is out of range for a string of 5 characters"
        );
        assert!(sub("hello", -9e18, 1.0).is_err());
        assert_eq!(
            sub("hello", 1.5, 1.0).unwrap_err().message,
            "substr: argument 2 must be a whole number, got 1.5"
        );
        assert!(call_fn("substr", vec![s("a"), s("x"), n(1.0)]).is_err());
    }

    #[test]
    fn primitive_conversions() {
        assert_eq!(call_fn("tostring", vec![n(3.0)]), Ok(s("3")));
        assert_eq!(
            call_fn("tostring", vec![Value::Bool(false)]),
            Ok(s("false"))
        );
        assert_eq!(call_fn("tostring", vec![s("x")]), Ok(s("x")));
        assert_eq!(call_fn("tostring", vec![Value::Null]), Ok(Value::Null));
        assert_eq!(
            call_fn("tostring", vec![list(vec![])]),
            Err(fail(Some(0), "tostring: cannot convert list to a string"))
        );
        assert_eq!(call_fn("tonumber", vec![s("2.5")]), Ok(n(2.5)));
        assert_eq!(call_fn("tonumber", vec![n(1.0)]), Ok(n(1.0)));
        assert_eq!(call_fn("tonumber", vec![Value::Null]), Ok(Value::Null));
        assert_eq!(
            call_fn("tonumber", vec![s("three")]),
            Err(fail(
                Some(0),
                "tonumber: cannot convert \"three\" to a number"
            ))
        );
        assert!(call_fn("tonumber", vec![s("NaN")]).is_err());
        assert!(call_fn("tonumber", vec![s("inf")]).is_err());
        assert!(call_fn("tonumber", vec![Value::Bool(true)]).is_err());
        assert_eq!(call_fn("tobool", vec![s("true")]), Ok(Value::Bool(true)));
        assert_eq!(
            call_fn("tobool", vec![Value::Bool(false)]),
            Ok(Value::Bool(false))
        );
        assert_eq!(call_fn("tobool", vec![Value::Null]), Ok(Value::Null));
        assert_eq!(
            call_fn("tobool", vec![s("yes")]),
            Err(fail(Some(0), "tobool: cannot convert \"yes\" to a bool"))
        );
        assert!(call_fn("tobool", vec![n(1.0)]).is_err());
        assert_eq!(
            call_fn("tostring", vec![secret(n(1.0))]),
            Ok(secret(s("1")))
        );
    }
}
