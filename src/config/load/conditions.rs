//! A resource's `lifecycle` conditions and replacement triggers as written.

use super::{span_of, syntax, Decoder};
use crate::config::{Check, Condition, Expr, FileId};
use crate::diag::Diagnostic;
use hcl_edit::expr::Expression;

impl Decoder<'_> {
    /// `precondition { condition = ..., error_message = ... }` (or `postcondition`).
    pub(super) fn condition(&mut self, file: FileId, block: syntax::Block) -> Option<Condition> {
        let what = block.ident.as_str().to_string();
        let span = span_of(file, &block.ident);
        let (attrs, blocks) = self.split(file, block.body);
        for b in blocks {
            self.error(
                Diagnostic::error(format!("a {what} block holds condition and error_message"))
                    .at(span_of(file, &b.ident)),
            );
        }
        let (mut condition, mut message) = (None, None);
        for attr in attrs {
            match attr.key.as_str() {
                "condition" => condition = Some(Self::expr(file, attr)),
                "error_message" => message = Some(Self::expr(file, attr)),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    &format!("a {what} block"),
                    &["condition", "error_message"],
                ),
            }
        }
        match (condition, message) {
            (Some(condition), Some(error_message)) => Some(Condition {
                condition,
                error_message,
            }),
            _ => {
                self.error(
                    Diagnostic::error(format!("a {what} block needs condition and error_message"))
                        .at(span),
                );
                None
            }
        }
    }

    /// `replace_triggered_by = [resource.x, resource.y[0].attr]`: references, each kept as
    /// an expression (the graph orders the resource after them).
    pub(super) fn triggers(&mut self, file: FileId, attr: syntax::Attribute) -> Vec<Expr> {
        let Expression::Array(items) = &attr.value else {
            self.error(
                Diagnostic::error("replace_triggered_by must be a list of references")
                    .at(span_of(file, &attr.value))
                    .help("for example: replace_triggered_by = [command.build]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            if matches!(item, Expression::Traversal(_) | Expression::Variable(_)) {
                out.push(Expr {
                    file,
                    expr: item.clone(),
                });
            } else {
                self.error(
                    Diagnostic::error("replace_triggered_by takes references to resources")
                        .at(span_of(file, item)),
                );
            }
        }
        out
    }

    /// `check "NAME" { assert { condition, error_message } ... }`.
    pub(super) fn check(&mut self, file: FileId, block: syntax::Block, name: &str) {
        let span = span_of(file, &block.ident);
        if self.config.checks.contains_key(name) {
            self.error(Diagnostic::error(format!("check \"{name}\" is declared twice")).at(span));
            return;
        }
        let (attrs, blocks) = self.split(file, block.body);
        for attr in attrs {
            self.unknown_name(
                "attribute",
                attr.key.as_str(),
                span_of(file, &attr.key),
                "a check block",
                &["assert"],
            );
        }
        let mut asserts = Vec::new();
        for b in blocks {
            if b.ident.as_str() != "assert" {
                self.unknown_name(
                    "block",
                    b.ident.as_str(),
                    span_of(file, &b.ident),
                    "a check block",
                    &["assert"],
                );
                continue;
            }
            if let Some(c) = self.condition(file, b) {
                asserts.push(c);
            }
        }
        if asserts.is_empty() {
            self.error(
                Diagnostic::error(format!("check \"{name}\" has no assert block")).at(span.clone()),
            );
        }
        self.config
            .checks
            .insert(name.to_string(), Check { span, asserts });
    }
}
