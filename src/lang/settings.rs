//! The `hive { }` block decoded into typed settings once input variables are known: the
//! global cap on parallel steps, and which state backend holds the state with what settings.
//! Both may use variables (credentials will) but not resources, which need the state to be
//! known. Every problem is an error at its place.

use super::eval::{ResourceTable, Scope};
use super::refs::{references, Subject};
use crate::config::{Attribute, Config};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use hive_sdk::Value;
use hive_state::settings::{backend_kind, BackendConfig, SettingType, SettingValue, BACKENDS};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `parallelism`, when set.
    pub parallelism: Option<usize>,
    /// `ttl`: the state's objects expire this long after the last apply.
    pub ttl: Option<std::time::Duration>,
    pub backend: BackendConfig,
}

/// Decodes the settings. A value not known yet (a variable without a value, at validate
/// time) is checked only for what can be: `unknown_ok` says whether that is fine, or an
/// error (opening a state needs every setting).
pub fn decode(
    config: &Config,
    vars: &BTreeMap<String, Value>,
    unknown_ok: bool,
    diags: &mut Diagnostics,
) -> Settings {
    let mut settings = Settings::default();
    let table = ResourceTable::empty(config.catalog.clone());
    let locals = BTreeMap::new();
    let scope = Scope::plain(&config.dir, vars, &locals, &table);
    let eval = |attr: &Attribute, diags: &mut Diagnostics| -> Option<Value> {
        for r in references(attr.expr.file, &attr.expr.expr, &config.catalog) {
            let what = match r.subject {
                Subject::Var(_) => continue,
                Subject::Local(_) => "local values",
                Subject::Resource(_) => "resources",
            };
            diags.push(
                Diagnostic::error(format!("{} may not refer to {what}", attr.name))
                    .detail(
                        "hive reads its settings before anything else: they may use variables only",
                    )
                    .at(r.span),
            );
            return None;
        }
        match scope.eval(&attr.expr) {
            Ok(v) if v.is_unknown() => {
                if !unknown_ok {
                    diags.push(
                        Diagnostic::error(format!("{} has no value", attr.name))
                            .detail("it uses a variable that has no value")
                            .at(attr.expr.span())
                            .help(
                                "give the variable a value with -var, a -var-file or HIVE_VAR_NAME",
                            ),
                    );
                }
                None
            }
            // Marks kept: a setting decides whether a secret may go there.
            Ok(v) => Some(v),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    };
    if let Some(attr) = &config.settings.parallelism {
        match eval(attr, diags).map(|v| v.unmark().0) {
            Some(Value::Number(n)) if n >= 1.0 && n.fract() == 0.0 && n <= 1e6 => {
                settings.parallelism = Some(n as usize)
            }
            Some(other) => diags.push(
                Diagnostic::error("parallelism must be a whole number, 1 or more")
                    .detail(format!("it is {}", shown(&other)))
                    .at(attr.expr.span()),
            ),
            None => {}
        }
    }
    if let Some(attr) = &config.settings.ttl {
        match eval(attr, diags).map(|v| v.unmark().0) {
            Some(Value::String(text)) => match hive_sdk::units::parse_duration(&text) {
                Ok(d) if !d.is_zero() => settings.ttl = Some(d),
                Ok(_) => diags.push(
                    Diagnostic::error("ttl must be longer than nothing").at(attr.expr.span()),
                ),
                Err(e) => diags.push(
                    Diagnostic::error(format!("ttl = \"{text}\": {e}"))
                        .help("a duration such as \"90m\", \"2h\" or \"1d\"")
                        .at(attr.expr.span()),
                ),
            },
            Some(other) => diags.push(
                Diagnostic::error("ttl must be a duration such as \"2h\"")
                    .detail(format!("it is {}", shown(&other)))
                    .at(attr.expr.span()),
            ),
            None => {}
        }
    }
    let Some(block) = &config.settings.state else {
        return settings;
    };
    let attrs = &block.body.attributes;
    let backend = match attrs.get("backend") {
        None => "local".to_string(),
        Some(attr) => match eval(attr, diags).map(|v| v.unmark().0) {
            Some(Value::String(name)) => name,
            Some(other) => {
                diags.push(
                    Diagnostic::error("backend must be a string")
                        .detail(format!("it is {}", shown(&other)))
                        .at(attr.expr.span()),
                );
                return settings;
            }
            None => return settings,
        },
    };
    let Some(kind) = backend_kind(&backend) else {
        let names: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
        let at = attrs
            .get("backend")
            .map_or(block.span.clone(), |a| a.expr.span());
        diags.push(
            Diagnostic::error(format!("unknown state backend \"{backend}\""))
                .detail(format!("this build keeps state in: {}", names.join(", ")))
                .at(at)
                .help_opt(did_you_mean(&backend, names.iter().copied())),
        );
        return settings;
    };
    let mut values = BTreeMap::new();
    for (name, attr) in attrs.iter().filter(|(n, _)| *n != "backend") {
        let Some(setting) = kind.settings.iter().find(|s| s.name == name) else {
            let known: Vec<&str> = std::iter::once("backend")
                .chain(kind.settings.iter().map(|s| s.name))
                .collect();
            diags.push(
                Diagnostic::error(format!(
                    "unknown setting \"{name}\" for the {backend} state backend"
                ))
                .detail(format!("the {backend} backend takes: {}", known.join(", ")))
                .at(attr.name_span.clone())
                .help_opt(did_you_mean(name, known.iter().copied())),
            );
            continue;
        };
        let Some(value) = eval(attr, diags) else {
            continue;
        };
        // A credential may come from a sensitive variable; any other setting is shown in
        // messages and tags, so a secret there would leak.
        let (value, secret) = value.unmark();
        if secret && !setting.sensitive {
            diags.push(
                Diagnostic::error(format!("{name} cannot be a sensitive value"))
                    .detail(format!(
                        "hive shows the {name} of a state backend in messages; only credentials may be sensitive"
                    ))
                    .at(attr.expr.span()),
            );
            continue;
        }
        let typed = match (setting.ty, value) {
            (SettingType::String, Value::String(s)) => SettingValue::String(s),
            (SettingType::Duration, Value::String(s)) => {
                if let Err(why) = hive_sdk::units::parse_duration(&s) {
                    diags.push(
                        Diagnostic::error(format!("{name} is not a duration"))
                            .detail(why)
                            .at(attr.expr.span()),
                    );
                    continue;
                }
                SettingValue::String(s)
            }
            (SettingType::Bool, Value::Bool(b)) => SettingValue::Bool(b),
            (SettingType::Number, Value::Number(n)) => SettingValue::Number(n),
            (SettingType::Count, Value::Number(n)) if n >= 1.0 && n.fract() == 0.0 => {
                SettingValue::Number(n)
            }
            (ty, other) => {
                let wanted = match ty {
                    SettingType::String => "a string",
                    SettingType::Duration => "a duration such as \"10m\"",
                    SettingType::Bool => "true or false",
                    SettingType::Number => "a number",
                    SettingType::Count => "a whole number of at least 1",
                };
                let is = if setting.sensitive {
                    "(sensitive)".to_string()
                } else {
                    shown(&other)
                };
                diags.push(
                    Diagnostic::error(format!("{name} must be {wanted}"))
                        .detail(format!("it is {is}"))
                        .at(attr.expr.span()),
                );
                continue;
            }
        };
        if let (Some(check), SettingValue::String(text)) = (setting.check, &typed) {
            if let Err(why) = check(text) {
                diags.push(
                    Diagnostic::error(format!("{name} is not valid"))
                        .detail(why)
                        .at(attr.expr.span()),
                );
                continue;
            }
        }
        values.insert(name.clone(), typed);
    }
    for setting in kind.settings.iter().filter(|s| s.required) {
        if !attrs.contains_key(setting.name) {
            diags.push(
                Diagnostic::error(format!(
                    "the {backend} state backend needs {}",
                    setting.name
                ))
                .detail(setting.about)
                .at(block.span.clone()),
            );
        }
    }
    settings.backend = BackendConfig {
        backend,
        settings: values,
    };
    settings
}

fn shown(v: &Value) -> String {
    match v {
        Value::Sensitive(_) => "(sensitive)".to_string(),
        other => format!("{} {other}", other.type_name()),
    }
}
