//! Test files (`*.hivetest.hcl` in the configuration directory or its `tests/`), read for
//! `hive test` and checked by `hive validate`:
//!
//! ```hcl
//! variables { nodes = 2 }            # for every run of the file
//!
//! run "cluster_up" {
//!   command = apply                  # or plan
//!   variables { nodes = 3 }
//!   assert {
//!     condition     = length(instance.node) == 3
//!     error_message = "three nodes"
//!   }
//!   exec "hostname" {                # in every instance the reference names
//!     instance        = instance.node
//!     command         = "hostname"
//!     exit_code       = 0            # the default
//!     output_contains = "node"
//!   }
//!   expect_failures = [var.nodes]    # the run passes only if these fail
//!   save_checkpoint = "up"           # once the run passed; restore_checkpoint = "up"
//! }                                  # puts it back before a run starts
//! ```

use super::{span_of, Expr};
use crate::diag::{Diagnostic, Diagnostics, FileId, Sources, Span};
use hcl_edit::expr::Expression;
use hcl_edit::structure::{self as syntax, Structure};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const TEST_SUFFIX: &str = ".hivetest.hcl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunCommand {
    Apply,
    Plan,
}

#[derive(Debug, Clone)]
pub struct Assert {
    pub condition: Expr,
    pub error_message: Option<Expr>,
    pub span: Span,
}

/// A command run in guests, and what it must give.
#[derive(Debug, Clone)]
pub struct GuestExec {
    pub name: String,
    pub instance: Expr,
    pub command: Expr,
    pub exit_code: Option<Expr>,
    pub output_contains: Option<Expr>,
    pub timeout: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub name: String,
    pub span: Span,
    pub command: RunCommand,
    pub variables: BTreeMap<String, Expr>,
    pub asserts: Vec<Assert>,
    pub execs: Vec<GuestExec>,
    /// What must fail for the run to pass: the references as written, with where.
    pub expect_failures: Vec<(String, Span)>,
    /// A checkpoint put back before the run starts (`hive checkpoint restore`).
    pub restore_checkpoint: Option<Expr>,
    /// A checkpoint saved once the run passed.
    pub save_checkpoint: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct TestFile {
    /// As reported: `tests/cluster.hivetest.hcl`.
    pub name: String,
    pub path: PathBuf,
    pub variables: BTreeMap<String, Expr>,
    pub runs: Vec<Run>,
}

/// The test files of a configuration directory, sorted: its own, then those in `tests/`.
pub fn test_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (prefix, folder) in [("", dir.to_path_buf()), ("tests/", dir.join("tests"))] {
        if let Ok(paths) = super::files_with_suffix(&folder, &[TEST_SUFFIX]) {
            for path in paths {
                let file = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((format!("{prefix}{file}"), path));
            }
        }
    }
    out
}

/// Reads the test files of `dir` into `sources`; every problem is a diagnostic at its place.
pub fn load_tests(dir: &Path, sources: &mut Sources, diags: &mut Diagnostics) -> Vec<TestFile> {
    let mut out = Vec::new();
    for (name, path) in test_files(dir) {
        match super::parse_file(sources, &name, &path) {
            Ok((file, body)) => out.push(decode(&name, &path, file, body, diags)),
            Err(d) => diags.push(d),
        }
    }
    out
}

fn expr(file: FileId, e: Expression) -> Expr {
    Expr { file, expr: e }
}

/// The attributes and blocks of a body, each name checked against what is allowed there.
struct Parts {
    attributes: BTreeMap<String, (Expr, Span)>,
    blocks: Vec<syntax::Block>,
}

fn parts(
    file: FileId,
    body: syntax::Body,
    where_: &str,
    attributes: &[&str],
    blocks: &[&str],
    diags: &mut Diagnostics,
) -> Parts {
    let mut out = Parts {
        attributes: BTreeMap::new(),
        blocks: Vec::new(),
    };
    for structure in body {
        match structure {
            Structure::Attribute(attr) => {
                let name = attr.key.as_str().to_string();
                let span = span_of(file, &attr.key);
                if !attributes.contains(&name.as_str()) {
                    diags.push(
                        Diagnostic::error(format!("unexpected attribute \"{name}\" in {where_}"))
                            .at(span)
                            .help_opt(suggest(&name, attributes, blocks)),
                    );
                    continue;
                }
                out.attributes.insert(name, (expr(file, attr.value), span));
            }
            Structure::Block(block) => {
                let name = block.ident.as_str().to_string();
                if !blocks.contains(&name.as_str()) {
                    diags.push(
                        Diagnostic::error(format!("unexpected block \"{name}\" in {where_}"))
                            .at(span_of(file, &block.ident))
                            .help_opt(suggest(&name, attributes, blocks)),
                    );
                    continue;
                }
                out.blocks.push(block);
            }
        }
    }
    out
}

fn suggest(name: &str, attributes: &[&str], blocks: &[&str]) -> Option<String> {
    crate::diag::did_you_mean(name, attributes.iter().chain(blocks).copied()).or_else(|| {
        Some(format!(
            "allowed here: {}",
            attributes
                .iter()
                .chain(blocks)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn one_label(file: FileId, block: &syntax::Block, diags: &mut Diagnostics) -> Option<String> {
    let kind = block.ident.as_str();
    match block.labels.as_slice() {
        [label] => Some(match label {
            syntax::BlockLabel::String(s) => s.value().to_string(),
            syntax::BlockLabel::Ident(i) => i.as_str().to_string(),
        }),
        _ => {
            diags.push(
                Diagnostic::error(format!("a {kind} block takes one label: its name"))
                    .at(span_of(file, &block.ident))
                    .help(format!("write it as: {kind} \"NAME\" {{ ... }}")),
            );
            None
        }
    }
}

/// A `variables { name = value ... }` block's values.
fn variables(
    file: FileId,
    block: syntax::Block,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Expr> {
    let mut out = BTreeMap::new();
    for structure in block.body {
        match structure {
            Structure::Attribute(attr) => {
                out.insert(attr.key.as_str().to_string(), expr(file, attr.value));
            }
            Structure::Block(b) => diags.push(
                Diagnostic::error("a variables block holds only name = value")
                    .at(span_of(file, &b.ident)),
            ),
        }
    }
    out
}

fn decode(
    name: &str,
    path: &Path,
    file: FileId,
    body: syntax::Body,
    diags: &mut Diagnostics,
) -> TestFile {
    let mut test = TestFile {
        name: name.to_string(),
        path: path.to_path_buf(),
        variables: BTreeMap::new(),
        runs: Vec::new(),
    };
    let top = parts(file, body, "a test file", &[], &["run", "variables"], diags);
    for block in top.blocks {
        if block.ident.as_str() == "variables" {
            test.variables.extend(variables(file, block, diags));
            continue;
        }
        let span = span_of(file, &block.ident);
        let Some(run_name) = one_label(file, &block, diags) else {
            continue;
        };
        if test.runs.iter().any(|r| r.name == run_name) {
            diags.push(
                Diagnostic::error(format!("two runs named \"{run_name}\" in {name}"))
                    .at(span.clone()),
            );
        }
        if let Some(run) = decode_run(file, run_name, span, block.body, diags) {
            test.runs.push(run);
        }
    }
    test
}

fn decode_run(
    file: FileId,
    name: String,
    span: Span,
    body: syntax::Body,
    diags: &mut Diagnostics,
) -> Option<Run> {
    let mut p = parts(
        file,
        body,
        "a run block",
        &[
            "command",
            "expect_failures",
            "restore_checkpoint",
            "save_checkpoint",
        ],
        &["variables", "assert", "exec"],
        diags,
    );
    let command = match p.attributes.remove("command") {
        None => RunCommand::Apply,
        Some((e, at)) => match &e.expr {
            Expression::Variable(v) if v.as_str() == "apply" => RunCommand::Apply,
            Expression::Variable(v) if v.as_str() == "plan" => RunCommand::Plan,
            _ => {
                diags.push(
                    Diagnostic::error("command must be apply or plan")
                        .at(at.to(&e.span()))
                        .help("write command = apply (the default) or command = plan"),
                );
                RunCommand::Apply
            }
        },
    };
    let mut run = Run {
        name,
        span,
        command,
        variables: BTreeMap::new(),
        asserts: Vec::new(),
        execs: Vec::new(),
        expect_failures: Vec::new(),
        restore_checkpoint: p.attributes.remove("restore_checkpoint").map(|(e, _)| e),
        save_checkpoint: p.attributes.remove("save_checkpoint").map(|(e, _)| e),
    };
    if let Some((e, _)) = p.attributes.remove("expect_failures") {
        match &e.expr {
            Expression::Array(items) => {
                for item in items.iter() {
                    let at = span_of(file, item);
                    let text = item.to_string().trim().to_string();
                    run.expect_failures.push((text, at));
                }
            }
            _ => diags.push(
                Diagnostic::error("expect_failures is a list of references")
                    .at(e.span())
                    .help("for example expect_failures = [var.nodes, output.url]"),
            ),
        }
    }
    for block in std::mem::take(&mut p.blocks) {
        let at = span_of(file, &block.ident);
        match block.ident.as_str() {
            "variables" => run.variables.extend(variables(file, block, diags)),
            "assert" => {
                let mut a = parts(
                    file,
                    block.body,
                    "an assert block",
                    &["condition", "error_message"],
                    &[],
                    diags,
                );
                let Some((condition, _)) = a.attributes.remove("condition") else {
                    diags.push(Diagnostic::error("an assert block needs a condition").at(at));
                    continue;
                };
                run.asserts.push(Assert {
                    condition,
                    error_message: a.attributes.remove("error_message").map(|(e, _)| e),
                    span: at,
                });
            }
            _ => {
                let Some(exec_name) = one_label(file, &block, diags) else {
                    continue;
                };
                let mut x = parts(
                    file,
                    block.body,
                    "an exec block",
                    &[
                        "instance",
                        "command",
                        "exit_code",
                        "output_contains",
                        "timeout",
                    ],
                    &[],
                    diags,
                );
                let (Some((instance, _)), Some((command, _))) = (
                    x.attributes.remove("instance"),
                    x.attributes.remove("command"),
                ) else {
                    diags.push(
                        Diagnostic::error("an exec block needs instance and command")
                            .at(at)
                            .help("instance = instance.node (every instance) or instance.node[0]; command = \"hostname\""),
                    );
                    continue;
                };
                run.execs.push(GuestExec {
                    name: exec_name,
                    instance,
                    command,
                    exit_code: x.attributes.remove("exit_code").map(|(e, _)| e),
                    output_contains: x.attributes.remove("output_contains").map(|(e, _)| e),
                    timeout: x.attributes.remove("timeout").map(|(e, _)| e),
                    span: at,
                });
            }
        }
    }
    Some(run)
}

impl TestFile {
    /// Every expression of the file that is evaluated against the configuration.
    fn judged_exprs(&self) -> impl Iterator<Item = &Expr> {
        self.runs.iter().flat_map(|r| {
            r.asserts
                .iter()
                .flat_map(|a| std::iter::once(&a.condition).chain(&a.error_message))
                .chain(r.execs.iter().flat_map(|x| {
                    [&x.instance, &x.command]
                        .into_iter()
                        .chain(&x.exit_code)
                        .chain(&x.output_contains)
                        .chain(&x.timeout)
                }))
        })
    }
}

/// References in test files to what the configuration does not declare (variables, locals,
/// resources), each at its place: found by `hive validate` before any run.
pub fn undeclared_references(tests: &[TestFile], config: &super::Config) -> Diagnostics {
    use crate::lang::refs::{references, Subject};
    let mut diags = Diagnostics::default();
    for test in tests {
        for e in test.judged_exprs() {
            for r in references(e.file, &e.expr, &config.catalog) {
                let (declared, candidates): (bool, Vec<&str>) = match &r.subject {
                    Subject::Var(name) => (
                        config.variables.contains_key(name),
                        config.variables.keys().map(String::as_str).collect(),
                    ),
                    Subject::Local(name) => (
                        config.locals.contains_key(name),
                        config.locals.keys().map(String::as_str).collect(),
                    ),
                    Subject::Resource(addr) => (
                        config.resources.contains_key(addr),
                        config
                            .resources
                            .keys()
                            .filter(|a| a.kind == addr.kind)
                            .map(|a| a.name.as_str())
                            .collect(),
                    ),
                };
                if !declared {
                    diags.push(crate::lang::eval::undeclared(
                        &r.subject,
                        r.name_span.clone(),
                        candidates.into_iter(),
                    ));
                }
            }
        }
    }
    diags
}
