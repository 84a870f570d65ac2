//! Types of values, and conversion of a value to a type (the rules Terraform users know: numbers
//! and bools convert to strings and back, lists and sets convert into each other, objects into
//! maps).

use crate::value::{format_number, Value};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    /// Named attributes; an attribute whose flag is true is optional.
    Object(BTreeMap<String, (Type, bool)>),
}

/// Why a value does not fit a type. `path` locates the offending part (`[2].name`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

impl ConvertError {
    fn new(message: impl Into<String>) -> ConvertError {
        ConvertError {
            path: String::new(),
            message: message.into(),
        }
    }

    fn within(mut self, step: &str) -> ConvertError {
        self.path = format!("{step}{}", self.path);
        self
    }
}

impl Type {
    /// Converts `value` to this type. Unknown and null values convert to anything; sensitive
    /// marks are kept.
    pub fn convert(&self, value: Value) -> Result<Value, ConvertError> {
        let (value, sensitive) = value.unmark();
        match self.convert_unmarked(value) {
            Ok(converted) => Ok(converted.mark_sensitive_if(sensitive)),
            // The message may quote the value: never let it show a secret.
            Err(e) if sensitive => Err(ConvertError::new(format!(
                "the value (sensitive) does not fit type {self}"
            ))
            .within(&e.path)),
            Err(e) => Err(e),
        }
    }

    fn convert_unmarked(&self, value: Value) -> Result<Value, ConvertError> {
        if matches!(value, Value::Unknown | Value::Null) {
            return Ok(value);
        }
        match self {
            Type::Any => Ok(value),
            Type::String => match value {
                Value::String(_) => Ok(value),
                Value::Number(n) => Ok(Value::String(format_number(n))),
                Value::Bool(b) => Ok(Value::String(b.to_string())),
                other => Err(self.mismatch(&other)),
            },
            Type::Number => match value {
                Value::Number(_) => Ok(value),
                Value::String(ref s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map(Value::Number)
                    .ok_or_else(|| {
                        ConvertError::new(format!("cannot convert {value} to a number"))
                    }),
                other => Err(self.mismatch(&other)),
            },
            Type::Bool => match value {
                Value::Bool(_) => Ok(value),
                Value::String(ref s) if s == "true" => Ok(Value::Bool(true)),
                Value::String(ref s) if s == "false" => Ok(Value::Bool(false)),
                other => Err(self.mismatch(&other)),
            },
            Type::List(element) => match value {
                Value::List(items) | Value::Set(items) => {
                    let element = single_type(element, items.iter(), "list")?;
                    Ok(Value::List(convert_items(&element, items)?))
                }
                other => Err(self.mismatch(&other)),
            },
            Type::Set(element) => match value {
                Value::List(items) | Value::Set(items) => {
                    let element = single_type(element, items.iter(), "set")?;
                    Ok(Value::set(convert_items(&element, items)?))
                }
                other => Err(self.mismatch(&other)),
            },
            Type::Map(element) => match value {
                Value::Map(entries) => {
                    let element = single_type(element, entries.values(), "map")?;
                    let mut out = BTreeMap::new();
                    for (k, v) in entries {
                        let v = element
                            .convert(v)
                            .map_err(|e| e.within(&format!("[{k:?}]")))?;
                        out.insert(k, v);
                    }
                    Ok(Value::Map(out))
                }
                other => Err(self.mismatch(&other)),
            },
            Type::Object(fields) => match value {
                Value::Map(mut entries) => {
                    let mut out = BTreeMap::new();
                    for (name, (field_type, optional)) in fields {
                        match entries.remove(name) {
                            Some(v) => {
                                let v = field_type
                                    .convert(v)
                                    .map_err(|e| e.within(&format!(".{name}")))?;
                                out.insert(name.clone(), v);
                            }
                            None if *optional => {
                                out.insert(name.clone(), Value::Null);
                            }
                            None => {
                                return Err(ConvertError::new(format!(
                                    "attribute \"{name}\" is required"
                                )))
                            }
                        }
                    }
                    if let Some(extra) = entries.keys().next() {
                        return Err(ConvertError::new(format!(
                            "unexpected attribute \"{extra}\"; the type has {}",
                            describe_fields(fields)
                        )));
                    }
                    Ok(Value::Map(out))
                }
                other => Err(self.mismatch(&other)),
            },
        }
    }

    fn mismatch(&self, value: &Value) -> ConvertError {
        ConvertError::new(format!("{self} required, got {}", value.type_name()))
    }
}

fn describe_fields(fields: &BTreeMap<String, (Type, bool)>) -> String {
    if fields.is_empty() {
        return "no attributes".to_string();
    }
    let names: Vec<String> = fields.keys().map(|k| format!("\"{k}\"")).collect();
    format!("attributes {}", names.join(", "))
}

/// The element type a collection of `any` takes, as Terraform unifies one: its elements'
/// one primitive type, or string when strings meet numbers or bools (numbers and bools
/// alone have none). Elements that are collections are left as they are.
fn single_type<'v>(
    element: &Type,
    values: impl Iterator<Item = &'v Value>,
    what: &str,
) -> Result<Type, ConvertError> {
    if *element != Type::Any {
        return Ok(element.clone());
    }
    let (mut string, mut number, mut boolean, mut other) = (false, false, false, false);
    for v in values {
        match v.unmarked() {
            Value::String(_) => string = true,
            Value::Number(_) => number = true,
            Value::Bool(_) => boolean = true,
            Value::Null | Value::Unknown => {}
            _ => other = true,
        }
    }
    let kinds = [string, number, boolean].iter().filter(|k| **k).count();
    if other || kinds <= 1 {
        return Ok(Type::Any);
    }
    if string {
        return Ok(Type::String);
    }
    Err(ConvertError::new(format!(
        "cannot convert to a {what} of any single type: its elements are numbers and bools"
    )))
}

fn convert_items(element: &Type, items: Vec<Value>) -> Result<Vec<Value>, ConvertError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| element.convert(v).map_err(|e| e.within(&format!("[{i}]"))))
        .collect()
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => write!(f, "any"),
            Type::String => write!(f, "string"),
            Type::Number => write!(f, "number"),
            Type::Bool => write!(f, "bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Object(fields) => {
                write!(f, "object({{")?;
                for (i, (name, (t, optional))) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if *optional {
                        write!(f, "{name} = optional({t})")?;
                    } else {
                        write!(f, "{name} = {t}")?;
                    }
                }
                write!(f, "}})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_conversions_follow_terraform() {
        assert_eq!(
            Type::String.convert(Value::Number(3.0)),
            Ok(Value::string("3"))
        );
        assert_eq!(
            Type::Number.convert(Value::string(" 2.5")),
            Ok(Value::Number(2.5))
        );
        assert_eq!(
            Type::Bool.convert(Value::string("true")),
            Ok(Value::Bool(true))
        );
        let err = Type::Number.convert(Value::string("three")).unwrap_err();
        assert_eq!(err.message, "cannot convert \"three\" to a number");
        let err = Type::Bool.convert(Value::Number(1.0)).unwrap_err();
        assert_eq!(err.message, "bool required, got number");
    }

    #[test]
    fn nested_errors_carry_a_path() {
        let t = Type::List(Box::new(Type::Object(BTreeMap::from([(
            "port".to_string(),
            (Type::Number, false),
        )]))));
        let v = Value::List(vec![
            Value::map([("port", Value::Number(1.0))]),
            Value::map([("port", Value::string("x"))]),
        ]);
        let err = t.convert(v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at [1].port: cannot convert \"x\" to a number"
        );
    }

    #[test]
    fn errors_about_sensitive_values_do_not_quote_them() {
        let v = Value::string("hunter2").mark_sensitive_if(true);
        let err = Type::Number.convert(v).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("(sensitive)"), "{err}");
    }

    #[test]
    fn sensitive_marks_survive_conversion() {
        let v = Value::Number(1.0).mark_sensitive_if(true);
        let out = Type::String.convert(v).unwrap();
        assert_eq!(out, Value::string("1").mark_sensitive_if(true));
    }
}
