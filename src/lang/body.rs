//! A resource's body evaluated against its schema into the object references see, nested
//! blocks included, and `dynamic` blocks made into as many blocks as their `for_each` has
//! elements.

use super::eval::Scope;
use crate::config::{Block, Body, Condition, Dynamic, Expr};
use crate::diag::{Diagnostic, Diagnostics, Span};
use hcl_edit::expr::Expression;
use hive_sdk::schema::{Mode, Nesting, Schema};
use hive_sdk::Value;
use std::collections::BTreeMap;

fn eval_in(
    scope: &Scope<'_>,
    expr: &Expr,
    bindings: &[(String, Value)],
) -> Result<Value, Diagnostic> {
    if bindings.is_empty() {
        scope.eval(expr)
    } else {
        scope.eval_with(expr, bindings)
    }
}

/// The blocks a dynamic block makes: one per element of `for_each` (a list, set or map),
/// its content evaluated with the iterator bound to `{ key, value }`; `None` while the
/// collection is not known.
fn expand(
    scope: &Scope<'_>,
    block: &Block,
    dynamic: &Dynamic,
    schema: &Schema,
    context: &str,
    bindings: &[(String, Value)],
    diags: &mut Diagnostics,
) -> Option<Vec<Value>> {
    let collection = match eval_in(scope, &dynamic.for_each.expr, bindings) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return Some(Vec::new());
        }
    };
    let (collection, sensitive) = collection.unmark();
    if sensitive {
        diags.push(
            Diagnostic::error("a dynamic block's for_each cannot be sensitive")
                .detail("the number of blocks would reveal it")
                .at(dynamic.for_each.expr.span()),
        );
        return Some(Vec::new());
    }
    let pairs: Vec<(Value, Value)> = match collection {
        Value::Unknown => return None,
        Value::Null => {
            diags.push(
                Diagnostic::error("a dynamic block's for_each cannot be null")
                    .at(dynamic.for_each.expr.span()),
            );
            return Some(Vec::new());
        }
        Value::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::Number(i as f64), v))
            .collect(),
        Value::Set(items) => items.into_iter().map(|v| (v.clone(), v)).collect(),
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| (Value::String(k), v))
            .collect(),
        other => {
            diags.push(
                Diagnostic::error(format!(
                    "a dynamic block's for_each must be a list, set or map, got {}",
                    other.type_name()
                ))
                .at(dynamic.for_each.expr.span()),
            );
            return Some(Vec::new());
        }
    };
    let mut made = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let mut inner = bindings.to_vec();
        inner.push((
            dynamic.iterator.clone(),
            Value::map([("key", key), ("value", value)]),
        ));
        made.push(eval_block_body(
            scope,
            &block.body,
            schema,
            context,
            &inner,
            diags,
        ));
    }
    Some(made)
}

pub(super) fn eval_block_body(
    scope: &Scope<'_>,
    body: &Body,
    schema: &Schema,
    context: &str,
    bindings: &[(String, Value)],
    diags: &mut Diagnostics,
) -> Value {
    let mut object = BTreeMap::new();
    for a in &schema.attributes {
        let value = match body.attributes.get(a.name) {
            Some(attr) => {
                check_reference_kind(&scope.resources.kinds, a, &attr.expr, context, diags);
                match eval_in(scope, &attr.expr, bindings).and_then(|v| {
                    a.ty.convert(v).map_err(|e| {
                        Diagnostic::error(format!("invalid value for {}", a.name))
                            .detail(format!("{context}: {} must be {}: {e}", a.name, a.ty))
                            .at(attr.expr.span())
                    })
                }) {
                    Ok(v) => v,
                    Err(d) => {
                        diags.push(d);
                        Value::Unknown
                    }
                }
            }
            // Unset optional-computed attributes stay null here: the planner fills them from
            // the recorded object, or marks them known after apply.
            None if a.mode == Mode::Computed => Value::Unknown,
            None => Value::Null,
        };
        let sensitive = a.sensitive && !value.is_null();
        object.insert(a.name.to_string(), value.mark_sensitive_if(sensitive));
    }
    for b in &schema.blocks {
        let inner_context = format!("{context}.{}", b.name);
        let mut values = Vec::new();
        let mut made_at = None;
        for blk in body.blocks.iter().filter(|blk| blk.name == b.name) {
            if blk.dynamic.is_some() {
                made_at.get_or_insert_with(|| blk.span.clone());
            }
            match &blk.dynamic {
                None => values.push(eval_block_body(
                    scope,
                    &blk.body,
                    &b.schema,
                    &inner_context,
                    bindings,
                    diags,
                )),
                Some(dynamic) => {
                    match expand(
                        scope,
                        blk,
                        dynamic,
                        &b.schema,
                        &inner_context,
                        bindings,
                        diags,
                    ) {
                        Some(made) => values.extend(made),
                        // Not known yet: neither are the blocks.
                        None => {
                            values.clear();
                            values.push(Value::Unknown);
                            break;
                        }
                    }
                }
            }
        }
        let value = match b.nesting {
            _ if values == [Value::Unknown] => Value::Unknown,
            Nesting::Single => {
                if values.len() > 1 {
                    diags.push(
                        Diagnostic::error(format!(
                            "only one {} block is allowed in {context}",
                            b.name
                        ))
                        .detail(format!("here it would have {}", values.len()))
                        .at_opt(made_at),
                    );
                }
                values.into_iter().next().unwrap_or(Value::Null)
            }
            Nesting::List => Value::List(values),
        };
        object.insert(b.name.to_string(), value);
    }
    Value::Map(object)
}

/// An attribute that names a resource of one kind (`host = host.local`) must not name another
/// kind; a plain string is allowed only where the schema says a backend knows things by its
/// own names.
fn check_reference_kind(
    kinds: &crate::config::Catalog,
    attr: &hive_sdk::schema::Attribute,
    expr: &Expr,
    context: &str,
    diags: &mut Diagnostics,
) {
    let Some(wanted) = attr.refers_to else {
        return;
    };
    let mut check = |e: &Expression, span: Span| match e {
        Expression::Traversal(t) => {
            if let Expression::Variable(root) = &t.expr {
                let kind = root.as_str();
                if kinds.is_kind(kind) && kind != wanted {
                    diags.push(
                        Diagnostic::error(format!(
                            "{} must refer to a {wanted}, not a {kind}",
                            attr.name
                        ))
                        .detail(format!(
                            "{context}: {} names the {wanted} to use",
                            attr.name
                        ))
                        .at(span)
                        .help(format!("for example: {} = {wanted}.NAME", attr.name)),
                    );
                }
            }
        }
        Expression::String(_) | Expression::StringTemplate(_) if !attr.names_allowed => {
            diags.push(
                Diagnostic::error(format!(
                    "{} must refer to a {wanted} resource, not a string",
                    attr.name
                ))
                .at(span)
                .help(format!("for example: {} = {wanted}.NAME", attr.name)),
            );
        }
        _ => {}
    };
    match &expr.expr {
        Expression::Array(items) => {
            for item in items.iter() {
                check(item, crate::config::span_of(expr.file, item));
            }
        }
        e => check(e, expr.span()),
    }
}

/// A resource's preconditions (before it is planned), or its postconditions (`self` the
/// instance as planned): one that is false is an error at its condition, with its message;
/// one not known yet is left for when it is.
pub(super) fn check_conditions(
    scope: &Scope<'_>,
    conditions: &[Condition],
    address: &hive_sdk::addr::InstanceAddr,
    this: Option<&Value>,
    diags: &mut Diagnostics,
) {
    let what = if this.is_some() {
        "postcondition"
    } else {
        "precondition"
    };
    let bindings: Vec<(String, Value)> = this
        .map(|v| vec![("self".to_string(), v.clone())])
        .unwrap_or_default();
    for c in conditions {
        let holds = match eval_in(scope, &c.condition, &bindings) {
            Ok(v) => v.unmark().0,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match holds {
            Value::Bool(true) | Value::Unknown => {}
            Value::Bool(false) => {
                let message = match eval_in(scope, &c.error_message, &bindings) {
                    Ok(v) => match v.unmark() {
                        (Value::String(s), false) => s,
                        (_, true) => "(sensitive)".to_string(),
                        (other, _) => other.to_string(),
                    },
                    Err(d) => d.summary,
                };
                diags.push(
                    Diagnostic::error(format!("{what} of {address} failed: {message}"))
                        .at(c.condition.span()),
                );
            }
            other => diags.push(
                Diagnostic::error(format!(
                    "a {what}'s condition must be true or false, got {}",
                    other.type_name()
                ))
                .at(c.condition.span()),
            ),
        }
    }
}
