//! The built-in function library (SPEC section 2).
//!
//! Every function is deterministic: a plan made twice from the same inputs is the same plan.

use hive_sdk::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What a function may use besides its arguments.
pub struct FnContext<'a> {
    /// The configuration directory: relative paths in `file()` and `templatefile()` resolve
    /// against it.
    pub base_dir: &'a Path,
    /// Renders a template's source with the given variables (used by `templatefile`); the path
    /// names the file in errors.
    pub render_template:
        &'a dyn Fn(&str, &Path, &BTreeMap<String, Value>) -> Result<Value, String>,
}

/// A function call that failed; `arg` is the zero-based index of the argument at fault, so the
/// error can point at it.
#[derive(Debug, Clone, PartialEq)]
pub struct FnError {
    pub arg: Option<usize>,
    pub message: String,
}
