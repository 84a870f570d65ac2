//! Collection functions: `length`, `concat`, `merge`, `lookup`, `element`, `range`, the
//! collection conversions and friends.

use super::{
    arg, fail, integer_arg, items_arg, map_arg, number_arg, string_arg, strings_arg, type_error,
    FnContext, FnError,
};
use hive_sdk::{Type, Value};
use std::collections::{BTreeMap, HashSet};

/// The most elements `range` produces.
const MAX_RANGE: usize = 1024 * 1024;

pub(super) fn length(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let count = match arg(&args, 0) {
        Value::String(s) => s.chars().count(),
        Value::List(items) | Value::Set(items) => items.len(),
        Value::Map(entries) => entries.len(),
        other => return Err(type_error("length", 0, "a string, list, set or map", other)),
    };
    Ok(Value::Number(count as f64))
}

pub(super) fn concat(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut out = Vec::new();
    for i in 0..args.len() {
        out.extend_from_slice(items_arg("concat", &args, i)?);
    }
    Ok(Value::List(out))
}

pub(super) fn merge(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut out = BTreeMap::new();
    for (i, v) in args.into_iter().enumerate() {
        match v {
            Value::Null => {}
            Value::Map(entries) => out.extend(entries),
            other => return Err(type_error("merge", i, "a map", &other)),
        }
    }
    Ok(Value::Map(out))
}

pub(super) fn keys(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let entries = map_arg("keys", &args, 0)?;
    Ok(Value::List(entries.keys().map(Value::string).collect()))
}

pub(super) fn values(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let entries = map_arg("values", &args, 0)?;
    Ok(Value::List(entries.values().cloned().collect()))
}

pub(super) fn lookup(_: &FnContext, mut args: Vec<Value>) -> Result<Value, FnError> {
    let key = string_arg("lookup", &args, 1)?;
    let found = map_arg("lookup", &args, 0)?.get(&key).cloned();
    match found {
        Some(v) => Ok(v),
        None if args.len() > 2 => Ok(args.swap_remove(2)),
        None => Err(fail(
            Some(1),
            format!(
                "lookup: no key {} in the map and no default",
                Value::String(key)
            ),
        )),
    }
}

/// `element(list, index)`: the index wraps around the end of the list.
pub(super) fn element(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = match arg(&args, 0) {
        Value::List(items) => items,
        other => return Err(type_error("element", 0, "a list", other)),
    };
    let index = integer_arg("element", &args, 1)?;
    if index < 0 {
        return Err(fail(
            Some(1),
            format!("element: argument 2 must not be negative, got {index}"),
        ));
    }
    if items.is_empty() {
        return Err(fail(
            Some(0),
            "element: cannot take an element of an empty list",
        ));
    }
    let index = usize::try_from(index).unwrap_or(usize::MAX) % items.len();
    Ok(items.get(index).cloned().unwrap_or_default())
}

/// `range(limit)`, `range(start, limit)` or `range(start, limit, step)`, as in Terraform.
pub(super) fn range(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let nums = (0..args.len())
        .map(|i| number_arg("range", &args, i))
        .collect::<Result<Vec<f64>, FnError>>()?;
    let (start, limit, step) = match nums.as_slice() {
        [limit] => (0.0, *limit, if *limit < 0.0 { -1.0 } else { 1.0 }),
        [start, limit] => (*start, *limit, if limit < start { -1.0 } else { 1.0 }),
        [start, limit, step] => (*start, *limit, *step),
        _ => return Err(fail(None, "range takes 1 to 3 arguments")),
    };
    if step == 0.0 {
        return Err(fail(Some(2), "range: step must not be zero"));
    }
    if step > 0.0 && limit < start {
        return Err(fail(
            Some(1),
            "range: limit must not be less than start when step is positive",
        ));
    }
    if step < 0.0 && limit > start {
        return Err(fail(
            Some(1),
            "range: limit must not be greater than start when step is negative",
        ));
    }
    let count = ((limit - start) / step).ceil();
    if !count.is_finite() || count > MAX_RANGE as f64 {
        return Err(fail(
            None,
            format!("range: the range would have more than {MAX_RANGE} elements"),
        ));
    }
    let mut out = Vec::new();
    for i in 0..(count as usize) {
        let v = start + step * i as f64;
        if (step > 0.0 && v >= limit) || (step < 0.0 && v <= limit) {
            break;
        }
        out.push(Value::Number(v));
    }
    Ok(Value::List(out))
}

pub(super) fn tolist(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    convert_collection(
        "tolist",
        &args,
        Type::List(Box::new(Type::Any)),
        "a list or set",
    )
}

pub(super) fn toset(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    convert_collection(
        "toset",
        &args,
        Type::Set(Box::new(Type::Any)),
        "a list or set",
    )
}

pub(super) fn tomap(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    convert_collection("tomap", &args, Type::Map(Box::new(Type::Any)), "a map")
}

fn convert_collection(
    fname: &str,
    args: &[Value],
    to: Type,
    expected: &str,
) -> Result<Value, FnError> {
    let v = arg(args, 0);
    let same_kind = matches!(
        (&to, v.unmarked()),
        (Type::List(_) | Type::Set(_), Value::List(_) | Value::Set(_))
            | (Type::Map(_), Value::Map(_))
    );
    if same_kind {
        to.convert(v.clone())
            .map_err(|e| fail(Some(0), format!("{fname}: {e}")))
    } else {
        to.convert(v.clone())
            .map_err(|_| type_error(fname, 0, expected, v))
    }
}

pub(super) fn min(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    extreme("min", &args, f64::min)
}

pub(super) fn max(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    extreme("max", &args, f64::max)
}

fn extreme(fname: &str, args: &[Value], pick: fn(f64, f64) -> f64) -> Result<Value, FnError> {
    let mut best = number_arg(fname, args, 0)?;
    for i in 1..args.len() {
        best = pick(best, number_arg(fname, args, i)?);
    }
    Ok(Value::Number(best))
}

pub(super) fn contains(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = items_arg("contains", &args, 0)?;
    let wanted = arg(&args, 1);
    Ok(Value::Bool(items.iter().any(|item| item == wanted)))
}

pub(super) fn flatten(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    fn walk(items: &[Value], out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::List(inner) | Value::Set(inner) => walk(inner, out),
                other => out.push(other.clone()),
            }
        }
    }
    let mut out = Vec::new();
    walk(items_arg("flatten", &args, 0)?, &mut out);
    Ok(Value::List(out))
}

/// `distinct(list)`: the first occurrence of each element, in order.
pub(super) fn distinct(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut seen = HashSet::new();
    let out = items_arg("distinct", &args, 0)?
        .iter()
        .filter(|item| seen.insert(canonical(item)))
        .cloned()
        .collect();
    Ok(Value::List(out))
}

/// A string that two values share exactly when they are equal (for hashing).
fn canonical(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Null => out.push('N'),
            Value::Unknown => out.push('U'),
            Value::Bool(b) => out.push(if *b { 'T' } else { 'F' }),
            Value::Number(n) => {
                out.push('n');
                // 0.0 and -0.0 are equal values.
                out.push_str(&format!("{:?};", if *n == 0.0 { 0.0 } else { *n }));
            }
            Value::String(s) => {
                out.push('s');
                out.push_str(&serde_json::Value::String(s.clone()).to_string());
            }
            Value::List(items) | Value::Set(items) => {
                out.push(if matches!(v, Value::List(_)) {
                    '['
                } else {
                    '<'
                });
                for item in items {
                    write(item, out);
                    out.push(',');
                }
                out.push(']');
            }
            Value::Map(entries) => {
                out.push('{');
                for (k, item) in entries {
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(item, out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Sensitive(inner) => {
                out.push('!');
                write(inner, out);
            }
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// `coalesce(values...)`: the first argument that is neither null nor an empty string.
/// `coalesce(values...)`: the first that is neither null nor "", converted to the type all
/// the arguments share (a string when strings and numbers or bools meet, as Terraform does).
pub(super) fn coalesce(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let kinds: HashSet<&str> = args
        .iter()
        .filter(|v| !matches!(v, Value::Null))
        .map(Value::type_name)
        .collect();
    let primitive = |k: &&str| matches!(*k, "string" | "number" | "bool");
    let to_string = kinds.len() > 1 && kinds.contains("string") && kinds.iter().all(primitive);
    if kinds.len() > 1 && !to_string {
        return Err(fail(
            None,
            "coalesce: all arguments must have the same type (or be strings, numbers and bools)",
        ));
    }
    let found = args
        .into_iter()
        .find(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
        .ok_or_else(|| fail(None, "coalesce: all arguments are null or empty strings"))?;
    if to_string {
        return Type::String
            .convert(found)
            .map_err(|e| fail(None, format!("coalesce: {e}")));
    }
    Ok(found)
}

pub(super) fn zipmap(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let keys = strings_arg("zipmap", &args, 0)?;
    let values = items_arg("zipmap", &args, 1)?;
    if keys.len() != values.len() {
        return Err(fail(
            Some(1),
            format!(
                "zipmap: the number of keys ({}) does not match the number of values ({})",
                keys.len(),
                values.len()
            ),
        ));
    }
    Ok(Value::Map(
        keys.into_iter().zip(values.iter().cloned()).collect(),
    ))
}

/// `slice(list, start, end)`: the elements from `start` up to but not including `end`.
pub(super) fn slice(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = match arg(&args, 0) {
        Value::List(items) => items,
        other => return Err(type_error("slice", 0, "a list", other)),
    };
    let start = integer_arg("slice", &args, 1)?;
    let end = integer_arg("slice", &args, 2)?;
    let len = items.len();
    if start < 0 {
        return Err(fail(
            Some(1),
            format!("slice: start index must not be negative, got {start}"),
        ));
    }
    let end_index = usize::try_from(end)
        .ok()
        .filter(|e| *e <= len)
        .ok_or_else(|| {
            fail(
                Some(2),
                format!("slice: end index {end} is out of range for a list of {len} elements"),
            )
        })?;
    let start_index = usize::try_from(start).unwrap_or(usize::MAX);
    if start_index > end_index {
        return Err(fail(
            Some(1),
            format!("slice: start index {start} is greater than end index {end}"),
        ));
    }
    Ok(Value::List(
        items
            .get(start_index..end_index)
            .unwrap_or_default()
            .to_vec(),
    ))
}

/// `sort(list)`: strings in lexical order (numbers convert to strings, as in Terraform).
pub(super) fn sort(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut items = strings_arg("sort", &args, 0)?;
    items.sort();
    Ok(Value::List(items.into_iter().map(Value::String).collect()))
}

pub(super) fn reverse(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = items_arg("reverse", &args, 0)?;
    Ok(Value::List(items.iter().rev().cloned().collect()))
}

/// `compact(list)`: the strings that are neither null nor empty.
pub(super) fn compact(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = match arg(&args, 0) {
        Value::List(items) | Value::Set(items) => items,
        other => return Err(type_error("compact", 0, "a list of strings", other)),
    };
    let mut out = Vec::new();
    for (j, item) in items.iter().enumerate() {
        match item {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                let text = Type::String.convert(item.clone()).unwrap_or_default();
                out.push(text);
            }
            other => {
                return Err(fail(
                    Some(0),
                    format!(
                        "compact: argument 1 must be a list of strings, element {j} is {}",
                        other.type_name()
                    ),
                ))
            }
        }
    }
    Ok(Value::List(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn nums(xs: &[f64]) -> Value {
        Value::List(xs.iter().map(|x| Value::Number(*x)).collect())
    }

    fn m(entries: &[(&str, Value)]) -> Value {
        Value::map(entries.iter().cloned())
    }

    #[test]
    fn length_of_everything() {
        assert_eq!(call_fn("length", vec![s("héllo")]), Ok(n(5.0)));
        assert_eq!(call_fn("length", vec![strs(&["a", "b"])]), Ok(n(2.0)));
        assert_eq!(
            call_fn("length", vec![Value::set(vec![n(1.0), n(1.0)])]),
            Ok(n(1.0))
        );
        assert_eq!(call_fn("length", vec![m(&[("a", n(1.0))])]), Ok(n(1.0)));
        assert_eq!(
            call_fn("length", vec![m(&[("a", Value::Unknown)])]),
            Ok(n(1.0))
        );
        assert_eq!(
            call_fn("length", vec![n(3.0)]),
            Err(fail(
                Some(0),
                "length: argument 1 must be a string, list, set or map, got number"
            ))
        );
        assert!(call_fn("length", vec![Value::Null]).is_err());
    }

    #[test]
    fn concat_and_merge() {
        assert_eq!(
            call_fn(
                "concat",
                vec![strs(&["a"]), strs(&[]), Value::set(vec![s("b")])]
            ),
            Ok(strs(&["a", "b"]))
        );
        assert_eq!(
            call_fn("concat", vec![strs(&["a"]), s("b")]),
            Err(fail(
                Some(1),
                "concat: argument 2 must be a list or set, got string"
            ))
        );
        assert_eq!(
            call_fn(
                "merge",
                vec![
                    m(&[("a", n(1.0)), ("b", n(2.0))]),
                    Value::Null,
                    m(&[("b", n(3.0))]),
                ]
            ),
            Ok(m(&[("a", n(1.0)), ("b", n(3.0))]))
        );
        assert_eq!(
            call_fn("merge", vec![m(&[]), strs(&[])]),
            Err(fail(Some(1), "merge: argument 2 must be a map, got list"))
        );
        // Unknown values inside maps do not stop merge.
        assert_eq!(
            call_fn(
                "merge",
                vec![m(&[("a", Value::Unknown)]), m(&[("b", n(1.0))])]
            ),
            Ok(m(&[("a", Value::Unknown), ("b", n(1.0))]))
        );
    }

    #[test]
    fn keys_values_lookup() {
        let map = m(&[("b", n(2.0)), ("a", n(1.0))]);
        assert_eq!(call_fn("keys", vec![map.clone()]), Ok(strs(&["a", "b"])));
        assert_eq!(call_fn("values", vec![map.clone()]), Ok(nums(&[1.0, 2.0])));
        assert_eq!(call_fn("lookup", vec![map.clone(), s("b")]), Ok(n(2.0)));
        assert_eq!(
            call_fn("lookup", vec![map.clone(), s("z"), s("dflt")]),
            Ok(s("dflt"))
        );
        assert_eq!(
            call_fn("lookup", vec![map.clone(), s("a"), s("dflt")]),
            Ok(n(1.0))
        );
        assert_eq!(
            call_fn("lookup", vec![map.clone(), s("z")]),
            Err(fail(
                Some(1),
                "lookup: no key \"z\" in the map and no default"
            ))
        );
        assert_eq!(
            call_fn("lookup", vec![strs(&[]), s("z")]),
            Err(fail(Some(0), "lookup: argument 1 must be a map, got list"))
        );
        assert!(call_fn("keys", vec![strs(&["a"])]).is_err());
        assert!(call_fn("values", vec![Value::Null]).is_err());
    }

    #[test]
    fn element_wraps() {
        let l = strs(&["a", "b", "c"]);
        assert_eq!(call_fn("element", vec![l.clone(), n(1.0)]), Ok(s("b")));
        assert_eq!(call_fn("element", vec![l.clone(), n(5.0)]), Ok(s("c")));
        assert_eq!(
            call_fn("element", vec![l.clone(), n(9e18)]).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            call_fn("element", vec![l.clone(), n(-1.0)]),
            Err(fail(
                Some(1),
                "element: argument 2 must not be negative, got -1"
            ))
        );
        assert_eq!(
            call_fn("element", vec![strs(&[]), n(0.0)]),
            Err(fail(
                Some(0),
                "element: cannot take an element of an empty list"
            ))
        );
        assert!(call_fn("element", vec![l.clone(), n(0.5)]).is_err());
        assert!(call_fn("element", vec![s("abc"), n(0.0)]).is_err());
        assert!(call_fn("element", vec![l, n(1e300)]).is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(call_fn("range", vec![n(3.0)]), Ok(nums(&[0.0, 1.0, 2.0])));
        assert_eq!(
            call_fn("range", vec![n(-3.0)]),
            Ok(nums(&[0.0, -1.0, -2.0]))
        );
        assert_eq!(
            call_fn("range", vec![n(1.0), n(4.0)]),
            Ok(nums(&[1.0, 2.0, 3.0]))
        );
        assert_eq!(
            call_fn("range", vec![n(4.0), n(1.0)]),
            Ok(nums(&[4.0, 3.0, 2.0]))
        );
        assert_eq!(
            call_fn("range", vec![n(0.0), n(10.0), n(3.0)]),
            Ok(nums(&[0.0, 3.0, 6.0, 9.0]))
        );
        assert_eq!(
            call_fn("range", vec![n(0.0), n(1.0), n(0.25)]),
            Ok(nums(&[0.0, 0.25, 0.5, 0.75]))
        );
        assert_eq!(call_fn("range", vec![n(2.0), n(2.0)]), Ok(nums(&[])));
        assert_eq!(call_fn("range", vec![n(0.0)]), Ok(nums(&[])));
        assert_eq!(
            call_fn("range", vec![n(0.0), n(1.0), n(0.0)]),
            Err(fail(Some(2), "range: step must not be zero"))
        );
        assert!(call_fn("range", vec![n(0.0), n(5.0), n(-1.0)]).is_err());
        assert!(call_fn("range", vec![n(5.0), n(0.0), n(1.0)]).is_err());
        assert_eq!(
            call_fn("range", vec![n(1e300)]).unwrap_err().message,
            "range: the range would have more than 1048576 elements"
        );
        assert!(call_fn("range", vec![n(-1e308), n(1e308)]).is_err());
        assert!(call_fn("range", vec![n(0.0), n(1.0), n(1e-300)]).is_err());
        assert!(call_fn("range", vec![n(f64::NAN)]).is_err());
        assert!(call_fn("range", vec![n(f64::INFINITY)]).is_err());
        assert!(call_fn("range", vec![s("x")]).is_err());
        assert_eq!(
            call_fn("range", vec![n(1024.0 * 1024.0)]).map(|v| v.as_items().map(<[Value]>::len)),
            Ok(Some(1024 * 1024))
        );
    }

    #[test]
    fn collection_conversions() {
        assert_eq!(
            call_fn("toset", vec![strs(&["b", "a", "b"])]),
            Ok(Value::set(vec![s("a"), s("b")]))
        );
        assert_eq!(
            call_fn("toset", vec![m(&[])]),
            Err(fail(
                Some(0),
                "toset: argument 1 must be a list or set, got map"
            ))
        );
        assert_eq!(
            call_fn("tolist", vec![Value::set(vec![s("b"), s("a")])]),
            Ok(strs(&["a", "b"]))
        );
        assert_eq!(
            call_fn("tolist", vec![list(vec![Value::Unknown])]),
            Ok(list(vec![Value::Unknown]))
        );
        assert!(call_fn("tolist", vec![s("a")]).is_err());
        assert_eq!(call_fn("tolist", vec![Value::Null]), Ok(Value::Null));
        assert_eq!(
            call_fn("tomap", vec![m(&[("a", n(1.0))])]),
            Ok(m(&[("a", n(1.0))]))
        );
        assert_eq!(
            call_fn("tomap", vec![strs(&[])]),
            Err(fail(Some(0), "tomap: argument 1 must be a map, got list"))
        );
    }

    #[test]
    fn min_and_max() {
        assert_eq!(call_fn("min", vec![n(3.0), n(-1.0), n(2.0)]), Ok(n(-1.0)));
        assert_eq!(call_fn("max", vec![n(3.0), s("7"), n(2.0)]), Ok(n(7.0)));
        assert_eq!(call_fn("max", vec![n(3.0)]), Ok(n(3.0)));
        assert_eq!(
            call_fn("max", vec![]),
            Err(fail(None, "max needs at least 1 argument, got 0"))
        );
        assert_eq!(
            call_fn("min", vec![n(1.0), strs(&[])]),
            Err(fail(Some(1), "min: argument 2 must be a number, got list"))
        );
        assert!(call_fn("min", vec![n(f64::NAN)]).is_err());
    }

    #[test]
    fn contains_flatten_distinct() {
        assert_eq!(
            call_fn("contains", vec![strs(&["a", "b"]), s("b")]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_fn("contains", vec![strs(&["a", "b"]), s("c")]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call_fn("contains", vec![Value::set(vec![n(1.0)]), n(1.0)]),
            Ok(Value::Bool(true))
        );
        assert!(call_fn("contains", vec![s("abc"), s("a")]).is_err());
        assert_eq!(
            call_fn(
                "flatten",
                vec![list(vec![
                    strs(&["a"]),
                    list(vec![strs(&["b"]), s("c")]),
                    list(vec![]),
                    m(&[("k", n(1.0))]),
                ])]
            ),
            Ok(list(vec![s("a"), s("b"), s("c"), m(&[("k", n(1.0))])]))
        );
        assert!(call_fn("flatten", vec![m(&[])]).is_err());
        assert_eq!(
            call_fn(
                "distinct",
                vec![list(vec![s("b"), s("a"), s("b"), n(1.0), s("1"), n(1.0)])]
            ),
            Ok(list(vec![s("b"), s("a"), n(1.0), s("1")]))
        );
        assert_eq!(
            call_fn(
                "distinct",
                vec![list(vec![
                    strs(&["a"]),
                    Value::set(vec![s("a")]),
                    strs(&["a"])
                ])]
            ),
            Ok(list(vec![strs(&["a"]), Value::set(vec![s("a")])]))
        );
        assert!(call_fn("distinct", vec![n(1.0)]).is_err());
    }

    #[test]
    fn coalesce_and_compact() {
        assert_eq!(
            call_fn("coalesce", vec![Value::Null, s(""), s("x"), s("y")]),
            Ok(s("x"))
        );
        assert_eq!(call_fn("coalesce", vec![n(0.0)]), Ok(n(0.0)));
        assert_eq!(
            call_fn("coalesce", vec![Value::Null, s("")]),
            Err(fail(
                None,
                "coalesce: all arguments are null or empty strings"
            ))
        );
        assert_eq!(
            call_fn(
                "compact",
                vec![list(vec![s("a"), s(""), Value::Null, n(1.0)])]
            ),
            Ok(strs(&["a", "1"]))
        );
        assert_eq!(
            call_fn("compact", vec![list(vec![s("a"), strs(&[])])])
                .unwrap_err()
                .message,
            "compact: argument 1 must be a list of strings, element 1 is list"
        );
        assert!(call_fn("compact", vec![s("a")]).is_err());
    }

    #[test]
    fn zipmap_slice_sort_reverse() {
        assert_eq!(
            call_fn("zipmap", vec![strs(&["a", "b"]), nums(&[1.0, 2.0])]),
            Ok(m(&[("a", n(1.0)), ("b", n(2.0))]))
        );
        assert_eq!(
            call_fn("zipmap", vec![strs(&["a"]), nums(&[1.0, 2.0])]),
            Err(fail(
                Some(1),
                "zipmap: the number of keys (1) does not match the number of values (2)"
            ))
        );
        assert!(call_fn("zipmap", vec![list(vec![strs(&[])]), nums(&[1.0])]).is_err());
        assert!(call_fn("zipmap", vec![strs(&["a"]), n(1.0)]).is_err());

        let l = strs(&["a", "b", "c", "d"]);
        assert_eq!(
            call_fn("slice", vec![l.clone(), n(1.0), n(3.0)]),
            Ok(strs(&["b", "c"]))
        );
        assert_eq!(
            call_fn("slice", vec![l.clone(), n(4.0), n(4.0)]),
            Ok(strs(&[]))
        );
        assert_eq!(
            call_fn("slice", vec![l.clone(), n(1.0), n(5.0)]),
            Err(fail(
                Some(2),
                "slice: end index 5 is out of range for a list of 4 elements"
            ))
        );
        assert_eq!(
            call_fn("slice", vec![l.clone(), n(3.0), n(2.0)]),
            Err(fail(
                Some(1),
                "slice: start index 3 is greater than end index 2"
            ))
        );
        assert!(call_fn("slice", vec![l.clone(), n(-1.0), n(2.0)]).is_err());
        assert!(call_fn("slice", vec![l.clone(), n(0.0), n(-2.0)]).is_err());
        assert!(call_fn("slice", vec![s("abc"), n(0.0), n(1.0)]).is_err());

        assert_eq!(
            call_fn("sort", vec![strs(&["b", "a", "C", "10", "9"])]),
            Ok(strs(&["10", "9", "C", "a", "b"]))
        );
        assert_eq!(
            call_fn("sort", vec![nums(&[10.0, 9.0])]),
            Ok(strs(&["10", "9"]))
        );
        assert!(call_fn("sort", vec![list(vec![m(&[])])]).is_err());
        assert_eq!(
            call_fn("reverse", vec![strs(&["a", "b", "c"])]),
            Ok(strs(&["c", "b", "a"]))
        );
        assert!(call_fn("reverse", vec![s("abc")]).is_err());
    }
}
