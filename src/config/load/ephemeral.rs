//! Where ephemeral values may go: only where hive keeps no record of them (attributes a
//! schema marks unrecorded, such as a store's credentials; the state's settings; other
//! ephemeral variables, locals and outputs). A local is ephemeral when it reads one.

use super::Decoder;
use crate::config::{Body, Expr};
use crate::diag::Diagnostic;
use crate::lang::refs::{references, Reference, Subject};
use hive_sdk::schema::Schema;
use std::collections::BTreeSet;

impl Decoder<'_> {
    pub(super) fn check_ephemeral(&mut self) {
        let config = &*self.config;
        let mut vars: BTreeSet<String> = config
            .variables
            .values()
            .filter(|v| v.ephemeral)
            .map(|v| v.name.clone())
            .collect();
        if vars.is_empty() {
            return;
        }
        let kinds = config.catalog.clone();
        let refs = |e: &Expr| references(e.file, &e.expr, &kinds);
        let ephemeral_ref =
            |r: &Reference, vars: &BTreeSet<String>, locals: &BTreeSet<String>| match &r.subject {
                Subject::Var(n) => vars.contains(n),
                Subject::Local(n) => locals.contains(n),
                Subject::Resource(_) => false,
            };
        // Locals that read an ephemeral value, to a fixed point.
        let mut locals: BTreeSet<String> = BTreeSet::new();
        loop {
            let before = locals.len();
            for (name, local) in &config.locals {
                if refs(&local.expr)
                    .iter()
                    .any(|r| ephemeral_ref(r, &vars, &locals))
                {
                    locals.insert(name.clone());
                }
            }
            if locals.len() == before {
                break;
            }
        }
        let mut problems = Vec::new();
        let mut flag = |r: &Reference, whereto: String| {
            let what = match &r.subject {
                Subject::Var(n) => format!("var.{n}"),
                Subject::Local(n) => format!("local.{n}"),
                Subject::Resource(a) => a.to_string(),
            };
            problems.push(
                Diagnostic::error(format!("{what} is ephemeral: it cannot go into {whereto}"))
                    .detail("an ephemeral value is never written to the state or a plan file, so it can only be used where hive keeps no record: a store's credentials, the state's settings, other ephemeral values")
                    .at(r.span.clone()),
            );
        };
        for (addr, resource) in &config.resources {
            let mut exprs: Vec<(&Expr, String)> = Vec::new();
            match &resource.repetition {
                crate::config::Repetition::Count(e)
                | crate::config::Repetition::ForEach(e)
                | crate::config::Repetition::Enabled(e) => {
                    exprs.push((e, format!("{addr}'s instances, which the state records")))
                }
                crate::config::Repetition::Single => {}
            }
            body_exprs(
                &resource.body,
                &resource.schema,
                &addr.to_string(),
                &mut exprs,
            );
            for (expr, whereto) in exprs {
                for r in refs(expr) {
                    if ephemeral_ref(&r, &vars, &locals) {
                        flag(&r, whereto.clone());
                    }
                }
            }
        }
        for (name, output) in &config.outputs {
            if output.ephemeral {
                continue;
            }
            for r in refs(&output.value) {
                if ephemeral_ref(&r, &vars, &locals) {
                    flag(&r, format!("output \"{name}\", which the state records (set ephemeral = true on it)"));
                }
            }
        }
        vars.clear();
        for d in problems {
            self.error(d);
        }
    }
}

/// The expressions of a body whose values are recorded, with where they go.
fn body_exprs<'b>(body: &'b Body, schema: &Schema, place: &str, out: &mut Vec<(&'b Expr, String)>) {
    for (name, attr) in &body.attributes {
        let recorded = schema.attribute(name).is_none_or(|a| !a.unrecorded);
        if recorded {
            out.push((
                &attr.expr,
                format!("{place}.{name}, which the state records"),
            ));
        }
    }
    for block in &body.blocks {
        if let Some(d) = &block.dynamic {
            out.push((
                &d.for_each.expr,
                format!("{place}.{}'s for_each", block.name),
            ));
        }
        if let Some(inner) = schema.block(&block.name) {
            body_exprs(
                &block.body,
                &inner.schema,
                &format!("{place}.{}", block.name),
                out,
            );
        }
    }
}
