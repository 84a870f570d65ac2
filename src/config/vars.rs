//! Values given for input variables from outside the configuration: `-var k=v`, `-var-file F`
//! and `HIVE_VAR_k` environment variables. They are gathered here as written; the evaluator
//! converts them to the declared types.

use super::{load::parse_source, span_of, Expr};
use crate::diag::{Diagnostic, Sources};
use hcl_edit::structure::Structure;
use std::path::Path;

/// Where a value came from, in increasing order of priority (SPEC section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VarSource {
    Cli,
    File,
    Env,
    /// A saved plan: exactly the values it was made with.
    Plan,
}

#[derive(Debug, Clone)]
pub enum RawValue {
    /// Text from the command line or the environment: a string, or for variables of a
    /// collection type, an expression to parse.
    Text(String),
    /// An expression from a variables file.
    Expr(Expr),
    /// A value already evaluated (from a saved plan).
    Value(hive_sdk::Value),
}

#[derive(Debug, Clone)]
pub struct VarInput {
    pub name: String,
    pub source: VarSource,
    pub value: RawValue,
}

pub const ENV_PREFIX: &str = "HIVE_VAR_";

/// Parses one `-var` argument, `NAME=VALUE`.
pub fn parse_cli(arg: &str) -> Result<VarInput, Diagnostic> {
    let (name, value) = arg.split_once('=').ok_or_else(|| {
        Diagnostic::error(format!("invalid -var argument {arg:?}"))
            .detail("expected NAME=VALUE")
            .help("for example: -var nodes=3")
    })?;
    let name = name.trim();
    if !hive_sdk::addr::is_identifier(name) {
        return Err(Diagnostic::error(format!(
            "invalid -var argument {arg:?}: {name:?} is not a variable name"
        )));
    }
    Ok(VarInput {
        name: name.to_string(),
        source: VarSource::Cli,
        value: RawValue::Text(value.to_string()),
    })
}

/// Reads a variables file: `name = value` lines, no blocks.
pub fn parse_file(sources: &mut Sources, path: &Path) -> Result<Vec<VarInput>, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::error(format!(
            "cannot read variables file {}: {e}",
            path.display()
        ))
    })?;
    if bytes.len() as u64 > super::MAX_FILE_SIZE {
        return Err(Diagnostic::error(format!(
            "variables file {} is too large",
            path.display()
        )));
    }
    let name = path.display().to_string();
    let (file, body) = parse_source(sources, &name, path, bytes)?;
    let mut out = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => out.push(VarInput {
                name: attr.key.as_str().to_string(),
                source: VarSource::File,
                value: RawValue::Expr(Expr {
                    file,
                    expr: attr.value.clone(),
                }),
            }),
            Structure::Block(block) => {
                return Err(
                    Diagnostic::error("a variables file holds only NAME = VALUE lines")
                        .at(span_of(file, &block.ident)),
                )
            }
        }
    }
    Ok(out)
}

/// Every `HIVE_VAR_name` in the environment.
pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Vec<VarInput> {
    env.into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(ENV_PREFIX)?;
            hive_sdk::addr::is_identifier(name).then(|| VarInput {
                name: name.to_string(),
                source: VarSource::Env,
                value: RawValue::Text(v),
            })
        })
        .collect()
}
