//! `dynamic` blocks as written: the label names the kind of nested block they make; the
//! content is checked against that block's schema (the expansion is at evaluation, in
//! `lang::body`).

use super::{label_span, label_text, span_of, syntax, Decoder};
use crate::config::{Block, FileId};
use crate::diag::Diagnostic;
use hcl_edit::expr::Expression;
use hive_sdk::schema::Schema;

impl Decoder<'_> {
    /// `dynamic "NAME" { for_each = ..., iterator = IT, content { ... } }` in a body whose
    /// schema has `NAME` blocks: the content checked against their schema.
    pub(super) fn dynamic_block(
        &mut self,
        file: FileId,
        block: syntax::Block,
        schema: &Schema,
        context: &str,
    ) -> Option<Block> {
        let span = span_of(file, &block.ident);
        let [label] = block.labels.as_slice() else {
            self.error(
                Diagnostic::error(
                    "a dynamic block takes one label: the type of the blocks it makes",
                )
                .at(label_span(file, &block))
                .help("for example: dynamic \"network\" { for_each = ..., content { ... } }"),
            );
            return None;
        };
        let target = label_text(label).to_string();
        let label_at = span_of(file, label);
        let Some(block_type) = schema.block(&target) else {
            let kinds: Vec<&str> = schema.blocks.iter().map(|b| b.name).collect();
            self.unknown_name("block type", &target, label_at, context, &kinds);
            return None;
        };
        let (attrs, blocks) = self.split(file, block.body);
        let mut for_each = None;
        let mut iterator = target.clone();
        for attr in attrs {
            match attr.key.as_str() {
                "for_each" => for_each = Some(Self::attribute(file, attr)),
                "iterator" => match &attr.value {
                    Expression::Variable(v) => iterator = v.as_str().to_string(),
                    _ => self.error(
                        Diagnostic::error("iterator must be a name, not an expression")
                            .at(span_of(file, &attr.value))
                            .help("for example: iterator = nic"),
                    ),
                },
                "labels" => self.error(
                    Diagnostic::error(format!("{target} blocks take no labels"))
                        .at(span_of(file, &attr.key)),
                ),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "a dynamic block",
                    &["for_each", "iterator", "content"],
                ),
            }
        }
        if self.config.catalog.is_kind(&iterator)
            || matches!(iterator.as_str(), "var" | "local" | "count" | "each")
        {
            self.error(
                Diagnostic::error(format!(
                    "the iterator {iterator} is also a kind of resource: name it otherwise"
                ))
                .at(label_at.clone())
                .help("set iterator = NAME"),
            );
        }
        let mut content = None;
        for b in blocks {
            let at = span_of(file, &b.ident);
            if b.ident.as_str() != "content" {
                self.unknown_name(
                    "block",
                    b.ident.as_str(),
                    at,
                    "a dynamic block",
                    &["content"],
                );
                continue;
            }
            if content.is_some() {
                self.error(Diagnostic::error("a dynamic block has one content block").at(at));
                continue;
            }
            let inner = self.split(file, b.body);
            content = Some(self.body(
                file,
                inner,
                &block_type.schema,
                &format!("a {target} block"),
                &at,
                &[],
            ));
        }
        let Some(for_each) = for_each else {
            self.error(
                Diagnostic::error(
                    "a dynamic block needs for_each: the collection to make blocks from",
                )
                .at(span),
            );
            return None;
        };
        let Some(content) = content else {
            self.error(
                Diagnostic::error("a dynamic block needs a content block: what each block holds")
                    .at(span),
            );
            return None;
        };
        Some(Block {
            name: target,
            span,
            body: content,
            dynamic: Some(Box::new(crate::config::Dynamic { for_each, iterator })),
        })
    }
}
