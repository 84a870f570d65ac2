//! More collection functions: `one`, `index`, `chunklist`, `coalescelist`, `matchkeys`, the
//! set operations, `alltrue`/`anytrue` and `transpose`.

use super::{arg, fail, integer_arg, items_arg, map_arg, type_error, FnContext, FnError};
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;

/// `one(list)`: its one element, or null when empty.
pub(super) fn one(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    match items_arg("one", &args, 0)? {
        [] => Ok(Value::Null),
        [only] => Ok(only.clone()),
        _ => Err(fail(
            Some(0),
            "one: the list must have no more than one element",
        )),
    }
}

/// `index(list, value)`: where the value first is.
pub(super) fn index(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = match arg(&args, 0) {
        Value::List(items) => items,
        other => return Err(type_error("index", 0, "a list", other)),
    };
    let wanted = arg(&args, 1);
    items
        .iter()
        .position(|v| v == wanted)
        .map(|i| Value::Number(i as f64))
        .ok_or_else(|| fail(None, "index: the item is not in the list"))
}

/// `chunklist(list, size)`: consecutive chunks of `size` (0: the whole list, one chunk).
pub(super) fn chunklist(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let items = items_arg("chunklist", &args, 0)?;
    let size = integer_arg("chunklist", &args, 1)?;
    if size < 0 {
        return Err(fail(
            Some(1),
            "chunklist: the size must be positive or zero",
        ));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(items.to_vec())]));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::List(
        items
            .chunks(size)
            .map(|c| Value::List(c.to_vec()))
            .collect(),
    ))
}

/// `coalescelist(lists...)`: the first that is not empty.
pub(super) fn coalescelist(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    for i in 0..args.len() {
        let items = items_arg("coalescelist", &args, i)?;
        if !items.is_empty() {
            return Ok(Value::List(items.to_vec()));
        }
    }
    Err(fail(
        None,
        "coalescelist: no non-empty list or set among the arguments",
    ))
}

/// `matchkeys(values, keys, searchset)`: the values whose key (same position) is in
/// `searchset`.
pub(super) fn matchkeys(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let values = items_arg("matchkeys", &args, 0)?;
    let keys = items_arg("matchkeys", &args, 1)?;
    let search = items_arg("matchkeys", &args, 2)?;
    if values.len() != keys.len() {
        return Err(fail(
            None,
            "matchkeys: the length of values and keys must be the same",
        ));
    }
    Ok(Value::List(
        values
            .iter()
            .zip(keys)
            .filter(|(_, k)| search.contains(k))
            .map(|(v, _)| v.clone())
            .collect(),
    ))
}

/// The elements of each argument, as a set.
fn sets(fname: &str, args: &[Value]) -> Result<Vec<Vec<Value>>, FnError> {
    (0..args.len())
        .map(|i| items_arg(fname, args, i).map(<[Value]>::to_vec))
        .collect()
}

fn as_set(items: Vec<Value>) -> Result<Value, FnError> {
    Type::Set(Box::new(Type::Any))
        .convert(Value::List(items))
        .map_err(|e| fail(None, e.to_string()))
}

pub(super) fn setunion(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    as_set(sets("setunion", &args)?.into_iter().flatten().collect())
}

pub(super) fn setintersection(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let mut all = sets("setintersection", &args)?.into_iter();
    let first = all.next().unwrap_or_default();
    let rest: Vec<Vec<Value>> = all.collect();
    as_set(
        first
            .into_iter()
            .filter(|v| rest.iter().all(|s| s.contains(v)))
            .collect(),
    )
}

pub(super) fn setsubtract(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let all = sets("setsubtract", &args)?;
    let (a, b) = (&all[0], &all[1]);
    as_set(a.iter().filter(|v| !b.contains(v)).cloned().collect())
}

/// `setproduct(sets...)`: every combination, one element from each; a list when the
/// arguments are lists, else a set.
pub(super) fn setproduct(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    if args.len() < 2 {
        return Err(fail(
            None,
            "setproduct: at least two arguments are required",
        ));
    }
    let all_lists = args.iter().all(|a| matches!(a, Value::List(_)));
    let mut product: Vec<Vec<Value>> = vec![Vec::new()];
    for set in sets("setproduct", &args)? {
        product = product
            .into_iter()
            .flat_map(|prefix| {
                set.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    let combos: Vec<Value> = product.into_iter().map(Value::List).collect();
    if all_lists {
        Ok(Value::List(combos))
    } else {
        as_set(combos)
    }
}

fn bools(fname: &str, args: &[Value]) -> Result<Vec<bool>, FnError> {
    items_arg(fname, args, 0)?
        .iter()
        .map(|v| match Type::Bool.convert(v.clone()) {
            Ok(Value::Bool(b)) => Ok(b),
            _ => Err(fail(
                Some(0),
                format!(
                    "{fname}: every element must be a bool, got {}",
                    v.type_name()
                ),
            )),
        })
        .collect()
}

pub(super) fn alltrue(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::Bool(bools("alltrue", &args)?.into_iter().all(|b| b)))
}

pub(super) fn anytrue(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    Ok(Value::Bool(bools("anytrue", &args)?.into_iter().any(|b| b)))
}

/// `transpose(map of lists of strings)`: each string to the keys whose lists hold it.
pub(super) fn transpose(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let map = map_arg("transpose", &args, 0)?;
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (key, list) in map {
        let (Value::List(items) | Value::Set(items)) = list else {
            return Err(fail(
                Some(0),
                format!("transpose: the value of {key:?} must be a list of strings"),
            ));
        };
        for item in items {
            let Ok(Value::String(s)) = Type::String.convert(item.clone()) else {
                return Err(fail(
                    Some(0),
                    format!("transpose: the list of {key:?} must hold strings"),
                ));
            };
            out.entry(s).or_default().push(Value::string(key));
        }
    }
    Ok(Value::Map(
        out.into_iter().map(|(k, v)| (k, Value::List(v))).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, n, s};
    use hive_sdk::Value;

    fn list(items: &[Value]) -> Value {
        Value::List(items.to_vec())
    }

    #[test]
    fn lists_as_terraform_has_them() {
        assert_eq!(call_fn("one", vec![list(&[])]), Ok(Value::Null));
        assert_eq!(call_fn("one", vec![list(&[n(1.0)])]), Ok(n(1.0)));
        assert!(call_fn("one", vec![list(&[n(1.0), n(2.0)])]).is_err());
        assert_eq!(
            call_fn("index", vec![list(&[s("a"), s("b")]), s("b")]),
            Ok(n(1.0))
        );
        assert_eq!(
            call_fn("chunklist", vec![list(&[n(1.0), n(2.0), n(3.0)]), n(2.0)]),
            Ok(list(&[list(&[n(1.0), n(2.0)]), list(&[n(3.0)])]))
        );
        assert_eq!(call_fn("alltrue", vec![list(&[])]), Ok(Value::Bool(true)));
        assert_eq!(
            call_fn("anytrue", vec![list(&[s("false"), Value::Bool(true)])]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_fn("setproduct", vec![list(&[s("a"), s("b")]), list(&[n(1.0)])]),
            Ok(list(&[list(&[s("a"), n(1.0)]), list(&[s("b"), n(1.0)])]))
        );
    }
}
