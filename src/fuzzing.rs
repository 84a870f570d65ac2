//! The body of the fuzz target, kept in the crate so that an API change breaks the build
//! of the crate itself instead of only the separately built fuzz crate.

use crate::engine::registry::Registry;
use std::sync::OnceLock;

/// Arbitrary bytes as a configuration file: loading and evaluating them must never panic,
/// and formatting what formats must be idempotent (a panic is the failure libFuzzer sees).
pub fn parse_eval_fmt(data: &[u8]) {
    static REGISTRY: OnceLock<Option<Registry>> = OnceLock::new();
    let Some(registry) = REGISTRY.get_or_init(|| Registry::standard().ok()) else {
        panic!("the standard registry does not build");
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("main.hive.hcl"), data).is_err() {
        return;
    }
    let _ = crate::ops::validate::validate(dir.path(), registry, &Default::default());
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(once) = crate::config::fmt::format_source(text) {
            let twice = crate::config::fmt::format_source(&once);
            assert_eq!(twice.as_ref(), Ok(&once), "fmt is not idempotent");
        }
    }
}

#[cfg(test)]
mod tests {
    /// The seed corpus the fuzz run starts from passes the target.
    #[test]
    fn every_fixture_passes_the_fuzz_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for pattern in ["tests/fixtures", "examples"] {
            let mut stack = vec![root.join(pattern)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "hcl") {
                        let Ok(data) = std::fs::read(&path) else {
                            continue;
                        };
                        super::parse_eval_fmt(&data);
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} fixtures found");
        super::parse_eval_fmt(b"resource \"x\" {\n  a = [1,\n");
        super::parse_eval_fmt(&[0xff, 0xfe, b'{', 0]);
    }
}
