//! `hive fmt`: the command's behaviour, and two properties over generated configurations:
//! formatting is idempotent, and it never changes what a configuration means.

use crate::support::{config_dir, hive, run};
use hive::config::fmt::format_source;
use hive::ops::validate::{validate, VarOptions};
use proptest::prelude::*;

const MESSY: &str = "# the lab\nvariable \"n\" {\n    default=3 # three\n  type=number\n}\n\n\n\ninstance \"node\" {\n count=var.n\n    memory   =  \"1GiB\"\n  cloud_init {\n  hostname=\"n-${count.index}\"\n  }\n}\n";

const TIDY: &str = "# the lab\nvariable \"n\" {\n  default = 3 # three\n  type    = number\n}\n\ninstance \"node\" {\n  count  = var.n\n  memory = \"1GiB\"\n  cloud_init {\n    hostname = \"n-${count.index}\"\n  }\n}\n";

#[test]
fn check_lists_unformatted_files_and_exits_3_without_changing_them() {
    let dir = config_dir(&[("a.hive.hcl", MESSY), ("b.hive.hcl", TIDY)]);
    let r = run(hive().args(["fmt", "-check"]).current_dir(dir.path()));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("a.hive.hcl"), "{}", r.stdout);
    assert!(!r.stdout.contains("b.hive.hcl"), "{}", r.stdout);
    let after = std::fs::read_to_string(dir.path().join("a.hive.hcl")).expect("read");
    assert_eq!(after, MESSY, "--check must not write");
}

#[test]
fn fmt_rewrites_files_into_canonical_form() {
    let dir = config_dir(&[("a.hive.hcl", MESSY)]);
    let r = run(hive().arg("fmt").current_dir(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = std::fs::read_to_string(dir.path().join("a.hive.hcl")).expect("read");
    assert_eq!(after, TIDY);
    let again = run(hive().args(["fmt", "--check"]).current_dir(dir.path()));
    assert_eq!(
        again.code, 0,
        "formatted output must pass --check: {}",
        again.stdout
    );
}

#[test]
fn diff_prints_a_unified_diff() {
    let dir = config_dir(&[("a.hive.hcl", MESSY)]);
    let r = run(hive()
        .args(["fmt", "--check", "--diff"])
        .current_dir(dir.path()));
    assert_eq!(r.code, 3);
    assert!(r.stdout.contains("@@"), "{}", r.stdout);
    assert!(
        r.stdout.contains("-    memory   =  \"1GiB\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("+  memory = \"1GiB\""), "{}", r.stdout);
}

#[test]
fn a_file_that_cannot_be_read_as_hcl_is_an_error_with_position() {
    let dir = config_dir(&[("a.hive.hcl", "locals {\n  x = \"open\n}\n")]);
    let r = run(hive().arg("fmt").current_dir(dir.path()));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("a.hive.hcl:2:"), "{}", r.stderr);
}

#[test]
fn named_files_are_formatted() {
    let dir = config_dir(&[("x.hive.hcl", MESSY), ("y.hive.hcl", MESSY)]);
    let r = run(hive().args(["fmt", "x.hive.hcl"]).current_dir(dir.path()));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.hive.hcl")).expect("read"),
        TIDY
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("y.hive.hcl")).expect("read"),
        MESSY
    );
}

// ---- properties ------------------------------------------------------------------------

/// Spacing that may stand between two tokens when at least one is punctuation.
fn gap() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("   ")]
}

/// An expression rendered with random spacing; it only refers to `local.base` and `var.n`.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        "[a-z]{0,6}".prop_map(|s| format!("\"{s}\"")),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("local.base".to_string()),
        Just("var.n".to_string()),
        Just("\"${var.n}-x\"".to_string()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (prop::collection::vec((inner.clone(), gap()), 0..4), gap()).prop_map(|(items, g)| {
                let body: Vec<String> =
                    items.iter().map(|(i, g2)| format!("{g2}{i}{g2}")).collect();
                format!("[{g}{}{g}]", body.join(","))
            }),
            (
                prop::collection::vec(("[a-z]{1,4}", inner.clone(), gap()), 0..3),
                gap()
            )
                .prop_map(|(items, g)| {
                    let mut seen = std::collections::HashSet::new();
                    let body: Vec<String> = items
                        .iter()
                        .filter(|(k, _, _)| seen.insert(k.clone()))
                        .map(|(k, v, g2)| format!("k{k}{g2}={g2}{v}"))
                        .collect();
                    format!("{{{g}{}{g}}}", body.join(", "))
                }),
            (inner.clone(), gap(), inner.clone()).prop_map(|(a, g, b)| {
                format!("length({g}[{a}]{g}){g}=={g}1{g}?{g}{b}{g}:{g}{a}")
            }),
            (inner.clone(), gap()).prop_map(|(a, g)| format!("jsonencode({g}{a}{g})")),
            (gap(), inner).prop_map(|(g, a)| format!("[{g}for x in [1, 2]{g}:{g}{a}{g}]")),
        ]
    })
}

/// A line's trailing comment, if any.
fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => "[a-z ]{0,10}".prop_map(|c| format!(" # {c}")),
        1 => "[a-z ]{0,10}".prop_map(|c| format!(" // {c}")),
        1 => "[a-z ]{0,10}".prop_map(|c| format!(" /* {c} */")),
    ]
}

/// A configuration of locals and command resources with random spacing, indentation, blank
/// lines and comments.
fn config() -> impl Strategy<Value = String> {
    let attribute = (
        "[a-z]{1,8}",
        expr(),
        0usize..5,
        gap(),
        gap(),
        comment(),
        0usize..3,
    );
    let block = (
        prop::bool::ANY,
        prop::collection::vec(attribute, 0..6),
        0usize..3,
        comment(),
    );
    prop::collection::vec(block, 1..5).prop_map(|blocks| {
        let mut out =
            String::from("locals {\n  base = \"b\"\n}\nvariable \"n\" {\n  default = 2\n}\n");
        for (i, (is_locals, attributes, blank, head_comment)) in blocks.into_iter().enumerate() {
            out.push_str(&"\n".repeat(blank));
            if is_locals {
                out.push_str(&format!("locals {{{head_comment}\n"));
            } else {
                out.push_str(&format!(
                    "command \"c{i}\" {{{head_comment}\n  input = {{\n"
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (name, value, indent, g1, g2, tail, blank_lines) in attributes {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let name = if is_locals {
                    format!("l{i}{name}")
                } else {
                    name
                };
                out.push_str(&"\n".repeat(blank_lines));
                out.push_str(&format!(
                    "{}{name}{g1}={g2}{value}{tail}\n",
                    " ".repeat(indent)
                ));
            }
            if !is_locals {
                out.push_str("  }\n");
            }
            out.push_str("}\n");
        }
        out
    })
}

fn meaning(text: &str) -> (String, Vec<String>) {
    let dir = config_dir(&[("main.hive.hcl", text)]);
    let r = validate(
        dir.path(),
        &crate::support::registry(),
        &VarOptions::default(),
    );
    let diags = r
        .diagnostics
        .items
        .iter()
        .map(|d| d.summary.clone())
        .collect();
    // What the configuration means: every value it evaluates to (ordered maps only).
    let values = r
        .evaluated
        .map(|e| format!("{:?}", (e.vars, e.locals, e.resources, e.outputs)));
    (values.unwrap_or_default(), diags)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fmt_is_idempotent(text in config()) {
        let once = format_source(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let twice = format_source(&once).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&once, &twice, "input:\n{}", text);
    }

    #[test]
    fn fmt_never_changes_meaning(text in config()) {
        let formatted = format_source(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let before = meaning(&text);
        prop_assert!(before.1.is_empty(), "generated config should be valid: {:?}\n{}", before.1, text);
        let after = meaning(&formatted);
        prop_assert_eq!(before, after, "input:\n{}\nformatted:\n{}", text, formatted);
    }
}
