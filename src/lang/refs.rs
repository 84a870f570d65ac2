//! Finding what an expression refers to, without evaluating it: the edges of the dependency
//! graph.

use crate::config::span_of;
use crate::config::Catalog;
use crate::diag::{FileId, Span};
use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::template::{Directive, Element, Template};
use hive_sdk::addr::ResourceAddr;

/// Something in the configuration an expression depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Var(String),
    Local(String),
    Resource(ResourceAddr),
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub subject: Subject,
    /// The whole reference: `local.name`.
    pub span: Span,
    /// Only the name part: `.name`, where "undeclared" errors point.
    pub name_span: Span,
}

/// Every reference in `expr`, in source order; a resource reference starts with one of the
/// `kinds`. Names bound by `for` expressions and template `for` directives are not
/// references.
pub fn references(file: FileId, expr: &Expression, kinds: &Catalog) -> Vec<Reference> {
    let mut walker = Walker::new(file, Some(kinds));
    walker.expr(expr);
    walker.out
}

/// True if `expr` mentions `count` or `each`: its value may differ between the instances of a
/// resource. Otherwise it is the same for all of them.
pub fn mentions_instance(expr: &Expression) -> bool {
    let mut walker = Walker::new(0, None);
    walker.expr(expr);
    walker.mentions_instance
}

struct Walker<'k> {
    file: FileId,
    /// `None` when only looking for instance dependence.
    kinds: Option<&'k Catalog>,
    bound: Vec<String>,
    out: Vec<Reference>,
    mentions_instance: bool,
}

impl<'k> Walker<'k> {
    fn new(file: FileId, kinds: Option<&'k Catalog>) -> Walker<'k> {
        Walker {
            file,
            kinds,
            bound: Vec::new(),
            out: Vec::new(),
            mentions_instance: false,
        }
    }

    fn note_root(&mut self, root: &str) {
        if matches!(root, "count" | "each") && !self.bound.iter().any(|b| b == root) {
            self.mentions_instance = true;
        }
    }
}

impl Walker<'_> {
    fn expr(&mut self, expr: &Expression) {
        match expr {
            Expression::Null(_)
            | Expression::Bool(_)
            | Expression::Number(_)
            | Expression::String(_) => {}
            Expression::Variable(v) => self.note_root(v.as_str()),
            Expression::Array(items) => items.iter().for_each(|e| self.expr(e)),
            Expression::Object(object) => {
                for (key, value) in object.iter() {
                    if let ObjectKey::Expression(k) = key {
                        self.expr(k);
                    }
                    self.expr(value.expr());
                }
            }
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.expr(p.inner()),
            Expression::Conditional(c) => {
                self.expr(&c.cond_expr);
                self.expr(&c.true_expr);
                self.expr(&c.false_expr);
            }
            Expression::FuncCall(call) => call.args.iter().for_each(|a| self.expr(a)),
            Expression::Traversal(t) => {
                match &t.expr {
                    Expression::Variable(root) => self.root(root.as_str(), t),
                    other => self.expr(other),
                }
                for op in &t.operators {
                    if let TraversalOperator::Index(i) = op.value() {
                        self.expr(i);
                    }
                }
            }
            Expression::UnaryOp(op) => self.expr(&op.expr),
            Expression::BinaryOp(op) => {
                self.expr(&op.lhs_expr);
                self.expr(&op.rhs_expr);
            }
            Expression::ForExpr(f) => {
                self.expr(&f.intro.collection_expr);
                let depth = self.bound.len();
                if let Some(k) = &f.intro.key_var {
                    self.bound.push(k.as_str().to_string());
                }
                self.bound.push(f.intro.value_var.as_str().to_string());
                if let Some(k) = &f.key_expr {
                    self.expr(k);
                }
                self.expr(&f.value_expr);
                if let Some(c) = &f.cond {
                    self.expr(&c.expr);
                }
                self.bound.truncate(depth);
            }
        }
    }

    fn root(&mut self, root: &str, t: &hcl_edit::expr::Traversal) {
        self.note_root(root);
        if self.bound.iter().any(|b| b == root) {
            return;
        }
        let Some(TraversalOperator::GetAttr(name)) = t.operators.first().map(|o| o.value()) else {
            return;
        };
        let subject = match root {
            "var" => Subject::Var(name.as_str().to_string()),
            "local" => Subject::Local(name.as_str().to_string()),
            kind if self.kinds.is_some_and(|k| k.is_kind(kind)) => {
                Subject::Resource(ResourceAddr::new(kind, name.as_str()))
            }
            _ => return,
        };
        let name_span = span_of(self.file, &t.operators[0]);
        let span = span_of(self.file, &t.expr).to(&name_span);
        self.out.push(Reference {
            subject,
            span,
            name_span,
        });
    }

    fn template(&mut self, t: &Template) {
        for element in t.iter() {
            match element {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.expr(&i.expr),
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(d) => {
                        self.expr(&d.if_expr.cond_expr);
                        self.template(&d.if_expr.template);
                        if let Some(e) = &d.else_expr {
                            self.template(&e.template);
                        }
                    }
                    Directive::For(d) => {
                        let f = &d.for_expr;
                        self.expr(&f.collection_expr);
                        let depth = self.bound.len();
                        if let Some(k) = &f.key_var {
                            self.bound.push(k.as_str().to_string());
                        }
                        self.bound.push(f.value_var.as_str().to_string());
                        self.template(&f.template);
                        self.bound.truncate(depth);
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(src: &str) -> Vec<String> {
        let expr = match hcl_edit::parser::parse_expr(src) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        let mut kinds = Catalog::default();
        for kind in ["instance", "host", "bridge"] {
            kinds
                .add(kind, "test", hive_sdk::schema::Schema::default())
                .unwrap();
        }
        references(0, &expr, &kinds)
            .into_iter()
            .map(|r| match r.subject {
                Subject::Var(n) => format!("var.{n}"),
                Subject::Local(n) => format!("local.{n}"),
                Subject::Resource(a) => a.to_string(),
            })
            .collect()
    }

    #[test]
    fn finds_references_everywhere() {
        assert_eq!(
            subjects(
                r#""${var.a}-${local.b}" == join(",", instance.node[*].ip) ? host.h : { k = bridge.x }"#
            ),
            ["var.a", "local.b", "instance.node", "host.h", "bridge.x"]
        );
    }

    #[test]
    fn instance_dependence_is_seen_through_nesting() {
        let parse = |s: &str| hcl_edit::parser::parse_expr(s).unwrap();
        assert!(mentions_instance(&parse(
            "length(concat(x, [count.index]))"
        )));
        assert!(mentions_instance(&parse("\"${each.key}\"")));
        assert!(!mentions_instance(&parse("length(instance.node[*].ip)")));
        assert!(!mentions_instance(&parse("[for count in xs : count]")));
    }

    #[test]
    fn names_bound_by_for_are_not_references() {
        assert_eq!(
            subjects("[for instance in var.xs : instance.ip if local.ok]"),
            ["var.xs", "local.ok"]
        );
    }
}
