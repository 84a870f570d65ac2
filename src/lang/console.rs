//! One expression evaluated with nothing declared, as `terraform console` evaluates what it
//! is given: `hive console`, and the harness that compares hive with Terraform on the
//! differential corpus (tests/fixtures/terraform).

use super::scope::{ResourceTable, Scope};
use crate::config::Expr;
use hive_sdk::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The value of `text`; relative paths in file functions resolve against `dir`. The
/// expression is read exactly as an attribute's value in a configuration file is.
pub fn evaluate(text: &str, dir: &Path) -> Result<Value, String> {
    let source = format!("v = {text}\n");
    crate::config::fmt::lexical_check(&source).map_err(|e| e.message)?;
    let mut body = hcl_edit::parser::parse_body(&source).map_err(|e| e.message().to_string())?;
    crate::config::templates::normalize(&mut body, &source);
    let expr = body
        .into_iter()
        .find_map(|s| match s {
            hcl_edit::structure::Structure::Attribute(a) => Some(a.value),
            _ => None,
        })
        .ok_or_else(|| "no expression".to_string())?;
    let nothing = BTreeMap::new();
    let resources = ResourceTable::empty(Arc::new(crate::config::Catalog::default()));
    let scope = Scope::plain(dir, &nothing, &nothing, &resources);
    scope
        .eval(&Expr {
            file: usize::MAX,
            expr,
        })
        .map_err(|d| match d.detail {
            Some(detail) => format!("{}: {detail}", d.summary),
            None => d.summary,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_read_as_attribute_values() {
        let dir = Path::new(".");
        assert_eq!(evaluate("1 + 2", dir), Ok(Value::Number(3.0)));
        assert_eq!(
            evaluate("\"%{for x in [1, 2]}${x}%{endfor}\"", dir),
            Ok(Value::string("12"))
        );
        assert!(evaluate("nope(1)", dir).is_err_and(|e| e.contains("nope")));
        assert!(evaluate("1 +", dir).is_err());
    }
}
