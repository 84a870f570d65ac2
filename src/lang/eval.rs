//! The expression evaluator: HCL syntax trees → [`Value`]s, in a [`Scope`].
//!
//! Unknown values propagate (an operation on something known only after apply is itself known
//! only after apply) and so do sensitive marks. Every error points at the sub-expression at
//! fault.

mod special;

use super::functions::{self, FnContext};
use super::refs::Subject;
use crate::config::{span_of, Expr};
use crate::diag::{did_you_mean, Diagnostic, FileId};
use hcl_edit::expr::{
    BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::Decorated;
use hive_sdk::addr::ResourceAddr;
use hive_sdk::value::format_number;
use hive_sdk::{Type, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

pub use super::scope::{undeclared, InstanceCache, RepetitionKind, ResourceTable, Scope, HIVE_ID};

const UNKNOWN: Value = Value::Unknown;

impl Scope<'_> {
    /// Evaluates an expression from the configuration.
    pub fn eval(&self, expr: &Expr) -> Result<Value, Diagnostic> {
        Evaluator::new(self, expr.file).eval(&expr.expr)
    }

    /// Evaluates an expression with names bound besides the scope's (`output` in a test's
    /// assertions).
    pub fn eval_with(
        &self,
        expr: &Expr,
        bindings: &[(String, Value)],
    ) -> Result<Value, Diagnostic> {
        let mut evaluator = Evaluator::new(self, expr.file);
        evaluator.bindings = bindings.to_vec();
        evaluator.eval(&expr.expr)
    }
}

pub struct Evaluator<'s, 'a> {
    scope: &'s Scope<'a>,
    file: FileId,
    /// Names bound by `for` expressions and templates, innermost last.
    bindings: Vec<(String, Value)>,
}

impl<'s, 'a> Evaluator<'s, 'a> {
    pub fn new(scope: &'s Scope<'a>, file: FileId) -> Self {
        Evaluator {
            scope,
            file,
            bindings: Vec::new(),
        }
    }

    fn err(&self, node: &impl hcl_edit::Span, summary: impl Into<String>) -> Diagnostic {
        Diagnostic::error(summary).at(span_of(self.file, node))
    }

    pub fn eval(&mut self, expr: &Expression) -> Result<Value, Diagnostic> {
        let cache = match (self.scope.instance_cache, expr) {
            (Some(cache), Expression::FuncCall(_) | Expression::ForExpr(_))
                if self.bindings.is_empty() =>
            {
                cache
            }
            _ => return self.eval_uncached(expr),
        };
        let key = expr as *const Expression as usize;
        let cached = cache.borrow().get(&key).cloned();
        match cached {
            Some(Some(value)) => Ok(value),
            Some(None) => self.eval_uncached(expr),
            None if super::refs::mentions_instance(expr) => {
                cache.borrow_mut().insert(key, None);
                self.eval_uncached(expr)
            }
            None => {
                let value = self.eval_uncached(expr)?;
                cache.borrow_mut().insert(key, Some(value.clone()));
                Ok(value)
            }
        }
    }

    fn eval_uncached(&mut self, expr: &Expression) -> Result<Value, Diagnostic> {
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => n
                .value()
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Value::Number)
                .ok_or_else(|| self.err(expr, "number out of range")),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    out.push(self.eval(item)?);
                }
                Ok(Value::List(out))
            }
            Expression::Object(object) => {
                let mut out = BTreeMap::new();
                let mut unknown = false;
                for (key, value) in object.iter() {
                    let name = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_string(),
                        ObjectKey::Expression(key_expr) => match self.object_key(key_expr)? {
                            Some(k) => k,
                            None => {
                                unknown = true;
                                continue;
                            }
                        },
                    };
                    let v = self.eval(value.expr())?;
                    if out.insert(name.clone(), v).is_some() {
                        return Err(self
                            .err(key, format!("duplicate key \"{name}\" in object"))
                            .detail("each key may appear only once"));
                    }
                }
                Ok(if unknown {
                    Value::Unknown
                } else {
                    Value::Map(out)
                })
            }
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => self.variable(v),
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr)?;
                let (cond, sensitive) = cond.unmark();
                match Type::Bool.convert(cond) {
                    Ok(Value::Bool(true)) => {
                        Ok(self.eval(&c.true_expr)?.mark_sensitive_if(sensitive))
                    }
                    Ok(Value::Bool(false)) => {
                        Ok(self.eval(&c.false_expr)?.mark_sensitive_if(sensitive))
                    }
                    Ok(Value::Unknown) => {
                        self.eval(&c.true_expr)?;
                        self.eval(&c.false_expr)?;
                        Ok(Value::Unknown)
                    }
                    Ok(Value::Null) => Err(self
                        .err(&c.cond_expr, "the condition is null")
                        .detail("a condition must be true or false")),
                    Ok(_) | Err(_) => Err(self
                        .err(&c.cond_expr, "the condition must be a bool")
                        .detail("a condition must be true or false")),
                }
            }
            Expression::FuncCall(call) => self.call(call),
            Expression::Traversal(t) => {
                let mut sensitive = false;
                let root = self.traversal_root(&t.expr, &t.operators)?;
                let (value, ops) = root;
                let value = self.apply_ops(value, ops, &mut sensitive)?;
                Ok(value.into_owned().mark_sensitive_if(sensitive))
            }
            Expression::UnaryOp(op) => {
                let operand = self.eval(&op.expr)?;
                let (operand, sensitive) = operand.unmark();
                if operand.is_unknown() {
                    return Ok(Value::Unknown);
                }
                let result = match op.operator.value() {
                    UnaryOperator::Neg => match Type::Number.convert(operand) {
                        Ok(Value::Number(n)) => Value::Number(-n),
                        _ => return Err(self.err(&op.expr, "the operand of - must be a number")),
                    },
                    UnaryOperator::Not => match Type::Bool.convert(operand) {
                        Ok(Value::Bool(b)) => Value::Bool(!b),
                        _ => return Err(self.err(&op.expr, "the operand of ! must be a bool")),
                    },
                };
                Ok(result.mark_sensitive_if(sensitive))
            }
            Expression::BinaryOp(op) => self.binary(op),
            Expression::ForExpr(f) => self.for_expr(f),
        }
    }

    /// Evaluates a computed object key; `None` if it is unknown.
    fn object_key(&mut self, key_expr: &Expression) -> Result<Option<String>, Diagnostic> {
        let key = self.eval(key_expr)?;
        if key.contains_sensitive() {
            return Err(self.err(key_expr, "a sensitive value cannot be an object key"));
        }
        match key {
            Value::Unknown => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(format_number(n))),
            Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(self.err(
                key_expr,
                format!("an object key must be a string, got {}", other.type_name()),
            )),
        }
    }

    fn variable(&mut self, ident: &Decorated<hcl_edit::Ident>) -> Result<Value, Diagnostic> {
        let name = ident.as_str();
        if let Some((_, v)) = self.bindings.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        let (summary, help) = match name {
            "var" | "local" | "count" | "each" | "path" | "hive" => (
                format!("\"{name}\" must be followed by an attribute"),
                Some(match name {
                    "var" => "for example var.nodes".to_string(),
                    "local" => "for example local.prefix".to_string(),
                    "count" => "write count.index".to_string(),
                    "each" => "write each.key or each.value".to_string(),
                    "hive" => "write hive.id".to_string(),
                    _ => "write path.module".to_string(),
                }),
            ),
            kind if self.scope.resources.kinds.is_kind(kind) => (
                format!("a reference to a {kind} needs its name"),
                Some(format!("write {kind}.NAME")),
            ),
            _ => {
                let bound = self.bindings.iter().map(|(n, _)| n.as_str());
                let roots = ["var", "local", "count", "each", "path", "hive"]
                    .iter()
                    .copied()
                    .chain(self.scope.resources.kinds.names());
                (
                    format!("unknown name \"{name}\""),
                    did_you_mean(name, bound.chain(roots)).or_else(|| {
                        Some(
                            "references start with var., local., count., each., path., hive. or a resource kind"
                                .to_string(),
                        )
                    }),
                )
            }
        };
        Err(self.err(ident, summary).help_opt(help))
    }

    /// Resolves the start of a traversal that refers to something in scope (`var.x`,
    /// `local.y`, `instance.node`, `count.index`...). Returns the value and the operators left to
    /// apply.
    fn traversal_root<'o>(
        &mut self,
        root: &Expression,
        ops: &'o [Decorated<TraversalOperator>],
    ) -> Result<(Cow<'s, Value>, &'o [Decorated<TraversalOperator>]), Diagnostic>
    where
        'a: 's,
    {
        let Expression::Variable(ident) = root else {
            let value = self.eval(root)?;
            return Ok((Cow::Owned(value), ops));
        };
        let name = ident.as_str();
        if self.bindings.iter().any(|(n, _)| n == name) {
            return Ok((Cow::Owned(self.variable(ident)?), ops));
        }
        let is_root = matches!(name, "var" | "local" | "count" | "each" | "path" | "hive")
            || self.scope.resources.kinds.is_kind(name);
        if !is_root {
            return Err(self
                .variable(ident)
                .err()
                .unwrap_or_else(|| self.err(ident, format!("unknown name \"{name}\""))));
        }
        let Some((first, rest)) = ops.split_first() else {
            return Err(self
                .variable(ident)
                .err()
                .unwrap_or_else(|| self.err(ident, "bad reference")));
        };
        let TraversalOperator::GetAttr(attr) = first.value() else {
            return Err(self.err(first, format!("\"{name}\" must be followed by .NAME")));
        };
        let attr_name = attr.as_str();
        let scope: &'s Scope<'a> = self.scope;
        match name {
            "var" => match scope.vars.get(attr_name).filter(|_| attr_name != HIVE_ID) {
                Some(v) => Ok((Cow::Borrowed(v), rest)),
                None => Err(undeclared(
                    &Subject::Var(attr_name.to_string()),
                    span_of(self.file, first),
                    scope
                        .vars
                        .keys()
                        .map(String::as_str)
                        .filter(|k| *k != HIVE_ID),
                )),
            },
            "hive" => match (attr_name, scope.vars.get(HIVE_ID)) {
                ("id", Some(id)) => Ok((Cow::Borrowed(id), rest)),
                ("id", None) => Err(self
                    .err(first, "hive.id is not known here")
                    .detail("hive.id names the state, and the hive block's settings choose the state: they cannot use it")),
                _ => Err(self
                    .err(first, format!("hive has no attribute \"{attr_name}\""))
                    .help("the only one is hive.id")),
            },
            "local" => match scope.locals.get(attr_name) {
                Some(v) => Ok((Cow::Borrowed(v), rest)),
                None => Err(undeclared(
                    &Subject::Local(attr_name.to_string()),
                    span_of(self.file, first),
                    scope.locals.keys().map(String::as_str),
                )),
            },
            "count" => match (attr_name, &scope.count_index) {
                ("index", Some(i)) => Ok((Cow::Borrowed(i), rest)),
                ("index", None) => Err(self.err(
                    root,
                    "count.index is only available in a resource with count",
                )),
                _ => Err(self
                    .err(first, format!("count has no attribute \"{attr_name}\""))
                    .help("the only one is count.index")),
            },
            "each" => match (attr_name, &scope.each) {
                ("key", Some((k, _))) => Ok((Cow::Borrowed(k), rest)),
                ("value", Some((_, v))) => Ok((Cow::Borrowed(v), rest)),
                ("key" | "value", None) => Err(self.err(
                    root,
                    format!("each.{attr_name} is only available in a resource with for_each"),
                )),
                _ => Err(self
                    .err(first, format!("each has no attribute \"{attr_name}\""))
                    .help("write each.key or each.value")),
            },
            "path" => match attr_name {
                "module" | "root" | "cwd" => Ok((
                    Cow::Owned(Value::String(scope.dir.display().to_string())),
                    rest,
                )),
                _ => Err(self
                    .err(first, format!("path has no attribute \"{attr_name}\""))
                    .help("write path.module")),
            },
            kind => self.resource_root(kind, first, attr_name, rest),
        }
    }

    fn resource_root<'o>(
        &mut self,
        kind: &str,
        name_op: &Decorated<TraversalOperator>,
        name: &str,
        rest: &'o [Decorated<TraversalOperator>],
    ) -> Result<(Cow<'s, Value>, &'o [Decorated<TraversalOperator>]), Diagnostic>
    where
        'a: 's,
    {
        let scope = self.scope;
        let addr = ResourceAddr::new(kind, name);
        let Some(repetition) = scope.resources.declared.get(&addr) else {
            let same_kind = scope
                .resources
                .declared
                .keys()
                .filter(|a| a.kind == kind)
                .map(|a| a.name.as_str());
            return Err(undeclared(
                &Subject::Resource(addr.clone()),
                span_of(self.file, name_op),
                same_kind,
            ));
        };
        let next = rest.first();
        match (repetition, next.map(|op| op.value())) {
            (RepetitionKind::Count, Some(TraversalOperator::GetAttr(attr))) => {
                return Err(self
                    .err(
                        next.map_or(name_op, |n| n),
                        format!("{addr} has count set, so it is a list of instances"),
                    )
                    .help(format!(
                        "pick one with an index, {addr}[0].{0}, or all with {addr}[*].{0}",
                        attr.as_str()
                    )))
            }
            (RepetitionKind::ForEach, Some(TraversalOperator::GetAttr(attr))) => {
                return Err(self
                    .err(
                        next.map_or(name_op, |n| n),
                        format!("{addr} has for_each set, so it is a map of instances"),
                    )
                    .help(format!(
                        "pick one by key: {addr}[\"KEY\"].{}",
                        attr.as_str()
                    )))
            }
            (RepetitionKind::Count, Some(TraversalOperator::Index(key_expr))) => {
                if let Some(Value::String(key)) = self.static_key(key_expr) {
                    if key.parse::<f64>().is_err() {
                        return Err(self
                            .err(
                                key_expr,
                                format!(
                                    "{addr} has count set: its instances are numbered, not keyed"
                                ),
                            )
                            .help(format!("write {addr}[0]")));
                    }
                }
            }
            (RepetitionKind::ForEach, Some(TraversalOperator::Index(key_expr))) => {
                if let Some(Value::Number(n)) = self.static_key(key_expr) {
                    return Err(self
                        .err(key_expr, format!("{addr} has for_each set: its instances are keyed by string, not numbered"))
                        .help(format!("write {addr}[\"KEY\"], not {addr}[{}]", format_number(n))));
                }
            }
            (RepetitionKind::ForEach, Some(TraversalOperator::LegacyIndex(_))) => {
                return Err(self.err(
                    next.map_or(name_op, |n| n),
                    format!(
                        "{addr} has for_each set: its instances are keyed by string, not numbered"
                    ),
                ))
            }
            (
                RepetitionKind::Single,
                Some(TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_)),
            ) => {
                return Err(self
                    .err(
                        next.map_or(name_op, |n| n),
                        format!("{addr} has neither count nor for_each, so it has no index"),
                    )
                    .help(format!("refer to it as {addr}")))
            }
            _ => {}
        }
        match scope.resources.values.get(&addr) {
            Some(v) => Ok((Cow::Borrowed(v), rest)),
            None => Ok((Cow::Borrowed(&UNKNOWN), rest)),
        }
    }

    /// The value of an index expression if it needs nothing from the scope; used only for
    /// checks that must not fail on errors the full evaluation reports anyway.
    fn static_key(&mut self, key_expr: &Expression) -> Option<Value> {
        match key_expr {
            Expression::String(s) => Some(Value::String(s.value().clone())),
            Expression::Number(n) => n.value().as_f64().map(Value::Number),
            _ => self.eval(key_expr).ok().map(|v| v.unmark().0),
        }
    }

    /// Applies traversal operators (`.attr`, `[index]`, splats) to a value without copying the
    /// parts it passes through.
    fn apply_ops<'v>(
        &mut self,
        mut value: Cow<'v, Value>,
        ops: &[Decorated<TraversalOperator>],
        sensitive: &mut bool,
    ) -> Result<Cow<'v, Value>, Diagnostic> {
        let mut i = 0;
        while i < ops.len() {
            let op = &ops[i];
            if let Value::Sensitive(_) = value.as_ref() {
                *sensitive = true;
                value = match value {
                    Cow::Borrowed(v) => Cow::Borrowed(v.unmarked()),
                    Cow::Owned(v) => Cow::Owned(v.unmark().0),
                };
            }
            if value.is_unknown() {
                return Ok(Cow::Owned(Value::Unknown));
            }
            match op.value() {
                TraversalOperator::GetAttr(attr) => {
                    let hide = *sensitive;
                    value =
                        self.step(value, |this, v| this.get_attr(v, attr.as_str(), op, hide))?;
                }
                TraversalOperator::Index(key_expr) => {
                    let key = self.eval(key_expr)?;
                    let (key, key_sensitive) = key.unmark();
                    *sensitive |= key_sensitive;
                    if key.is_unknown() {
                        return Ok(Cow::Owned(Value::Unknown));
                    }
                    let hide = *sensitive;
                    value = self.step(value, |this, v| this.index(v, &key, key_expr, hide))?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    let key = Value::Number(*n.value() as f64);
                    let hide = *sensitive;
                    value = self.step(value, |this, v| this.index(v, &key, op, hide))?;
                }
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let full = matches!(op.value(), TraversalOperator::FullSplat(_));
                    let rest = &ops[i + 1..];
                    // `.*` applies only the attribute accesses that follow; `[*]` applies all.
                    let take = if full {
                        rest.len()
                    } else {
                        rest.iter()
                            .take_while(|o| matches!(o.value(), TraversalOperator::GetAttr(_)))
                            .count()
                    };
                    let per_item = &rest[..take];
                    let items: Vec<Value> = match value.as_ref() {
                        Value::Null => Vec::new(),
                        Value::List(items) | Value::Set(items) => items.clone(),
                        other => vec![other.clone()],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        let mut item_sensitive = false;
                        let v = self.apply_ops(Cow::Owned(item), per_item, &mut item_sensitive)?;
                        out.push(v.into_owned().mark_sensitive_if(item_sensitive));
                    }
                    value = Cow::Owned(Value::List(out));
                    i += 1 + take;
                    continue;
                }
            }
            i += 1;
        }
        Ok(value)
    }

    /// Moves one step down a value, borrowing where the input was borrowed.
    fn step<'v>(
        &mut self,
        value: Cow<'v, Value>,
        f: impl for<'x> FnOnce(&mut Self, &'x Value) -> Result<&'x Value, Diagnostic>,
    ) -> Result<Cow<'v, Value>, Diagnostic> {
        match value {
            Cow::Borrowed(v) => f(self, v).map(Cow::Borrowed),
            Cow::Owned(v) => f(self, &v).map(|x| Cow::Owned(x.clone())),
        }
    }

    /// `hide`: the value or the key is sensitive, so the error must not list keys or quote
    /// the key.
    fn get_attr<'x>(
        &mut self,
        value: &'x Value,
        name: &str,
        at: &impl hcl_edit::Span,
        hide: bool,
    ) -> Result<&'x Value, Diagnostic> {
        match value {
            Value::Map(entries) => entries.get(name).ok_or_else(|| {
                let e = self.err(at, format!("no attribute \"{name}\""));
                if hide {
                    e.detail("the object is sensitive: its attributes are not shown")
                } else if entries.is_empty() {
                    e.detail("the object has no attributes")
                } else {
                    e.detail(format!(
                        "the object has: {}",
                        entries.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .help_opt(did_you_mean(name, entries.keys().map(String::as_str)))
                }
            }),
            Value::Unknown => Ok(&UNKNOWN),
            Value::Null => Err(self.err(at, format!("cannot read \"{name}\" of a null value"))),
            Value::List(_) | Value::Set(_) => Err(self
                .err(
                    at,
                    format!("cannot read \"{name}\" of a {}", value.type_name()),
                )
                .help(format!(
                    "pick an element first ([0].{name}) or use a splat ([*].{name})"
                ))),
            other => Err(self.err(
                at,
                format!("cannot read \"{name}\" of a {}", other.type_name()),
            )),
        }
    }

    fn index<'x>(
        &mut self,
        value: &'x Value,
        key: &Value,
        at: &impl hcl_edit::Span,
        hide: bool,
    ) -> Result<&'x Value, Diagnostic> {
        let shown_key = if hide {
            "(sensitive)".to_string()
        } else {
            key.to_string()
        };
        match value {
            Value::List(items) => {
                let n = match Type::Number.convert(key.clone()) {
                    Ok(Value::Number(n)) if n.fract() == 0.0 && n >= 0.0 => n,
                    _ => {
                        return Err(self.err(
                            at,
                            format!("a list index must be a whole number, got {shown_key}"),
                        ))
                    }
                };
                let found = if n < items.len() as f64 {
                    items.get(n as usize)
                } else {
                    None
                };
                found.ok_or_else(|| {
                    let index = if hide {
                        shown_key.clone()
                    } else {
                        format_number(n)
                    };
                    self.err(
                        at,
                        format!(
                            "index {index} is out of range: the list has {} element{}",
                            items.len(),
                            if items.len() == 1 { "" } else { "s" }
                        ),
                    )
                })
            }
            Value::Map(entries) => {
                let name = match key {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => format_number(*n),
                    other => {
                        return Err(self.err(
                            at,
                            format!("a map key must be a string, got {}", other.type_name()),
                        ))
                    }
                };
                entries.get(&name).ok_or_else(|| {
                    if hide {
                        return self
                            .err(at, "no element with that key")
                            .detail("the map or the key is sensitive: neither is shown");
                    }
                    self.err(at, format!("no element with key \"{name}\""))
                        .detail(format!(
                            "the keys are: {}",
                            entries.keys().cloned().collect::<Vec<_>>().join(", ")
                        ))
                        .help_opt(did_you_mean(&name, entries.keys().map(String::as_str)))
                })
            }
            Value::Set(_) => Err(self
                .err(at, "elements of a set cannot be picked by index")
                .help("convert it first: tolist(...)[0]")),
            Value::Unknown => Ok(&UNKNOWN),
            Value::Null => Err(self.err(at, "cannot index a null value")),
            other => Err(self.err(at, format!("cannot index a {}", other.type_name()))),
        }
    }

    fn binary(&mut self, op: &hcl_edit::expr::BinaryOp) -> Result<Value, Diagnostic> {
        use BinaryOperator as B;
        let operator = *op.operator.value();
        let lhs = self.eval(&op.lhs_expr)?;
        let lhs_sensitive = lhs.contains_sensitive();
        // `&&` and `||` stop early when the left side decides, so `x != null && x.y` works.
        if matches!(operator, B::And | B::Or) {
            let l = self.bool_operand(&op.lhs_expr, lhs)?;
            if l == Some(operator == B::Or) {
                return Ok(Value::Bool(operator == B::Or).mark_sensitive_if(lhs_sensitive));
            }
            let rhs = self.eval(&op.rhs_expr)?;
            let rhs_sensitive = rhs.contains_sensitive();
            let r = self.bool_operand(&op.rhs_expr, rhs)?;
            let sensitive = lhs_sensitive || rhs_sensitive;
            return Ok(match (l, r) {
                (Some(_), Some(r)) => Value::Bool(r),
                _ => Value::Unknown,
            }
            .mark_sensitive_if(sensitive));
        }
        let rhs = self.eval(&op.rhs_expr)?;
        let rhs_sensitive = rhs.contains_sensitive();
        let sensitive = lhs_sensitive || rhs_sensitive;
        if matches!(operator, B::Eq | B::NotEq) {
            if !lhs.is_wholly_known() || !rhs.is_wholly_known() {
                return Ok(Value::Unknown.mark_sensitive_if(sensitive));
            }
            let equal = values_equal(&lhs, &rhs);
            return Ok(Value::Bool(equal == (operator == B::Eq)).mark_sensitive_if(sensitive));
        }
        let l = self.number_operand(&op.lhs_expr, lhs, &operator)?;
        let r = self.number_operand(&op.rhs_expr, rhs, &operator)?;
        let (Some(l), Some(r)) = (l, r) else {
            return Ok(Value::Unknown.mark_sensitive_if(sensitive));
        };
        let result = match operator {
            B::Plus => Value::Number(l + r),
            B::Minus => Value::Number(l - r),
            B::Mul => Value::Number(l * r),
            B::Div | B::Mod if r == 0.0 => return Err(self.err(&op.rhs_expr, "division by zero")),
            B::Div => Value::Number(l / r),
            B::Mod => Value::Number(l % r),
            B::Less => Value::Bool(l < r),
            B::LessEq => Value::Bool(l <= r),
            B::Greater => Value::Bool(l > r),
            B::GreaterEq => Value::Bool(l >= r),
            B::Eq | B::NotEq | B::And | B::Or => Value::Unknown,
        };
        if let Value::Number(n) = result {
            if !n.is_finite() {
                return Err(self.err(&op.operator, "the result is not a finite number"));
            }
        }
        Ok(result.mark_sensitive_if(sensitive))
    }

    fn bool_operand(&self, at: &Expression, v: Value) -> Result<Option<bool>, Diagnostic> {
        match Type::Bool.convert(v).map(|v| v.unmark().0) {
            Ok(Value::Bool(b)) => Ok(Some(b)),
            Ok(Value::Unknown) => Ok(None),
            Ok(other) => Err(self.err(
                at,
                format!("a bool is required here, got {}", other.type_name()),
            )),
            Err(e) => Err(self.err(at, format!("a bool is required here: {}", e.message))),
        }
    }

    fn number_operand(
        &self,
        at: &Expression,
        v: Value,
        op: &BinaryOperator,
    ) -> Result<Option<f64>, Diagnostic> {
        match Type::Number.convert(v).map(|v| v.unmark().0) {
            Ok(Value::Number(n)) => Ok(Some(n)),
            Ok(Value::Unknown) => Ok(None),
            Ok(other) => Err(self.err(
                at,
                format!(
                    "the operands of {} must be numbers, got {}",
                    op.as_str(),
                    other.type_name()
                ),
            )),
            Err(e) => Err(self.err(
                at,
                format!(
                    "the operands of {} must be numbers: {}",
                    op.as_str(),
                    e.message
                ),
            )),
        }
    }

    fn call(&mut self, call: &FuncCall) -> Result<Value, Diagnostic> {
        let name = call.name.name.as_str();
        if call.name.is_namespaced() {
            return Err(self
                .err(&call.name.name, format!("unknown function \"{name}\""))
                .detail("hive has no provider functions"));
        }
        if let Some(result) = self.special_call(name, call) {
            return result;
        }
        let Some(function) = functions::lookup(name) else {
            if let Some(why) = functions::refused(name) {
                return Err(self
                    .err(&call.name.name, format!("hive has no function \"{name}\""))
                    .detail(why));
            }
            return Err(self
                .err(&call.name.name, format!("unknown function \"{name}\""))
                .help_opt(did_you_mean(name, functions::names())));
        };
        let arg_exprs: Vec<&Expression> = call.args.iter().collect();
        let mut args = Vec::with_capacity(arg_exprs.len());
        for a in &arg_exprs {
            args.push(self.eval(a)?);
        }
        if call.args.expand_final() {
            match args.pop().map(Value::unmark) {
                Some((Value::List(items) | Value::Set(items), s)) => {
                    args.extend(items.into_iter().map(|v| v.mark_sensitive_if(s)))
                }
                Some((Value::Unknown, s)) => return Ok(Value::Unknown.mark_sensitive_if(s)),
                _ => {
                    return Err(self.err(
                        arg_exprs.last().copied().unwrap_or(&Expression::null()),
                        "only a list can be expanded with ...",
                    ))
                }
            }
        }
        let dir = self.scope.dir;
        let render = |src: &str, path: &Path, vars: &BTreeMap<String, Value>| {
            render_template_file(self.scope, src, path, vars)
        };
        let ctx = FnContext {
            base_dir: dir,
            render_template: &render,
        };
        // Point at the argument at fault, unless it was spread out of a list with `...`.
        let spread_from = call
            .args
            .expand_final()
            .then(|| arg_exprs.len().saturating_sub(1));
        functions::call(function, &ctx, args).map_err(|e| {
            let arg = e
                .arg
                .filter(|&i| spread_from.is_none_or(|s| i < s))
                .and_then(|i| arg_exprs.get(i));
            match arg {
                Some(arg) => self.err(*arg, e.message),
                None => self.err(call, e.message),
            }
        })
    }

    fn for_expr(&mut self, f: &ForExpr) -> Result<Value, Diagnostic> {
        let collection = self.eval(&f.intro.collection_expr)?;
        let (collection, sensitive) = collection.unmark();
        let Some(pairs) = iteration_pairs(collection).map_err(|got| {
            self.err(
                &f.intro.collection_expr,
                format!("a for expression needs a list, set or map, got {got}"),
            )
        })?
        else {
            return Ok(Value::Unknown.mark_sensitive_if(sensitive));
        };
        let key_var = f.intro.key_var.as_ref().map(|k| k.as_str().to_string());
        let value_var = f.intro.value_var.as_str().to_string();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut unknown = false;
        for (k, v) in pairs {
            let depth = self.bindings.len();
            if let Some(key_var) = &key_var {
                self.bindings
                    .push((key_var.clone(), k.mark_sensitive_if(sensitive)));
            }
            self.bindings
                .push((value_var.clone(), v.mark_sensitive_if(sensitive)));
            let item = self.for_item(f, &mut list, &mut map, &mut unknown);
            self.bindings.truncate(depth);
            item?;
        }
        if unknown {
            return Ok(Value::Unknown.mark_sensitive_if(sensitive));
        }
        let result = match &f.key_expr {
            None => Value::List(list),
            Some(_) => Value::Map(map),
        };
        Ok(result.mark_sensitive_if(sensitive))
    }

    fn for_item(
        &mut self,
        f: &ForExpr,
        list: &mut Vec<Value>,
        map: &mut BTreeMap<String, Value>,
        unknown: &mut bool,
    ) -> Result<(), Diagnostic> {
        if let Some(cond) = &f.cond {
            let c = self.eval(&cond.expr)?;
            match self.bool_operand(&cond.expr, c.unmark().0)? {
                Some(true) => {}
                Some(false) => return Ok(()),
                None => {
                    *unknown = true;
                    return Ok(());
                }
            }
        }
        let Some(key_expr) = &f.key_expr else {
            list.push(self.eval(&f.value_expr)?);
            return Ok(());
        };
        let Some(key) = self.object_key(key_expr)? else {
            *unknown = true;
            return Ok(());
        };
        let value = self.eval(&f.value_expr)?;
        if f.grouping {
            match map.entry(key).or_insert_with(|| Value::List(Vec::new())) {
                Value::List(group) => group.push(value),
                _ => *unknown = true,
            }
        } else if map.insert(key.clone(), value).is_some() {
            return Err(self
                .err(
                    key_expr,
                    format!("duplicate key \"{key}\" in for expression"),
                )
                .help("add ... after the value to group values with the same key: k => v..."));
        }
        Ok(())
    }

    /// Renders a template; a template that is one interpolation yields its value unconverted.
    fn template(&mut self, t: &Template) -> Result<Value, Diagnostic> {
        if let Some(Element::Interpolation(i)) = t.as_single_element() {
            return self.eval(&i.expr);
        }
        let mut out = String::new();
        let mut sensitive = false;
        match self.render(t, &mut out, &mut sensitive)? {
            true => Ok(Value::String(out).mark_sensitive_if(sensitive)),
            // What it will be is made of a secret: secret too.
            false => Ok(Value::Unknown.mark_sensitive_if(sensitive)),
        }
    }

    /// Appends the template's text to `out`; returns false if some part is unknown.
    fn render(
        &mut self,
        t: &Template,
        out: &mut String,
        sensitive: &mut bool,
    ) -> Result<bool, Diagnostic> {
        let mut known = true;
        // Whether the next literal must lose its leading whitespace (a `~}` before it).
        let mut strip_next = false;
        for element in t.iter() {
            match element {
                Element::Literal(lit) => {
                    let text: &str = lit.as_str();
                    if strip_next {
                        out.push_str(text.trim_start());
                    } else {
                        out.push_str(text);
                    }
                    strip_next = false;
                }
                Element::Interpolation(i) => {
                    if i.strip.strip_start() {
                        trim_end_in_place(out);
                    }
                    let v = self.eval(&i.expr)?;
                    known &= self.append_value(&i.expr, v, out, sensitive)?;
                    strip_next = i.strip.strip_end();
                }
                Element::Directive(d) => {
                    let (strip_before, strip_after) = match d.as_ref() {
                        Directive::If(d) => (
                            d.if_expr.strip.strip_start(),
                            d.endif_expr.strip.strip_end(),
                        ),
                        Directive::For(d) => (
                            d.for_expr.strip.strip_start(),
                            d.endfor_expr.strip.strip_end(),
                        ),
                    };
                    if strip_before {
                        trim_end_in_place(out);
                    }
                    known &= self.directive(d.as_ref(), out, sensitive)?;
                    strip_next = strip_after;
                }
            }
        }
        Ok(known)
    }

    fn directive(
        &mut self,
        d: &Directive,
        out: &mut String,
        sensitive: &mut bool,
    ) -> Result<bool, Diagnostic> {
        match d {
            Directive::If(d) => {
                let c = self.eval(&d.if_expr.cond_expr)?;
                let (c, s) = c.unmark();
                *sensitive |= s;
                let branch = match self.bool_operand(&d.if_expr.cond_expr, c)? {
                    None => return Ok(false),
                    Some(true) => Some((
                        &d.if_expr.template,
                        d.if_expr.strip.strip_end(),
                        d.else_expr
                            .as_ref()
                            .map_or(d.endif_expr.strip.strip_start(), |e| e.strip.strip_start()),
                    )),
                    Some(false) => d.else_expr.as_ref().map(|e| {
                        (
                            &e.template,
                            e.strip.strip_end(),
                            d.endif_expr.strip.strip_start(),
                        )
                    }),
                };
                let Some((template, trim_start, trim_end)) = branch else {
                    return Ok(true);
                };
                self.render_part(template, trim_start, trim_end, out, sensitive)
            }
            Directive::For(d) => {
                let f = &d.for_expr;
                let collection = self.eval(&f.collection_expr)?;
                let (collection, s) = collection.unmark();
                *sensitive |= s;
                let Some(pairs) = iteration_pairs(collection).map_err(|got| {
                    self.err(
                        &f.collection_expr,
                        format!("a for directive needs a list, set or map, got {got}"),
                    )
                })?
                else {
                    return Ok(false);
                };
                let mut known = true;
                for (k, v) in pairs {
                    let depth = self.bindings.len();
                    if let Some(key_var) = &f.key_var {
                        self.bindings.push((key_var.as_str().to_string(), k));
                    }
                    self.bindings.push((f.value_var.as_str().to_string(), v));
                    let part = self.render_part(
                        &f.template,
                        f.strip.strip_end(),
                        d.endfor_expr.strip.strip_start(),
                        out,
                        sensitive,
                    );
                    self.bindings.truncate(depth);
                    known &= part?;
                }
                Ok(known)
            }
        }
    }

    fn render_part(
        &mut self,
        t: &Template,
        trim_start: bool,
        trim_end: bool,
        out: &mut String,
        sensitive: &mut bool,
    ) -> Result<bool, Diagnostic> {
        let mut part = String::new();
        let known = self.render(t, &mut part, sensitive)?;
        let part = if trim_start { part.trim_start() } else { &part };
        let part = if trim_end { part.trim_end() } else { part };
        out.push_str(part);
        Ok(known)
    }

    fn append_value(
        &self,
        at: &Expression,
        v: Value,
        out: &mut String,
        sensitive: &mut bool,
    ) -> Result<bool, Diagnostic> {
        let (v, s) = v.unmark();
        *sensitive |= s;
        match v {
            Value::Unknown => Ok(false),
            Value::String(s) => {
                out.push_str(&s);
                Ok(true)
            }
            Value::Number(n) => {
                out.push_str(&format_number(n));
                Ok(true)
            }
            Value::Bool(b) => {
                out.push_str(if b { "true" } else { "false" });
                Ok(true)
            }
            Value::Null => Err(self
                .err(at, "cannot put a null value in a string")
                .help("give a default, e.g. coalesce(x, \"\")")),
            other => Err(self
                .err(
                    at,
                    format!("cannot put a {} in a string", other.type_name()),
                )
                .help("convert it first, e.g. join(\",\", list) or jsonencode(value)")),
        }
    }
}

/// What `for` iterates over, as (key, value) pairs: list index, set element or map key.
/// `Ok(None)` when the collection is unknown; `Err` names the type that cannot be iterated.
fn iteration_pairs(collection: Value) -> Result<Option<Vec<(Value, Value)>>, &'static str> {
    Ok(Some(match collection {
        Value::Unknown => return Ok(None),
        Value::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::Number(i as f64), v))
            .collect(),
        Value::Set(items) => items.into_iter().map(|v| (v.clone(), v)).collect(),
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| (Value::String(k), v))
            .collect(),
        other => return Err(other.type_name()),
    }))
}

fn trim_end_in_place(s: &mut String) {
    let len = s.trim_end().len();
    s.truncate(len);
}

/// Equality as the language defines it: by value, numbers by magnitude.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.unmarked(), b.unmarked()) {
        (Value::List(x), Value::List(y)) | (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb))
        }
        (a, b) => a == b,
    }
}

/// Renders a template file for `templatefile()`: its own variables only, no access to the
/// configuration's.
fn render_template_file(
    scope: &Scope<'_>,
    src: &str,
    path: &Path,
    vars: &BTreeMap<String, Value>,
) -> Result<Value, String> {
    thread_local! {
        static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    /// Templates may include templates; deeper than this is a template including itself.
    const MAX_TEMPLATE_DEPTH: usize = 8;
    let depth = DEPTH.with(|d| d.get());
    if depth >= MAX_TEMPLATE_DEPTH {
        return Err(format!(
            "{}: templatefile calls nest more than {MAX_TEMPLATE_DEPTH} deep (does the template include itself?)",
            path.display()
        ));
    }
    DEPTH.with(|d| d.set(depth + 1));
    let result = render_template_source(scope, src, path, vars);
    DEPTH.with(|d| d.set(depth));
    match result {
        // Report runaway nesting once, from the outermost call, not once per level.
        Err(e) if depth == 0 && e.contains("templatefile calls nest more than") => Err(format!(
            "{}: templatefile calls nest more than {MAX_TEMPLATE_DEPTH} deep (does the template include itself?)",
            path.display()
        )),
        other => other,
    }
}

fn render_template_source(
    scope: &Scope<'_>,
    src: &str,
    path: &Path,
    vars: &BTreeMap<String, Value>,
) -> Result<Value, String> {
    let template = hcl_edit::parser::parse_template(src)
        .map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let empty = BTreeMap::new();
    let table = ResourceTable::empty(scope.resources.kinds.clone());
    let inner = Scope::plain(scope.dir, &empty, &empty, &table);
    let mut evaluator = Evaluator::new(&inner, usize::MAX);
    evaluator.bindings = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut out = String::new();
    let mut sensitive = false;
    match evaluator.render(&template, &mut out, &mut sensitive) {
        Ok(true) => Ok(Value::String(out).mark_sensitive_if(sensitive)),
        Ok(false) => Ok(Value::Unknown),
        Err(d) => {
            let (line, col) = d
                .span
                .as_ref()
                .map(|s| {
                    crate::diag::SourceFile::new(String::new(), path.to_path_buf(), src.into())
                        .line_col(s.range.start)
                })
                .unwrap_or((1, 1));
            Err(format!("{}:{line}:{col}: {}", path.display(), d.summary))
        }
    }
}
