//! The functions the evaluator carries out itself: they see their arguments' expressions
//! or marks, not only their values (the names are in `functions::SPECIAL`).

use super::{render_template_file, Evaluator};
use crate::diag::Diagnostic;
use hcl_edit::expr::{Expression, FuncCall};
use hive_sdk::Value;
use std::path::Path;

impl Evaluator<'_, '_> {
    /// The functions that are not functions of their arguments' values: `try` and `can` see
    /// whether their arguments evaluate, the sensitivity functions see and change marks,
    /// `templatestring` renders a string it is given by reference.
    pub(super) fn special_call(
        &mut self,
        name: &str,
        call: &FuncCall,
    ) -> Option<Result<Value, Diagnostic>> {
        let args: Vec<&Expression> = call.args.iter().collect();
        let arity = |min: usize, max: usize| -> Result<(), Diagnostic> {
            if args.len() < min || args.len() > max || call.args.expand_final() {
                let wanted = if min == max {
                    format!("{min} argument{}", if min == 1 { "" } else { "s" })
                } else {
                    format!("{min} to {max} arguments")
                };
                return Err(self.err(call, format!("{name} takes {wanted}, got {}", args.len())));
            }
            Ok(())
        };
        let result = match name {
            "try" => (|| {
                if args.is_empty() {
                    return Err(self.err(call, "try needs at least one argument"));
                }
                let mut last = None;
                for a in &args {
                    match self.eval(a) {
                        Ok(v) if !v.is_wholly_known() => return Ok(Value::Unknown),
                        Ok(v) => return Ok(v),
                        Err(e) => last = Some(e),
                    }
                }
                let why = last.map(|e| e.summary).unwrap_or_default();
                Err(self
                    .err(call, "no expression given to try succeeded")
                    .detail(format!("the last one failed: {why}")))
            })(),
            "can" => arity(1, 1).map(|()| match self.eval(args[0]) {
                Ok(v) if !v.is_wholly_known() => Value::Unknown,
                Ok(_) => Value::Bool(true),
                Err(_) => Value::Bool(false),
            }),
            "sensitive" => arity(1, 1)
                .and_then(|()| self.eval(args[0]))
                .map(|v| v.mark_sensitive_if(true)),
            "nonsensitive" => arity(1, 1)
                .and_then(|()| self.eval(args[0]))
                .map(|v| v.unmark().0),
            "issensitive" => {
                arity(1, 1)
                    .and_then(|()| self.eval(args[0]))
                    .map(|v| match v.unmark() {
                        (Value::Unknown, false) => Value::Unknown,
                        (_, sensitive) => Value::Bool(sensitive),
                    })
            }
            "templatestring" => arity(2, 2).and_then(|()| self.templatestring(call, &args)),
            _ => return None,
        };
        Some(result)
    }

    /// `templatestring(ref, vars)`: renders the string `ref` refers to (a template kept
    /// elsewhere; an inline one is a plain template string).
    fn templatestring(
        &mut self,
        call: &FuncCall,
        args: &[&Expression],
    ) -> Result<Value, Diagnostic> {
        if matches!(
            args[0],
            Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_)
        ) {
            return Err(self
                .err(
                    args[0],
                    "templatestring renders a template kept elsewhere, given by reference",
                )
                .help(
                    "to render an inline template, write a template string: \"Hello, ${name}\"",
                ));
        }
        let (source, sensitive) = self.eval(args[0])?.unmark();
        let (vars, vars_sensitive) = self.eval(args[1])?.unmark();
        let source = match source {
            Value::Unknown => return Ok(Value::Unknown),
            Value::String(s) => s,
            other => {
                return Err(self.err(
                    args[0],
                    format!(
                        "templatestring: the template must be a string, got {}",
                        other.type_name()
                    ),
                ))
            }
        };
        let vars = match vars {
            Value::Map(m) => m,
            Value::Unknown => return Ok(Value::Unknown),
            other => {
                return Err(self.err(
                    args[1],
                    format!(
                        "templatestring: the variables must be a map or object, got {}",
                        other.type_name()
                    ),
                ))
            }
        };
        render_template_file(self.scope, &source, Path::new("templatestring"), &vars)
            .map(|v| v.mark_sensitive_if(sensitive || vars_sensitive))
            .map_err(|e| self.err(call, e))
    }
}
