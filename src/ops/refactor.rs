//! What `import`, `moved` and `removed` blocks do to a plan: objects adopted instead of
//! made, recorded objects given new addresses, and objects forgotten, before anything is
//! asked of the backends (the apply records them before any step: `ops::apply`).

use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use crate::lang::walk::Evaluated;
use crate::plan::{Action, Change};
use hive_sdk::addr::InstanceAddr;
use hive_state::{ObjectAddr, State};
use std::collections::BTreeMap;

/// The `import` blocks whose object the state does not hold yet, with their ids: their
/// creation is taken out of the plan (the apply imports them instead).
pub(super) fn pending_imports(
    config: &Config,
    evaluated: &Evaluated,
    state: &State,
    changes: &mut BTreeMap<ObjectAddr, Change>,
    diags: &mut Diagnostics,
) -> Vec<(InstanceAddr, String)> {
    let mut out = Vec::new();
    for import in &config.imports {
        if state.resource(&import.to).is_some() {
            continue;
        }
        let values = evaluated.resources.clone().into_iter().collect();
        let table = crate::lang::walk::resource_table(config, values);
        let scope =
            crate::lang::walk::plain_scope(config, &evaluated.vars, &evaluated.locals, &table);
        let id = match scope.eval(&import.id).map(|v| v.unmark().0) {
            Ok(hive_sdk::Value::String(id)) => id,
            Ok(other) => {
                diags.push(
                    Diagnostic::error(format!(
                        "an import's id must be a string known before apply, got {}",
                        other.type_name()
                    ))
                    .at(import.id.span()),
                );
                continue;
            }
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match changes.get_mut(&ObjectAddr::current(import.to.clone())) {
            Some(change) if change.action == Action::Create => {
                change.action = Action::NoOp;
                change.reasons = vec![format!("imported from {id}")];
                out.push((import.to.clone(), id));
            }
            _ => diags.push(
                Diagnostic::error(format!(
                    "import to {}: the configuration makes no such instance",
                    import.to
                ))
                .at(import.span.clone()),
            ),
        }
    }
    out
}

/// Gives the recorded objects of each `moved` block their new address (one already moved
/// is left as it is); a move onto an address the state already holds is an error.
pub(super) fn apply_moves(
    config: &Config,
    state: &mut State,
    diags: &mut Diagnostics,
) -> Vec<(InstanceAddr, InstanceAddr)> {
    let mut all = Vec::new();
    for m in &config.moved {
        let present = state.resources.keys().any(|o| m.from.matches(&o.instance));
        if !present {
            continue;
        }
        let serial = state.serial;
        match super::state::rename(state, &m.from.to_string(), &m.to.to_string()) {
            Ok(moves) => all.extend(moves),
            Err(e) => diags.push(
                Diagnostic::error(format!("cannot move {} to {}: {e}", m.from, m.to))
                    .at(m.span.clone()),
            ),
        }
        state.serial = serial;
    }
    all
}

/// Takes out of the state what `removed { lifecycle { destroy = false } }` forgets; a
/// destroy forgets nothing (it destroys what the state holds).
pub(super) fn forget_removed(
    config: &Config,
    state: &mut State,
    destroy: bool,
) -> Vec<hive_state::ResourceState> {
    if destroy {
        return Vec::new();
    }
    let doomed: Vec<ObjectAddr> = state
        .resources
        .keys()
        .filter(|o| {
            config
                .removed
                .iter()
                .any(|r| !r.destroy && r.from.matches(&o.instance))
        })
        .cloned()
        .collect();
    doomed.iter().filter_map(|o| state.remove(o)).collect()
}
