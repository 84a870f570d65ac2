//! `moved` and `removed` blocks: what a configuration says about objects that changed
//! address or left it. The plan acts on them (`ops::plan`).

use super::{span_of, syntax, Decoder};
use crate::config::{FileId, Import, Moved, Removed};
use crate::diag::Diagnostic;
use hcl_edit::expr::Expression;
use hive_sdk::addr::Target;

impl Decoder<'_> {
    /// An address written as a reference (`instance.web`, `instance.web[0]`).
    fn address_of(&mut self, file: FileId, what: &str, expr: &Expression) -> Option<Target> {
        let text = expr.to_string();
        match text.trim().parse::<Target>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    Diagnostic::error(format!("{what} must be a resource address: {e}"))
                        .at(span_of(file, expr))
                        .help("for example: instance.web or instance.web[0]"),
                );
                None
            }
        }
    }

    pub(super) fn moved(&mut self, file: FileId, block: syntax::Block) {
        let span = span_of(file, &block.ident);
        let (attrs, blocks) = self.split(file, block.body);
        for b in blocks {
            self.error(
                Diagnostic::error("a moved block holds only from and to")
                    .at(span_of(file, &b.ident)),
            );
        }
        let (mut from, mut to) = (None, None);
        for attr in attrs {
            match attr.key.as_str() {
                "from" => from = self.address_of(file, "from", &attr.value),
                "to" => to = self.address_of(file, "to", &attr.value),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "a moved block",
                    &["from", "to"],
                ),
            }
        }
        match (from, to) {
            (Some(from), Some(to)) => {
                let kinds = |t: &Target| match t {
                    Target::Resource(r) => r.kind.clone(),
                    Target::Instance(i) => i.resource.kind.clone(),
                };
                if kinds(&from) != kinds(&to) {
                    self.error(
                        Diagnostic::error(format!(
                            "a moved block cannot change what kind of resource an object is ({from} to {to})"
                        ))
                        .at(span.clone()),
                    );
                    return;
                }
                self.config.moved.push(Moved { from, to, span });
            }
            _ => self.error(Diagnostic::error("a moved block needs from and to").at(span)),
        }
    }

    pub(super) fn removed(&mut self, file: FileId, block: syntax::Block) {
        let span = span_of(file, &block.ident);
        let (attrs, blocks) = self.split(file, block.body);
        let mut from = None;
        for attr in attrs {
            match attr.key.as_str() {
                "from" => from = self.address_of(file, "from", &attr.value),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "a removed block",
                    &["from", "lifecycle"],
                ),
            }
        }
        let mut destroy = true;
        for b in blocks {
            if b.ident.as_str() != "lifecycle" {
                self.unknown_name(
                    "block",
                    b.ident.as_str(),
                    span_of(file, &b.ident),
                    "a removed block",
                    &["lifecycle"],
                );
                continue;
            }
            let (inner, _) = self.split(file, b.body);
            for attr in inner {
                match (attr.key.as_str(), &attr.value) {
                    ("destroy", Expression::Bool(v)) => destroy = *v.value(),
                    ("destroy", other) => self.error(
                        Diagnostic::error("destroy must be true or false, as written")
                            .at(span_of(file, other)),
                    ),
                    (other, _) => self.unknown_name(
                        "attribute",
                        other,
                        span_of(file, &attr.key),
                        "a removed block's lifecycle",
                        &["destroy"],
                    ),
                }
            }
        }
        match from {
            Some(from) => self.config.removed.push(Removed {
                from,
                destroy,
                span,
            }),
            None => self.error(Diagnostic::error("a removed block needs from").at(span)),
        }
    }

    /// A move's `to` is declared and its `from` is not; what is removed is not declared.
    pub(super) fn check_refactors(&mut self) {
        let declared = |t: &Target| {
            let resource = match t {
                Target::Resource(r) => r,
                Target::Instance(i) => &i.resource,
            };
            self.config.resources.contains_key(resource)
        };
        let mut problems = Vec::new();
        for m in &self.config.moved {
            if !declared(&m.to) {
                problems.push(
                    Diagnostic::error(format!("moved to {}, which is not declared", m.to))
                        .at(m.span.clone())
                        .help("declare the resource it moves to"),
                );
            }
            if matches!(m.from, Target::Resource(_)) && declared(&m.from) {
                problems.push(
                    Diagnostic::error(format!(
                        "moved from {}, which the configuration still declares",
                        m.from
                    ))
                    .at(m.span.clone())
                    .help("remove its block, or move from another address"),
                );
            }
        }
        for i in &self.config.imports {
            if !self.config.resources.contains_key(&i.to.resource) {
                problems.push(
                    Diagnostic::error(format!("import to {}, which is not declared", i.to))
                        .at(i.span.clone())
                        .help("declare the resource it is imported into"),
                );
            }
        }
        for r in &self.config.removed {
            if declared(&r.from) {
                problems.push(
                    Diagnostic::error(format!(
                        "removed {}, which the configuration still declares",
                        r.from
                    ))
                    .at(r.span.clone())
                    .help("remove its block too"),
                );
            }
        }
        for d in problems {
            self.error(d);
        }
    }

    /// `import { to = ADDR, id = "..." }`.
    pub(super) fn import(&mut self, file: FileId, block: syntax::Block) {
        let span = span_of(file, &block.ident);
        let (attrs, _) = self.split(file, block.body);
        let (mut to, mut id) = (None, None);
        for attr in attrs {
            match attr.key.as_str() {
                "to" => to = self.address_of(file, "to", &attr.value),
                "id" => id = Some(Self::expr(file, attr)),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "an import block",
                    &["to", "id"],
                ),
            }
        }
        let to = match to {
            Some(Target::Instance(i)) => i,
            Some(Target::Resource(r)) => r.instance(hive_sdk::addr::InstanceKey::None),
            None => {
                self.error(Diagnostic::error("an import block needs to and id").at(span));
                return;
            }
        };
        let Some(id) = id else {
            self.error(
                Diagnostic::error("an import block needs id: the backend's own id of the object")
                    .at(span),
            );
            return;
        };
        self.config.imports.push(Import { to, id, span });
    }
}
