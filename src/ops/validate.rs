//! `hive validate`: load, evaluate what needs no backend, report every independent problem.

use crate::config::vars::{self, VarInput};
use crate::config::{load_dir, Config};
use crate::diag::{Diagnostics, Sources};
use crate::engine::registry::Registry;
use crate::lang::settings::Settings;
use crate::lang::walk::{evaluate, variables, ConfigOnly, Evaluated, MissingVars, Outputs};
use std::path::{Path, PathBuf};

/// Where input variable values come from.
#[derive(Debug, Clone, Default)]
pub struct VarOptions {
    /// `-var NAME=VALUE`, in order.
    pub vars: Vec<String>,
    /// `-var-file F`, in order; relative to the current directory.
    pub var_files: Vec<PathBuf>,
    /// The process environment (`HIVE_VAR_*` are taken from it).
    pub env: Vec<(String, String)>,
    /// Values from a saved plan: they override everything else.
    pub saved: Vec<(String, hive_sdk::Value)>,
}

impl VarOptions {
    /// Only what the environment gives (`HIVE_VAR_*`), for commands without -var.
    pub fn from_env() -> VarOptions {
        VarOptions {
            env: std::env::vars().collect(),
            ..VarOptions::default()
        }
    }
}

pub struct Validated {
    pub config: Option<Config>,
    pub evaluated: Option<Evaluated>,
    pub settings: Settings,
    pub diagnostics: Diagnostics,
    /// Every file read, including variables files, for rendering diagnostics.
    pub sources: Sources,
}

/// Gathers input variable values in priority order (SPEC: -var, then -var-file, then
/// environment).
pub fn gather_inputs(
    options: &VarOptions,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Vec<VarInput> {
    let mut inputs = Vec::new();
    for arg in &options.vars {
        match vars::parse_cli(arg) {
            Ok(input) => inputs.push(input),
            Err(d) => diags.push(d),
        }
    }
    for path in &options.var_files {
        match vars::parse_file(sources, path) {
            Ok(found) => inputs.extend(found),
            Err(d) => diags.push(d),
        }
    }
    inputs.extend(vars::from_env(options.env.iter().cloned()));
    inputs.extend(options.saved.iter().map(|(name, value)| VarInput {
        name: name.clone(),
        source: vars::VarSource::Plan,
        value: vars::RawValue::Value(value.clone()),
    }));
    inputs
}

pub fn validate(dir: &Path, registry: &Registry, options: &VarOptions) -> Validated {
    let (mut config, mut diagnostics) = match load_dir(dir, registry.catalog()) {
        Ok(loaded) => loaded,
        Err((sources, diagnostics)) => {
            return Validated {
                config: None,
                evaluated: None,
                settings: Settings::default(),
                diagnostics,
                sources,
            }
        }
    };
    let inputs = gather_inputs(options, &mut config.sources, &mut diagnostics);
    let vars = variables(&config, &inputs, MissingVars::Unknown, &mut diagnostics);
    let settings = crate::lang::settings::decode(&config, &vars.values, true, &mut diagnostics);
    let (evaluated, eval_diags) = evaluate(
        &config,
        &vars.for_state(None),
        Outputs::Evaluate,
        &mut ConfigOnly,
    );
    diagnostics.extend(eval_diags);
    if !diagnostics.has_errors() {
        super::checks::check_resources(
            &config,
            &evaluated,
            registry,
            true,
            super::checks::Backends::Leave,
            &mut diagnostics,
        );
    }
    // Test files are checked too: a broken one would otherwise wait for `hive test`.
    let tests = crate::config::testfile::load_tests(dir, &mut config.sources, &mut diagnostics);
    diagnostics.extend(crate::config::testfile::undeclared_references(&tests, &config).items);
    Validated {
        sources: config.sources.clone(),
        config: Some(config),
        evaluated: Some(evaluated),
        settings,
        diagnostics,
    }
}
