//! Reading a configuration directory: files → syntax trees → [`Config`], with every structural
//! problem (unknown block or attribute, duplicates, bad labels) reported with its position.

mod conditions;
mod dynamic;
mod ephemeral;
mod refactor;

use super::{
    span_of, typeexpr, Attribute, Block, Body, Catalog, Config, Expr, IgnoreChanges, Lifecycle,
    Local, Output, Repetition, Resource, Settings, Validation, Variable,
};
use crate::diag::{char_span, did_you_mean, Diagnostic, Diagnostics, FileId, Sources, Span};
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{self as syntax, BlockLabel, Structure};
use hive_sdk::addr::{is_identifier, ResourceAddr};
use hive_sdk::schema::{Mode, Nesting, Schema};
use hive_sdk::Type;
use std::collections::btree_map::Entry;
use std::path::Path;
use std::sync::Arc;

/// Files larger than this are refused: no configuration is that big, and parsing one would only
/// waste memory.
pub const MAX_FILE_SIZE: u64 = 8 * 1024 * 1024;

const FILE_SUFFIX: &str = ".hive.hcl";
const META_ARGUMENTS: &[&str] = &["count", "for_each", "depends_on", "lifecycle"];

/// What [`load_dir`] gives: the configuration (possibly partial, with structural problems in
/// the diagnostics), or, when a file could not be read or parsed at all, only the sources read
/// so far so the diagnostics can quote them.
pub type Loaded = Result<(Config, Diagnostics), (Sources, Diagnostics)>;

/// Loads every `*.hive.hcl` file in `dir`, with the kinds of `catalog`.
pub fn load_dir(dir: &Path, catalog: &Arc<Catalog>) -> Loaded {
    let mut diags = Diagnostics::default();
    let mut config = Config {
        dir: dir.to_path_buf(),
        catalog: catalog.clone(),
        ..Config::default()
    };
    let paths = match config_files(dir) {
        Ok(paths) => paths,
        Err(d) => {
            diags.push(d);
            return Err((config.sources, diags));
        }
    };
    let mut bodies = Vec::new();
    for path in &paths {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match parse_file(&mut config.sources, &name, path) {
            Ok((file, body)) => bodies.push((file, body)),
            Err(d) => diags.push(d),
        }
    }
    if diags.has_errors() {
        return Err((config.sources, diags));
    }
    let mut decoder = Decoder {
        config: &mut config,
        diags: &mut diags,
    };
    for (file, body) in bodies {
        decoder.top_level(file, body);
    }
    decoder.check_refactors();
    decoder.check_ephemeral();
    Ok((config, diags))
}

fn config_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, Diagnostic> {
    let paths = files_with_suffix(dir, &[FILE_SUFFIX])?;
    if paths.is_empty() {
        return Err(Diagnostic::error(format!(
            "no configuration files (*{FILE_SUFFIX}) in {}",
            dir.display()
        )));
    }
    Ok(paths)
}

/// The regular files in `dir` whose names end with one of `suffixes`, sorted.
pub fn files_with_suffix(
    dir: &Path,
    suffixes: &[&str],
) -> Result<Vec<std::path::PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Diagnostic::error(format!(
            "cannot read the configuration directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| suffixes.iter().any(|s| n.ends_with(s)))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads and parses one file, registering it in `sources` so diagnostics can quote it.
pub fn parse_file(
    sources: &mut Sources,
    name: &str,
    path: &Path,
) -> Result<(FileId, syntax::Body), Diagnostic> {
    let size = std::fs::metadata(path)
        .map_err(|e| Diagnostic::error(format!("cannot read {name}: {e}")))?
        .len();
    if size > MAX_FILE_SIZE {
        return Err(
            Diagnostic::error(format!("{name} is too large")).detail(format!(
            "the file is {size} bytes; configuration files may be at most {MAX_FILE_SIZE} bytes"
        )),
        );
    }
    let bytes =
        std::fs::read(path).map_err(|e| Diagnostic::error(format!("cannot read {name}: {e}")))?;
    parse_source(sources, name, path, bytes)
}

/// Parses file contents; bytes that are not UTF-8 are an error at their position.
pub(crate) fn parse_source(
    sources: &mut Sources,
    name: &str,
    path: &Path,
    bytes: Vec<u8>,
) -> Result<(FileId, syntax::Body), Diagnostic> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // In the lossy text the bad byte became U+FFFD at the same offset.
            let span = char_span(0, &lossy, at);
            let file = sources.add(name.to_string(), path, Arc::from(lossy));
            return Err(Diagnostic::error(format!("{name} is not valid UTF-8"))
                .detail("configuration files must be UTF-8 text")
                .at(Span::new(file, span.range))
                .label("invalid byte here"));
        }
    };
    let text: Arc<str> = Arc::from(text);
    let file = sources.add(name.to_string(), path, text.clone());
    // The lexer's errors (an unclosed string, heredoc or comment) point at where the trouble
    // starts; the parser would report where it noticed. The parser also accepts a quoted
    // string that runs over a line break, which HCL forbids.
    if let Err(e) = super::fmt::lexical_check(&text) {
        return Err(lexical_error(file, &text, &e));
    }
    let mut body =
        hcl_edit::parser::parse_body(&text).map_err(|e| syntax_error(file, &text, &e))?;
    super::templates::normalize(&mut body, &text);
    Ok((file, body))
}

fn lexical_error(file: FileId, text: &str, e: &super::fmt::FormatError) -> Diagnostic {
    let d = Diagnostic::error(e.message.clone()).at(char_span(file, text, e.offset));
    if e.message.contains("string") {
        d.label("the string starts here")
            .help("close it with \"; for text over several lines use a heredoc: <<-EOT ... EOT")
    } else if e.message.contains("heredoc") {
        d.label("the heredoc starts here")
            .help("end it with its delimiter alone on a line")
    } else {
        d.label("it starts here")
    }
}

fn syntax_error(file: FileId, text: &str, e: &hcl_edit::parser::Error) -> Diagnostic {
    let span = char_span(file, text, e.location().offset());
    let message = e.message().trim();
    let summary = if message.contains("nesting depth") {
        "expression nested too deeply"
    } else if message.contains("redefined attribute") {
        "attribute set twice"
    } else {
        "syntax error"
    };
    Diagnostic::error(summary)
        .detail(message.to_string())
        .at(span)
        .label(message.lines().next().unwrap_or("here").to_string())
}

struct Decoder<'a> {
    config: &'a mut Config,
    diags: &'a mut Diagnostics,
}

fn label_span(file: FileId, block: &syntax::Block) -> Span {
    let start = span_of(file, &block.ident);
    match block.labels.last() {
        Some(label) => start.to(&span_of(file, label)),
        None => start,
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn label_text(label: &BlockLabel) -> &str {
    label.as_str()
}

impl Decoder<'_> {
    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn top_level(&mut self, file: FileId, body: syntax::Body) {
        for structure in body {
            match structure {
                Structure::Attribute(attr) => {
                    let name = attr.key.as_str();
                    self.error(
                        Diagnostic::error(format!("unexpected attribute \"{name}\" at top level"))
                            .detail("the top level of a configuration holds only blocks")
                            .at(span_of(file, &attr.key))
                            .help(format!(
                                "put it in a `locals {{ }}` block to name a value: local.{name}"
                            )),
                    );
                }
                Structure::Block(block) => self.top_level_block(file, block),
            }
        }
    }

    /// Checks the number of labels and that each is an identifier; returns the labels.
    fn labels(
        &mut self,
        file: FileId,
        block: &syntax::Block,
        expected: &[&str],
    ) -> Option<Vec<String>> {
        let kind = block.ident.as_str();
        if block.labels.len() != expected.len() {
            let a = article(kind);
            let wanted = if expected.is_empty() {
                format!("{a} {kind} block takes no labels")
            } else {
                format!(
                    "{a} {kind} block takes {} label{} ({})",
                    expected.len(),
                    if expected.len() == 1 { "" } else { "s" },
                    expected.join(", ")
                )
            };
            let example = if expected.is_empty() {
                format!("{kind} {{ ... }}")
            } else {
                format!("{kind} \"{}\" {{ ... }}", expected.join("\" \""))
            };
            self.error(
                Diagnostic::error(format!("wrong number of labels on {a} {kind} block"))
                    .detail(format!("{wanted}, found {}", block.labels.len()))
                    .at(label_span(file, block))
                    .help(format!("write it as: {example}")),
            );
            return None;
        }
        let mut out = Vec::new();
        for label in &block.labels {
            let text = label_text(label);
            if !is_identifier(text) {
                self.error(
                    Diagnostic::error(format!(
                        "invalid name \"{text}\" for {} {kind} block",
                        article(kind)
                    ))
                        .detail("a name starts with a letter or underscore and holds only letters, digits, underscores and dashes")
                        .at(span_of(file, label)),
                );
                return None;
            }
            out.push(text.to_string());
        }
        Some(out)
    }

    fn top_level_block(&mut self, file: FileId, block: syntax::Block) {
        let kind = block.ident.as_str().to_string();
        let kind = kind.as_str();
        match kind {
            "hive" => {
                if self.labels(file, &block, &[]).is_some() {
                    self.settings(file, block);
                }
            }
            "variable" => {
                if let Some(labels) = self.labels(file, &block, &["name"]) {
                    self.variable(file, block, &labels[0]);
                }
            }
            "locals" => {
                if self.labels(file, &block, &[]).is_some() {
                    self.locals(file, block);
                }
            }
            "output" => {
                if let Some(labels) = self.labels(file, &block, &["name"]) {
                    self.output(file, block, &labels[0]);
                }
            }
            "check" => {
                if let Some(labels) = self.labels(file, &block, &["name"]) {
                    self.check(file, block, &labels[0]);
                }
            }
            "moved" => {
                if self.labels(file, &block, &[]).is_some() {
                    self.moved(file, block);
                }
            }
            "import" => {
                if self.labels(file, &block, &[]).is_some() {
                    self.import(file, block);
                }
            }
            "removed" => {
                if self.labels(file, &block, &[]).is_some() {
                    self.removed(file, block);
                }
            }
            kind => match self.config.catalog.kind(kind).map(|k| k.schema.clone()) {
                Some(schema) => {
                    if let Some(labels) = self.labels(file, &block, &["name"]) {
                        self.resource(file, block, kind, &labels[0], schema);
                    }
                }
                None => {
                    let kinds: Vec<&str> = self.config.catalog.names().collect();
                    let all: Vec<&str> = [
                        "hive", "variable", "locals", "output", "check", "moved", "removed",
                    ]
                    .iter()
                    .copied()
                    .chain(kinds.iter().copied())
                    .collect();
                    let d = Diagnostic::error(format!("unknown block type \"{kind}\""))
                        .detail(format!(
                            "the top level takes hive, variable, locals, output, check, import, moved, removed and the resource kinds {}",
                            kinds.join(", ")
                        ))
                        .at(span_of(file, &block.ident))
                        .help_opt(did_you_mean(kind, all));
                    self.error(d);
                }
            },
        }
    }

    /// Splits a block body into attributes and blocks, reporting duplicate attributes.
    fn split(
        &mut self,
        file: FileId,
        body: syntax::Body,
    ) -> (Vec<syntax::Attribute>, Vec<syntax::Block>) {
        let mut attrs: Vec<syntax::Attribute> = Vec::new();
        let mut blocks = Vec::new();
        for structure in body {
            match structure {
                Structure::Attribute(a) => {
                    if let Some(first) = attrs.iter().find(|b| b.key.as_str() == a.key.as_str()) {
                        let (line, _) = self.line_of(file, span_of(file, &first.key).range.start);
                        self.error(
                            Diagnostic::error(format!(
                                "attribute \"{}\" is set twice",
                                a.key.as_str()
                            ))
                            .detail(format!("it was first set on line {line}"))
                            .at(span_of(file, &a.key)),
                        );
                    } else {
                        attrs.push(a);
                    }
                }
                Structure::Block(b) => blocks.push(b),
            }
        }
        (attrs, blocks)
    }

    fn line_of(&self, file: FileId, offset: usize) -> (usize, usize) {
        self.config
            .sources
            .get(file)
            .map_or((0, 0), |f| f.line_col(offset))
    }

    fn expr(file: FileId, attr: syntax::Attribute) -> Expr {
        Expr {
            file,
            expr: attr.value,
        }
    }

    fn attribute(file: FileId, attr: syntax::Attribute) -> Attribute {
        Attribute {
            name: attr.key.as_str().to_string(),
            name_span: span_of(file, &attr.key),
            expr: Self::expr(file, attr),
        }
    }

    fn unknown_name(
        &mut self,
        what: &str,
        name: &str,
        span: Span,
        context: &str,
        candidates: &[&str],
    ) {
        self.error(
            Diagnostic::error(format!("unknown {what} \"{name}\" in {context}"))
                .detail(if candidates.is_empty() {
                    format!("{context} takes no {what}s")
                } else {
                    format!("{context} takes: {}", candidates.join(", "))
                })
                .at(span)
                .help_opt(did_you_mean(name, candidates.iter().copied())),
        );
    }

    /// Decodes a body against a schema: unknown names, computed attributes set by the user,
    /// missing required ones, repeated single blocks.
    fn body(
        &mut self,
        file: FileId,
        (attrs, blocks): (Vec<syntax::Attribute>, Vec<syntax::Block>),
        schema: &Schema,
        context: &str,
        header: &Span,
        skip: &[&str],
    ) -> Body {
        let mut out = Body::default();
        let candidates: Vec<&str> = schema
            .attributes
            .iter()
            .filter(|a| a.mode != Mode::Computed)
            .map(|a| a.name)
            .chain(schema.blocks.iter().map(|b| b.name))
            .chain(skip.iter().copied())
            .collect();
        for attr in attrs {
            let name = attr.key.as_str().to_string();
            let name = name.as_str();
            if skip.contains(&name) {
                continue;
            }
            match schema.attribute(name) {
                Some(a) if a.mode == Mode::Computed => self.error(
                    Diagnostic::error(format!("\"{name}\" cannot be set in {context}"))
                        .detail(format!(
                            "{name} is computed by the backend; refer to it as an attribute of this resource instead"
                        ))
                        .at(span_of(file, &attr.key)),
                ),
                Some(_) => {
                    out.attributes
                        .insert(name.to_string(), Self::attribute(file, attr));
                }
                None if schema.block(name).is_some() => self.error(
                    Diagnostic::error(format!("\"{name}\" is a block, not an attribute"))
                        .at(span_of(file, &attr.key))
                        .help(format!("write it as a block: {name} {{ ... }}")),
                ),
                None => self.unknown_name(
                    "attribute",
                    name,
                    span_of(file, &attr.key),
                    context,
                    &candidates,
                ),
            }
        }
        for block in blocks {
            let name = block.ident.as_str().to_string();
            let name = name.as_str();
            if skip.contains(&name) {
                continue;
            }
            if name == "dynamic" && schema.block("dynamic").is_none() {
                if let Some(made) = self.dynamic_block(file, block, schema, context) {
                    out.blocks.push(made);
                }
                continue;
            }
            let Some(block_type) = schema.block(name) else {
                if schema.attribute(name).is_some() {
                    self.error(
                        Diagnostic::error(format!("\"{name}\" is an attribute, not a block"))
                            .at(span_of(file, &block.ident))
                            .help(format!("write it as: {name} = ...")),
                    );
                } else {
                    self.unknown_name(
                        "block",
                        name,
                        span_of(file, &block.ident),
                        context,
                        &candidates,
                    );
                }
                continue;
            };
            if !block.labels.is_empty() {
                self.error(
                    Diagnostic::error(format!("a {name} block takes no labels"))
                        .at(label_span(file, &block)),
                );
                continue;
            }
            if block_type.nesting == Nesting::Single {
                if let Some(first) = out.blocks.iter().find(|b| b.name == name) {
                    let (line, _) = self.line_of(file, first.span.range.start);
                    self.error(
                        Diagnostic::error(format!("only one {name} block is allowed in {context}"))
                            .detail(format!("the first is on line {line}"))
                            .at(span_of(file, &block.ident)),
                    );
                    continue;
                }
            }
            let span = span_of(file, &block.ident);
            let inner_body = self.split(file, block.body);
            let inner = self.body(
                file,
                inner_body,
                &block_type.schema,
                &format!("a {name} block"),
                &span,
                &[],
            );
            out.blocks.push(Block {
                name: name.to_string(),
                span,
                body: inner,
                dynamic: None,
            });
        }
        for a in &schema.attributes {
            if a.mode == Mode::Required && !out.attributes.contains_key(a.name) {
                self.error(
                    Diagnostic::error(format!("missing required attribute \"{}\"", a.name))
                        .detail(format!("{context} must set {}", a.name))
                        .at(header.clone()),
                );
            }
        }
        out
    }

    /// The `hive` block: `parallelism`, `ttl`, and a `state` block whose settings depend on its
    /// backend (checked when they are decoded).
    fn settings(&mut self, file: FileId, block: syntax::Block) {
        let (attrs, blocks) = self.split(file, block.body);
        let mut settings = Settings::default();
        for attr in attrs {
            match attr.key.as_str() {
                "parallelism" => settings.parallelism = Some(Self::attribute(file, attr)),
                "ttl" => settings.ttl = Some(Self::attribute(file, attr)),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "the hive block",
                    &["parallelism", "ttl", "state"],
                ),
            }
        }
        for b in blocks {
            let span = span_of(file, &b.ident);
            if b.ident.as_str() != "state" {
                self.unknown_name(
                    "block",
                    b.ident.as_str(),
                    span,
                    "the hive block",
                    &["parallelism", "ttl", "state"],
                );
                continue;
            }
            if let Some(first) = &settings.state {
                let (line, _) = self.line_of(file, first.span.range.start);
                self.error(
                    Diagnostic::error("only one state block is allowed in the hive block")
                        .detail(format!("the first is on line {line}"))
                        .at(span),
                );
                continue;
            }
            if !b.labels.is_empty() {
                self.error(
                    Diagnostic::error("a state block takes no labels").at(label_span(file, &b)),
                );
                continue;
            }
            let (inner_attrs, inner_blocks) = self.split(file, b.body);
            for inner in inner_blocks {
                self.error(
                    Diagnostic::error("a state block holds only settings (NAME = VALUE)")
                        .at(span_of(file, &inner.ident)),
                );
            }
            let mut body = Body::default();
            for a in inner_attrs {
                let attr = Self::attribute(file, a);
                body.attributes.insert(attr.name.clone(), attr);
            }
            settings.state = Some(Block {
                name: "state".into(),
                span,
                body,
                dynamic: None,
            });
        }
        self.config.settings = settings;
    }

    fn duplicate(&mut self, what: &str, name: &str, span: Span, first: &Span) {
        let (line, _) = self.line_of(first.file, first.range.start);
        let file = self
            .config
            .sources
            .get(first.file)
            .map_or(String::new(), |f| f.name.clone());
        self.error(
            Diagnostic::error(format!("duplicate {what} \"{name}\""))
                .detail(format!(
                    "{what} \"{name}\" was already declared at {file}:{line}"
                ))
                .at(span)
                .label("declared again here"),
        );
    }

    fn variable(&mut self, file: FileId, block: syntax::Block, name: &str) {
        let span = label_span(file, &block);
        if let Some(first) = self.config.variables.get(name) {
            let first = first.span.clone();
            self.duplicate("variable", name, span, &first);
            return;
        }
        let (attrs, blocks) = self.split(file, block.body);
        let mut variable = Variable {
            name: name.to_string(),
            span: span.clone(),
            ty: Type::Any,
            default: None,
            description: None,
            sensitive: false,
            ephemeral: false,
            nullable: true,
            validations: Vec::new(),
        };
        let known = [
            "type",
            "default",
            "description",
            "sensitive",
            "ephemeral",
            "nullable",
            "validation",
        ];
        for attr in attrs {
            match attr.key.as_str() {
                "type" => match typeexpr::parse(file, &attr.value) {
                    Ok(ty) => variable.ty = ty,
                    Err(d) => self.error(d),
                },
                "default" => variable.default = Some(Self::expr(file, attr)),
                "description" => variable.description = self.literal_string(file, &attr),
                "sensitive" => variable.sensitive = self.literal_bool(file, &attr),
                "ephemeral" => variable.ephemeral = self.literal_bool(file, &attr),
                "nullable" => variable.nullable = self.literal_bool(file, &attr),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "a variable block",
                    &known,
                ),
            }
        }
        for b in blocks {
            if b.ident.as_str() != "validation" {
                self.unknown_name(
                    "block",
                    b.ident.as_str(),
                    span_of(file, &b.ident),
                    "a variable block",
                    &known,
                );
                continue;
            }
            let header = span_of(file, &b.ident);
            let (vattrs, _) = self.split(file, b.body);
            for a in &vattrs {
                if !matches!(a.key.as_str(), "condition" | "error_message") {
                    self.unknown_name(
                        "attribute",
                        a.key.as_str(),
                        span_of(file, &a.key),
                        "a validation block",
                        &["condition", "error_message"],
                    );
                }
            }
            let mut condition = None;
            let mut message = None;
            for a in vattrs {
                match a.key.as_str() {
                    "condition" => condition = Some(a),
                    "error_message" => message = Some(a),
                    _ => {}
                }
            }
            match (condition, message) {
                (Some(c), Some(m)) => variable.validations.push(Validation {
                    condition: Self::expr(file, c),
                    error_message: Self::expr(file, m),
                }),
                _ => self.error(
                    Diagnostic::error("a validation block needs condition and error_message")
                        .at(header),
                ),
            }
        }
        self.config.variables.insert(name.to_string(), variable);
    }

    fn literal_string(&mut self, file: FileId, attr: &syntax::Attribute) -> Option<String> {
        match &attr.value {
            Expression::String(s) => Some(s.value().clone()),
            other => {
                self.error(
                    Diagnostic::error(format!("{} must be a literal string", attr.key.as_str()))
                        .at(span_of(file, other)),
                );
                None
            }
        }
    }

    fn literal_bool(&mut self, file: FileId, attr: &syntax::Attribute) -> bool {
        match &attr.value {
            Expression::Bool(b) => *b.value(),
            other => {
                self.error(
                    Diagnostic::error(format!(
                        "{} must be true or false, written literally",
                        attr.key.as_str()
                    ))
                    .at(span_of(file, other)),
                );
                false
            }
        }
    }

    fn locals(&mut self, file: FileId, block: syntax::Block) {
        let (attrs, blocks) = self.split(file, block.body);
        for b in blocks {
            self.error(
                Diagnostic::error("a locals block holds only attributes")
                    .at(span_of(file, &b.ident))
                    .help(format!("write it as: {} = {{ ... }}", b.ident.as_str())),
            );
        }
        for attr in attrs {
            let name = attr.key.as_str().to_string();
            let name = name.as_str();
            let span = span_of(file, &attr.key);
            match self.config.locals.entry(name.to_string()) {
                Entry::Occupied(first) => {
                    let first = first.get().span.clone();
                    self.duplicate("local value", name, span, &first);
                }
                Entry::Vacant(slot) => {
                    slot.insert(Local {
                        name: name.to_string(),
                        span,
                        expr: Self::expr(file, attr),
                    });
                }
            }
        }
    }

    fn output(&mut self, file: FileId, block: syntax::Block, name: &str) {
        let span = label_span(file, &block);
        if let Some(first) = self.config.outputs.get(name) {
            let first = first.span.clone();
            self.duplicate("output", name, span, &first);
            return;
        }
        let (attrs, blocks) = self.split(file, block.body);
        let known = [
            "value",
            "description",
            "sensitive",
            "ephemeral",
            "depends_on",
        ];
        for b in blocks {
            self.unknown_name(
                "block",
                b.ident.as_str(),
                span_of(file, &b.ident),
                "an output block",
                &known,
            );
        }
        let mut value = None;
        let mut output = Output {
            name: name.to_string(),
            span: span.clone(),
            value: Expr {
                file,
                expr: Expression::null(),
            },
            description: None,
            sensitive: false,
            ephemeral: false,
            depends_on: Vec::new(),
        };
        for attr in attrs {
            match attr.key.as_str() {
                "value" => value = Some(Self::expr(file, attr)),
                "description" => output.description = self.literal_string(file, &attr),
                "sensitive" => output.sensitive = self.literal_bool(file, &attr),
                "ephemeral" => output.ephemeral = self.literal_bool(file, &attr),
                "depends_on" => output.depends_on = self.depends_on(file, attr),
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "an output block",
                    &known,
                ),
            }
        }
        match value {
            Some(v) => output.value = v,
            None => {
                self.error(
                    Diagnostic::error("missing required attribute \"value\"")
                        .detail("an output block must set value")
                        .at(span),
                );
                return;
            }
        }
        self.config.outputs.insert(name.to_string(), output);
    }

    /// `depends_on = [kind.name, ...]`: a list of plain references.
    fn depends_on(&mut self, file: FileId, attr: syntax::Attribute) -> Vec<Expr> {
        let Expression::Array(items) = attr.value else {
            self.error(
                Diagnostic::error("depends_on must be a list of references")
                    .at(span_of(file, &attr.value))
                    .help("write it as: depends_on = [bridge.lan, instance.node]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let is_reference = match &item {
                Expression::Traversal(t) => {
                    matches!(t.expr, Expression::Variable(_))
                        && t.operators.iter().all(|op| {
                            matches!(
                                op.value(),
                                TraversalOperator::GetAttr(_)
                                    | TraversalOperator::Index(_)
                                    | TraversalOperator::LegacyIndex(_)
                            )
                        })
                }
                _ => false,
            };
            if is_reference {
                out.push(Expr { file, expr: item });
            } else {
                self.error(
                    Diagnostic::error("depends_on takes only references to resources")
                        .detail(
                            "each element must name a resource, like instance.node or bridge.lan",
                        )
                        .at(span_of(file, &item)),
                );
            }
        }
        out
    }

    fn resource(
        &mut self,
        file: FileId,
        block: syntax::Block,
        kind: &str,
        name: &str,
        schema: Arc<Schema>,
    ) {
        let addr = ResourceAddr::new(kind, name);
        let span = label_span(file, &block);
        if let Some(first) = self.config.resources.get(&addr) {
            let first = first.span.clone();
            self.duplicate(kind, name, span, &first);
            return;
        }
        let context = format!("{kind} \"{name}\"");
        let (attrs, blocks) = self.split(file, block.body);
        // Meta-arguments first; the rest is checked against the kind's schema.
        let (meta_attrs, attrs): (Vec<_>, Vec<_>) = attrs
            .into_iter()
            .partition(|a| META_ARGUMENTS.contains(&a.key.as_str()));
        let (lifecycle_blocks, blocks): (Vec<_>, Vec<_>) = blocks
            .into_iter()
            .partition(|b| b.ident.as_str() == "lifecycle");
        let body = self.body(
            file,
            (attrs, blocks),
            &schema,
            &context,
            &span,
            META_ARGUMENTS,
        );
        let mut count = None;
        let mut for_each = None;
        let mut depends_on = Vec::new();
        for attr in meta_attrs {
            match attr.key.as_str() {
                "count" => count = Some(attr),
                "for_each" => for_each = Some(attr),
                "depends_on" => depends_on = self.depends_on(file, attr),
                _ => self.error(
                    Diagnostic::error("\"lifecycle\" is a block, not an attribute")
                        .at(span_of(file, &attr.key))
                        .help("write it as: lifecycle { prevent_destroy = true }"),
                ),
            }
        }
        let repetition = match (count, for_each) {
            (Some(c), Some(f)) => {
                self.error(
                    Diagnostic::error(format!("{context} sets both count and for_each"))
                        .detail("a resource is repeated either by count or by for_each, not both")
                        .at(span_of(file, &f.key))
                        .label("remove this or count"),
                );
                // Go on as if only count were set, so references are not reported again.
                Repetition::Count(Self::expr(file, c))
            }
            (Some(c), None) => Repetition::Count(Self::expr(file, c)),
            (None, Some(f)) => Repetition::ForEach(Self::expr(file, f)),
            (None, None) => Repetition::Single,
        };
        let mut lifecycle = Lifecycle::default();
        let mut seen_lifecycle = false;
        for b in lifecycle_blocks {
            if seen_lifecycle {
                self.error(
                    Diagnostic::error(format!("only one lifecycle block is allowed in {context}"))
                        .at(span_of(file, &b.ident)),
                );
                continue;
            }
            seen_lifecycle = true;
            lifecycle = self.lifecycle(file, b, &schema);
        }
        let repetition = match (lifecycle.enabled.take(), repetition) {
            (None, r) => r,
            (Some(e), Repetition::Single) => Repetition::Enabled(e),
            (Some(e), r) => {
                self.error(
                    Diagnostic::error(format!("{context} sets enabled and count or for_each"))
                        .detail("enabled makes one instance or none; count and for_each make many")
                        .at(e.span()),
                );
                r
            }
        };
        self.config.resources.insert(
            addr.clone(),
            Resource {
                addr,
                span,
                repetition,
                depends_on,
                lifecycle,
                body,
                schema,
            },
        );
    }

    fn lifecycle(&mut self, file: FileId, block: syntax::Block, schema: &Schema) -> Lifecycle {
        let (attrs, blocks) = self.split(file, block.body);
        let known = [
            "enabled",
            "prevent_destroy",
            "create_before_destroy",
            "ignore_changes",
            "replace_triggered_by",
            "precondition",
            "postcondition",
        ];
        let mut lifecycle = Lifecycle::default();
        for b in blocks {
            match b.ident.as_str() {
                "precondition" => {
                    if let Some(c) = self.condition(file, b) {
                        lifecycle.preconditions.push(c);
                    }
                }
                "postcondition" => {
                    if let Some(c) = self.condition(file, b) {
                        lifecycle.postconditions.push(c);
                    }
                }
                other => self.unknown_name(
                    "block",
                    other,
                    span_of(file, &b.ident),
                    "a lifecycle block",
                    &known,
                ),
            }
        }
        for attr in attrs {
            match attr.key.as_str() {
                "enabled" => lifecycle.enabled = Some(Self::expr(file, attr)),
                "replace_triggered_by" => {
                    lifecycle.replace_triggered_by = self.triggers(file, attr)
                }
                "prevent_destroy" => lifecycle.prevent_destroy = self.literal_bool(file, &attr),
                "create_before_destroy" => {
                    lifecycle.create_before_destroy = self.literal_bool(file, &attr)
                }
                "ignore_changes" => {
                    lifecycle.ignore_changes = self.ignore_changes(file, &attr, schema)
                }
                other => self.unknown_name(
                    "attribute",
                    other,
                    span_of(file, &attr.key),
                    "a lifecycle block",
                    &known,
                ),
            }
        }
        lifecycle
    }

    /// `ignore_changes = all` or `[memory, cloud_init]`: bare attribute names of the schema.
    fn ignore_changes(
        &mut self,
        file: FileId,
        attr: &syntax::Attribute,
        schema: &Schema,
    ) -> IgnoreChanges {
        let items = match &attr.value {
            Expression::Variable(v) if v.as_str() == "all" => return IgnoreChanges::All,
            Expression::Array(items) => items,
            other => {
                self.error(
                    Diagnostic::error("ignore_changes must be a list of attribute names, or all")
                        .at(span_of(file, other))
                        .help("write it as: ignore_changes = [memory] or ignore_changes = all"),
                );
                return IgnoreChanges::None;
            }
        };
        let mut names = Vec::new();
        for item in items.iter() {
            let name = match item {
                Expression::Variable(v) => Some(v.as_str().to_string()),
                Expression::String(s) => Some(s.value().clone()),
                _ => None,
            };
            match name {
                Some(n) if schema.attribute(&n).is_some() || schema.block(&n).is_some() => {
                    names.push(n)
                }
                Some(n) => self.unknown_name(
                    "attribute",
                    &n,
                    span_of(file, item),
                    "ignore_changes",
                    &schema
                        .attributes
                        .iter()
                        .filter(|a| a.mode != Mode::Computed)
                        .map(|a| a.name)
                        .chain(schema.blocks.iter().map(|b| b.name))
                        .collect::<Vec<_>>(),
                ),
                None => self.error(
                    Diagnostic::error("ignore_changes takes attribute names")
                        .at(span_of(file, item)),
                ),
            }
        }
        IgnoreChanges::Attributes(names)
    }
}
