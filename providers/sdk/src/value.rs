//! Values as the language and the providers see them.
//!
//! A value may be *unknown* (a backend computes it during apply) and may be *sensitive* (it must
//! never be printed). Both are part of the value so they travel through expressions: an
//! operation on an unknown value is unknown, an operation on a sensitive value is sensitive.

use std::collections::BTreeMap;
use std::fmt;

/// A configuration or backend value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// Lists and tuples: ordered, may repeat.
    List(Vec<Value>),
    /// Sets: kept sorted and without duplicates (see [`Value::set`]).
    Set(Vec<Value>),
    /// Maps and objects: keys are sorted, as Terraform users expect when iterating.
    Map(BTreeMap<String, Value>),
    /// Known only after apply.
    Unknown,
    /// A value that must be shown as `(sensitive)`.
    Sensitive(Box<Value>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A set from any values: sorted by their canonical rendering and deduplicated.
    pub fn set(mut items: Vec<Value>) -> Value {
        items.sort_by_key(Value::sort_key);
        items.dedup();
        Value::Set(items)
    }

    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Wraps `self` as sensitive when `sensitive` is true (and it is not already).
    pub fn mark_sensitive_if(self, sensitive: bool) -> Value {
        match self {
            Value::Sensitive(_) => self,
            v if sensitive => Value::Sensitive(Box::new(v)),
            v => v,
        }
    }

    /// The value without a top-level sensitive mark, and whether there was one.
    pub fn unmark(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (inner.unmark().0, true),
            v => (v, false),
        }
    }

    pub fn unmarked(&self) -> &Value {
        match self {
            Value::Sensitive(inner) => inner.unmarked(),
            v => v,
        }
    }

    /// Removes sensitive marks at every depth; returns whether any was found.
    pub fn unmark_deep(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (inner.unmark_deep().0, true),
            Value::List(items) => {
                let (items, any) = unmark_all(items);
                (Value::List(items), any)
            }
            Value::Set(items) => {
                let (items, any) = unmark_all(items);
                (Value::Set(items), any)
            }
            Value::Map(entries) => {
                let mut any = false;
                let entries = entries
                    .into_iter()
                    .map(|(k, v)| {
                        let (v, s) = v.unmark_deep();
                        any |= s;
                        (k, v)
                    })
                    .collect();
                (Value::Map(entries), any)
            }
            v => (v, false),
        }
    }

    /// Every string and number inside the sensitive parts of this value, as text: what must
    /// never appear in output.
    pub fn sensitive_texts(&self, out: &mut Vec<String>) {
        fn leaves(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(format_number(*n)),
                Value::List(items) | Value::Set(items) => items.iter().for_each(|i| leaves(i, out)),
                Value::Map(entries) => entries.values().for_each(|i| leaves(i, out)),
                Value::Sensitive(inner) => leaves(inner, out),
                _ => {}
            }
        }
        match self {
            Value::Sensitive(inner) => leaves(inner, out),
            Value::List(items) | Value::Set(items) => {
                items.iter().for_each(|i| i.sensitive_texts(out))
            }
            Value::Map(entries) => entries.values().for_each(|i| i.sensitive_texts(out)),
            _ => {}
        }
    }

    /// Marks sensitive every string that contains one of `secrets`: a backend's answer that
    /// echoes a secret (a command's output, an error text) stays secret.
    pub fn mark_strings_containing(self, secrets: &[String]) -> Value {
        if secrets.is_empty() {
            return self;
        }
        match self {
            Value::String(s) => {
                let found = secrets
                    .iter()
                    .any(|secret| secret.len() >= 3 && s.contains(secret.as_str()));
                Value::String(s).mark_sensitive_if(found)
            }
            Value::List(items) => Value::List(
                items
                    .into_iter()
                    .map(|v| v.mark_strings_containing(secrets))
                    .collect(),
            ),
            Value::Set(items) => Value::Set(
                items
                    .into_iter()
                    .map(|v| v.mark_strings_containing(secrets))
                    .collect(),
            ),
            Value::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.mark_strings_containing(secrets)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// True if this value or anything inside it is sensitive.
    pub fn contains_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(items) | Value::Set(items) => items.iter().any(Value::contains_sensitive),
            Value::Map(entries) => entries.values().any(Value::contains_sensitive),
            _ => false,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.unmarked(), Value::Unknown)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.unmarked(), Value::Null)
    }

    /// True if no part of the value is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Sensitive(inner) => inner.is_wholly_known(),
            Value::List(items) | Value::Set(items) => items.iter().all(Value::is_wholly_known),
            Value::Map(entries) => entries.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// Where the first unknown part is (`network[0].bridge.name`), for error messages.
    pub fn first_unknown(&self) -> Option<String> {
        match self {
            Value::Unknown => Some(String::new()),
            Value::Sensitive(inner) => inner.first_unknown(),
            Value::List(items) | Value::Set(items) => {
                items.iter().enumerate().find_map(|(i, v)| {
                    v.first_unknown()
                        .map(|rest| format!("[{i}]{}", dotted(&rest)))
                })
            }
            Value::Map(entries) => entries.iter().find_map(|(k, v)| {
                v.first_unknown()
                    .map(|rest| format!("{k}{}", dotted(&rest)))
            }),
            _ => None,
        }
    }

    /// The name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Sensitive(inner) => inner.type_name(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.unmarked() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.unmarked() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self.unmarked() {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of a list or a set.
    pub fn as_items(&self) -> Option<&[Value]> {
        match self.unmarked() {
            Value::List(items) | Value::Set(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unmarked() {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// An attribute of an object, when it is set (not null).
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.as_map()
            .and_then(|m| m.get(name))
            .filter(|v| !v.is_null())
    }

    /// A string attribute of an object, when it is set.
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(Value::as_str)
    }

    /// A key that orders values of one kind naturally (numbers by size, strings lexically).
    fn sort_key(&self) -> (u8, OrderedF64, String) {
        match self.unmarked() {
            Value::Number(n) => (1, OrderedF64(*n), String::new()),
            Value::String(s) => (2, OrderedF64(0.0), s.clone()),
            other => (3, OrderedF64(0.0), other.to_json().to_string()),
        }
    }

    /// The JSON form of a known value: unknown becomes null and sensitive marks are dropped, so
    /// callers that may see either must check first.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null | Value::Unknown => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => number_to_json(*n),
            Value::String(s) => J::String(s.clone()),
            Value::List(items) | Value::Set(items) => {
                J::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Sensitive(inner) => inner.to_json(),
        }
    }

    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Value::String(s.clone()),
            J::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            J::Object(entries) => Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// The lossless JSON form used in state and plan files: plain JSON for plain values, and
/// `{"$set": [...]}`, `{"$unknown": true}`, `{"$sensitive": ...}` for what JSON cannot say.
/// A map key that starts with `$` is written with one more `$`.
pub mod tagged {
    use super::Value;
    use serde_json::{json, Map, Value as J};

    pub fn to_json(v: &Value) -> J {
        match v {
            Value::Set(items) => json!({ "$set": items.iter().map(to_json).collect::<Vec<_>>() }),
            Value::Unknown => json!({ "$unknown": true }),
            Value::Sensitive(inner) => json!({ "$sensitive": to_json(inner) }),
            Value::List(items) => J::Array(items.iter().map(to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = if k.starts_with('$') {
                            format!("${k}")
                        } else {
                            k.clone()
                        };
                        (key, to_json(v))
                    })
                    .collect(),
            ),
            plain => plain.to_json(),
        }
    }

    pub fn from_json(j: &J) -> Value {
        match j {
            J::Array(items) => Value::List(items.iter().map(from_json).collect()),
            J::Object(map) => from_object(map),
            plain => Value::from_json(plain),
        }
    }

    fn from_object(map: &Map<String, J>) -> Value {
        if map.len() == 1 {
            if let Some(J::Array(items)) = map.get("$set") {
                return Value::Set(items.iter().map(from_json).collect());
            }
            if map.get("$unknown") == Some(&J::Bool(true)) {
                return Value::Unknown;
            }
            if let Some(inner) = map.get("$sensitive") {
                return Value::Sensitive(Box::new(from_json(inner)));
            }
        }
        Value::Map(
            map.iter()
                .map(|(k, v)| {
                    let key = k
                        .strip_prefix('$')
                        .filter(|r| r.starts_with('$'))
                        .unwrap_or(k);
                    (key.to_string(), from_json(v))
                })
                .collect(),
        )
    }
}

fn unmark_all(items: Vec<Value>) -> (Vec<Value>, bool) {
    let mut any = false;
    let items = items
        .into_iter()
        .map(|v| {
            let (v, s) = v.unmark_deep();
            any |= s;
            v
        })
        .collect();
    (items, any)
}

/// Integers print without a fraction (`3`, not `3.0`), as users write them.
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

pub fn format_number(n: f64) -> String {
    if n == 0.0 && n.is_sign_negative() {
        return "-0".into();
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    if !n.is_finite() {
        return format!("{n}");
    }
    // The shortest digits that read back as `n`, written out without an exponent, as
    // Terraform writes numbers (1e21 is 1000000000000000000000, 1e-7 is 0.0000001).
    let scientific = format!("{:e}", n.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    };
    if n < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

fn number_to_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// A float with a total order, for sorting set elements.
#[derive(PartialEq)]
struct OrderedF64(f64);
impl Eq for OrderedF64 {}
impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Renders a value as the user would write it in HCL; sensitive parts print as `(sensitive)` and
/// unknown ones as `(known after apply)`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{}", format_number(*n)),
            Value::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Value::List(items) | Value::Set(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Value::Map(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k} = {v}", if i > 0 { ", " } else { " " })?;
                }
                write!(f, "{}}}", if entries.is_empty() { "" } else { " " })
            }
            Value::Unknown => write!(f, "(known after apply)"),
            Value::Sensitive(_) => write!(f, "(sensitive)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_sorted_and_deduplicated() {
        let s = Value::set(vec![
            Value::string("b"),
            Value::string("a"),
            Value::string("b"),
        ]);
        assert_eq!(s, Value::Set(vec![Value::string("a"), Value::string("b")]));
        let n = Value::set(vec![Value::Number(10.0), Value::Number(9.0)]);
        assert_eq!(n, Value::Set(vec![Value::Number(9.0), Value::Number(10.0)]));
    }

    #[test]
    fn display_redacts_sensitive_and_unknown() {
        let v = Value::map([
            ("a", Value::string("x").mark_sensitive_if(true)),
            ("b", Value::Unknown),
            ("c", Value::Number(3.0)),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{ a = (sensitive), b = (known after apply), c = 3 }"#
        );
    }

    #[test]
    fn tagged_json_round_trips_everything() {
        let v = Value::map([
            ("$weird", Value::string("k")),
            (
                "set",
                Value::set(vec![Value::Number(2.0), Value::Number(1.5)]),
            ),
            ("u", Value::Unknown),
            (
                "s",
                Value::List(vec![Value::string("x").mark_sensitive_if(true)]),
            ),
            ("n", Value::Null),
        ]);
        let j = tagged::to_json(&v);
        assert_eq!(j["$$weird"], "k");
        assert_eq!(tagged::from_json(&j), v);
    }

    #[test]
    fn unmark_deep_finds_nested_marks() {
        let v = Value::List(vec![Value::string("s").mark_sensitive_if(true)]);
        assert!(v.contains_sensitive());
        let (plain, any) = v.unmark_deep();
        assert!(any);
        assert_eq!(plain, Value::List(vec![Value::string("s")]));
    }
}
