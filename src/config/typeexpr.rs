//! Type constraints as written in `variable` blocks: `string`, `number`, `bool`, `any`,
//! `list(T)`, `set(T)`, `map(T)`, `object({ name = T, port = optional(number) })`.

use super::span_of;
use crate::diag::{Diagnostic, FileId};
use hcl_edit::expr::{Expression, ObjectKey};
use hive_sdk::Type;
use std::collections::BTreeMap;

const HELP: &str =
    "types are string, number, bool, any, list(T), set(T), map(T) and object({ name = T })";

pub fn parse(file: FileId, expr: &Expression) -> Result<Type, Diagnostic> {
    parse_in(file, expr, false).map(|(t, _)| t)
}

/// Parses a type; `optional(T)` is allowed only as an object attribute's type.
fn parse_in(file: FileId, expr: &Expression, in_object: bool) -> Result<(Type, bool), Diagnostic> {
    let bad = |what: String| {
        Diagnostic::error(format!("invalid type: {what}"))
            .at(span_of(file, expr))
            .help(HELP)
    };
    match expr {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok((Type::String, false)),
            "number" => Ok((Type::Number, false)),
            "bool" => Ok((Type::Bool, false)),
            "any" => Ok((Type::Any, false)),
            other => Err(bad(format!("unknown type \"{other}\""))),
        },
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let one = || -> Result<Type, Diagnostic> {
                match args.as_slice() {
                    [arg] => parse_in(file, arg, false).map(|(t, _)| t),
                    _ => Err(bad(format!("{name}(...) takes exactly one type"))),
                }
            };
            match name {
                "list" => Ok((Type::List(Box::new(one()?)), false)),
                "set" => Ok((Type::Set(Box::new(one()?)), false)),
                "map" => Ok((Type::Map(Box::new(one()?)), false)),
                "optional" if in_object => Ok((one()?, true)),
                "optional" => Err(bad("optional(T) is allowed only inside object({ })".into())),
                "object" => {
                    let [Expression::Object(fields)] = args.as_slice() else {
                        return Err(bad("object takes one { name = type, ... } argument".into()));
                    };
                    let mut out = BTreeMap::new();
                    for (key, value) in fields.iter() {
                        let key_name = match key {
                            ObjectKey::Ident(ident) => ident.as_str().to_string(),
                            ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                            ObjectKey::Expression(e) => {
                                return Err(Diagnostic::error(
                                    "invalid type: object attribute names must be identifiers",
                                )
                                .at(span_of(file, e)))
                            }
                        };
                        let field = parse_in(file, value.expr(), true)?;
                        out.insert(key_name, field);
                    }
                    Ok((Type::Object(out), false))
                }
                "tuple" => Err(bad("tuple types are not supported; use list(T)".into())),
                other => Err(bad(format!("unknown type constructor \"{other}\""))),
            }
        }
        Expression::String(s) => Err(bad(format!(
            "a type is written without quotes: {}",
            s.value()
        ))),
        _ => Err(bad("expected a type".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(src: &str) -> Result<String, String> {
        let expr = hcl_edit::parser::parse_expr(src).map_err(|e| e.to_string())?;
        parse(0, &expr)
            .map(|t| t.to_string())
            .map_err(|d| d.summary)
    }

    #[test]
    fn types_round_trip() {
        for t in [
            "string",
            "list(number)",
            "map(set(bool))",
            "object({name = string, port = optional(number)})",
        ] {
            assert_eq!(parse_str(t).as_deref(), Ok(t));
        }
    }

    #[test]
    fn bad_types_are_explained() {
        assert_eq!(
            parse_str("strin").unwrap_err(),
            "invalid type: unknown type \"strin\""
        );
        assert!(parse_str("\"string\"")
            .unwrap_err()
            .contains("without quotes"));
        assert!(parse_str("optional(string)")
            .unwrap_err()
            .contains("only inside"));
        assert!(parse_str("list(string, number)")
            .unwrap_err()
            .contains("exactly one"));
    }
}
