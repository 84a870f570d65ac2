//! `check` blocks: each assertion judged on what references see (after a plan, the planned
//! values; after an apply, the final ones). A failed assertion is a warning, never an error:
//! checks report, they do not stop anything.

use super::eval::ResourceTable;
use crate::config::Config;
use crate::diag::Diagnostic;
use hive_sdk::Value;
use std::collections::BTreeMap;

/// The warnings of the failed assertions; an assertion not known yet says nothing.
pub fn judge(
    config: &Config,
    vars: &BTreeMap<String, Value>,
    locals: &BTreeMap<String, Value>,
    table: &ResourceTable,
) -> Vec<Diagnostic> {
    let scope = super::walk::plain_scope(config, vars, locals, table);
    let mut out = Vec::new();
    for (name, check) in &config.checks {
        for a in &check.asserts {
            let holds = match scope.eval(&a.condition) {
                Ok(v) => v.unmark().0,
                Err(d) => {
                    out.push(
                        Diagnostic::warning(format!("check \"{name}\" could not be judged"))
                            .detail(d.summary)
                            .at(a.condition.span()),
                    );
                    continue;
                }
            };
            if holds != Value::Bool(false) {
                continue;
            }
            let message = match scope.eval(&a.error_message).map(Value::unmark) {
                Ok((Value::String(s), false)) => s,
                Ok((_, true)) => "(sensitive)".to_string(),
                Ok((other, _)) => other.to_string(),
                Err(d) => d.summary,
            };
            out.push(
                Diagnostic::warning(format!("check \"{name}\" failed: {message}"))
                    .at(a.condition.span()),
            );
        }
    }
    out
}
