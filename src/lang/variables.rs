//! Input variables: their values from `-var`, `-var-file`, `HIVE_VAR_*`, saved plans and
//! defaults, in that order of priority, typed and validated, with the texts of sensitive ones
//! kept to be hidden everywhere.

use super::scope::{ResourceTable, Scope};
use super::walk::MissingVars;
use crate::config::vars::{RawValue, VarInput, VarSource};
use crate::config::{Config, Expr, Variable};
use crate::diag::{Diagnostic, Diagnostics};
use hive_sdk::{Type, Value};
use std::collections::BTreeMap;

/// Input variables' values, and the texts of sensitive ones that must never be shown.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    pub values: BTreeMap<String, Value>,
    pub secrets: Vec<String>,
}

impl Variables {
    /// The variables, with `hive.id` of the state with `lineage` (unknown without one: a
    /// validation knows no state).
    pub fn for_state(&self, lineage: Option<&str>) -> Variables {
        let mut with = self.clone();
        let id = lineage.map_or(Value::Unknown, |l| Value::String(hive_state::short_id(l)));
        with.values.insert(super::eval::HIVE_ID.to_string(), id);
        with
    }
}

/// Evaluates the input variables (typed, validated) from their inputs and defaults.
pub fn variables(
    config: &Config,
    inputs: &[VarInput],
    missing: MissingVars,
    diags: &mut Diagnostics,
) -> Variables {
    let mut own = Diagnostics::default();
    let values = input_variables(config, inputs, missing, &mut own);
    let mut secrets = Vec::new();
    for v in values.values() {
        v.sensitive_texts(&mut secrets);
    }
    // A value that failed its type check is unknown now, but its text must stay hidden too.
    for input in inputs {
        if let (Some(v), RawValue::Text(text)) = (config.variables.get(&input.name), &input.value) {
            if v.sensitive || v.ephemeral {
                secrets.push(text.clone());
            }
        }
    }
    own.redact(&secrets);
    diags.extend(own);
    Variables { values, secrets }
}

/// Values of input variables from inputs (by priority), defaults, or nothing.
fn input_variables(
    config: &Config,
    inputs: &[VarInput],
    missing: MissingVars,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Value> {
    let mut chosen: BTreeMap<&str, &VarInput> = BTreeMap::new();
    for input in inputs {
        if !config.variables.contains_key(&input.name) {
            let candidates = config.variables.keys().map(String::as_str);
            let d = match input.source {
                VarSource::Cli => Diagnostic::error(format!(
                    "a value was given for undeclared variable \"{}\"",
                    input.name
                )),
                VarSource::File => Diagnostic::warning(format!(
                    "the variables file sets undeclared variable \"{}\"",
                    input.name
                )),
                VarSource::Env | VarSource::Plan => continue,
            };
            diags.push(
                d.at_opt(match &input.value {
                    RawValue::Expr(e) => Some(e.span()),
                    RawValue::Text(_) | RawValue::Value(_) => None,
                })
                .help_opt(crate::diag::did_you_mean(&input.name, candidates)),
            );
            continue;
        }
        // Later sources win over earlier ones; within one source the last value wins.
        match chosen.get(input.name.as_str()) {
            Some(prev) if prev.source > input.source => {}
            _ => {
                chosen.insert(&input.name, input);
            }
        }
    }
    let mut vars = BTreeMap::new();
    let nothing = BTreeMap::new();
    let no_resources = ResourceTable::empty(config.catalog.clone());
    for (name, variable) in &config.variables {
        let scope = Scope::plain(&config.dir, &nothing, &nothing, &no_resources);
        let raw = match chosen.get(name.as_str()) {
            Some(input) => input_value(&scope, variable, input),
            None => match &variable.default {
                Some(default) => scope.eval(default),
                None if missing == MissingVars::Unknown => Ok(Value::Unknown),
                None => Err(
                    Diagnostic::error(format!("no value for variable \"{name}\""))
                        .detail("the variable has no default")
                        .at(variable.span.clone())
                        .help(format!(
                            "give one with -var {name}=VALUE, a -var-file, or {}{name}",
                            crate::config::vars::ENV_PREFIX
                        )),
                ),
            },
        };
        // Marked before conversion, so a conversion error cannot quote a secret.
        // An ephemeral value is as secret as a sensitive one: never shown, never saved.
        let secret = variable.sensitive || variable.ephemeral;
        let value = raw.map(|v| v.mark_sensitive_if(secret));
        let value = value.and_then(|v| typed_value(variable, v, chosen.get(name.as_str())));
        let value = match value {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                Value::Unknown
            }
        };
        let value = value.mark_sensitive_if(secret);
        vars.insert(name.clone(), value);
    }
    for (name, variable) in &config.variables {
        check_validations(config, name, variable, &vars, diags);
    }
    vars
}

fn source_name(input: Option<&&VarInput>) -> &'static str {
    match input.map(|i| i.source) {
        Some(VarSource::Cli) => " (from -var)",
        Some(VarSource::File) => " (from the variables file)",
        Some(VarSource::Env) => " (from the environment)",
        Some(VarSource::Plan) => " (from the saved plan)",
        None => "",
    }
}

fn input_value(
    scope: &Scope<'_>,
    variable: &Variable,
    input: &VarInput,
) -> Result<Value, Diagnostic> {
    match &input.value {
        RawValue::Expr(e) => scope.eval(e),
        RawValue::Value(v) => Ok(v.clone()),
        RawValue::Text(text) => match variable.ty {
            Type::Any | Type::String | Type::Number | Type::Bool => Ok(Value::String(text.clone())),
            _ => {
                let expr = hcl_edit::parser::parse_expr(text).map_err(|e| {
                    Diagnostic::error(format!(
                        "invalid value for variable \"{}\"{}",
                        variable.name,
                        source_name(Some(&input))
                    ))
                    .detail(if variable.sensitive {
                        format!("a {} is written as an expression", variable.ty)
                    } else {
                        format!(
                            "a {} is written as an expression: {}",
                            variable.ty,
                            e.message()
                        )
                    })
                })?;
                scope
                    .eval(&Expr {
                        file: usize::MAX,
                        expr,
                    })
                    .map_err(|d| {
                        Diagnostic::error(format!(
                            "invalid value for variable \"{}\"{}",
                            variable.name,
                            source_name(Some(&input))
                        ))
                        .detail(if variable.sensitive {
                            "(details hidden: the variable is sensitive)".to_string()
                        } else {
                            d.summary
                        })
                    })
            }
        },
    }
}

fn typed_value(
    variable: &Variable,
    value: Value,
    input: Option<&&VarInput>,
) -> Result<Value, Diagnostic> {
    if value.is_null() && !variable.nullable {
        return Err(
            Diagnostic::error(format!("variable \"{}\" must not be null", variable.name))
                .at(variable.span.clone()),
        );
    }
    variable.ty.convert(value).map_err(|e| {
        let at = match input.map(|i| &i.value) {
            Some(RawValue::Expr(expr)) => Some(expr.span()),
            Some(RawValue::Text(_) | RawValue::Value(_)) => None,
            None => variable.default.as_ref().map(Expr::span),
        };
        Diagnostic::error(format!(
            "invalid value for variable \"{}\"{}",
            variable.name,
            source_name(input)
        ))
        .detail(format!("the variable's type is {}: {e}", variable.ty))
        .at_opt(at.or(Some(variable.span.clone())))
    })
}

fn check_validations(
    config: &Config,
    name: &str,
    variable: &Variable,
    vars: &BTreeMap<String, Value>,
    diags: &mut Diagnostics,
) {
    if variable.validations.is_empty() || !vars.get(name).is_some_and(Value::is_wholly_known) {
        return;
    }
    let only_this: BTreeMap<String, Value> = vars
        .get(name)
        .map(|v| (name.to_string(), v.clone()))
        .into_iter()
        .collect();
    let empty = BTreeMap::new();
    let table = ResourceTable::empty(config.catalog.clone());
    let scope = Scope::plain(&config.dir, &only_this, &empty, &table);
    for validation in &variable.validations {
        let condition = match scope.eval(&validation.condition) {
            Ok(c) => c.unmark().0,
            Err(d) => {
                diags.push(d.help("a validation condition may refer only to its own variable"));
                continue;
            }
        };
        match condition {
            Value::Bool(true) | Value::Unknown => {}
            Value::Bool(false) => {
                let message = match scope.eval(&validation.error_message) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(d) => d.summary,
                };
                diags.push(
                    Diagnostic::error(format!("invalid value for variable \"{name}\""))
                        .detail(message)
                        .at(validation.condition.span())
                        .label("this condition is false"),
                );
            }
            other => diags.push(
                Diagnostic::error("a validation condition must be true or false")
                    .detail(format!("it is {}", other.type_name()))
                    .at(validation.condition.span()),
            ),
        }
    }
}
