//! Paths on the machine running hive: `pathexpand`, `abspath`, `fileset`. Relative paths
//! resolve against the configuration directory, as `file()`'s do.

use super::{fail, string_arg, FnContext, FnError};
use hive_sdk::Value;
use std::path::{Component, Path, PathBuf};

/// The most files `fileset` walks before it gives up (a pattern over `/`).
const MAX_WALK: usize = 100_000;

/// `pathexpand(path)`: a leading `~` as the home directory; anything else as it is.
pub(super) fn pathexpand(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = string_arg("pathexpand", &args, 0)?;
    let rest = match path.as_str() {
        "~" => Some(""),
        p => p.strip_prefix("~/"),
    };
    let Some(rest) = rest else {
        return Ok(Value::String(path));
    };
    let home = std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| fail(Some(0), "pathexpand: cannot expand \"~\": HOME is not set"))?;
    let expanded = if rest.is_empty() {
        home
    } else {
        format!("{}/{rest}", home.trim_end_matches('/'))
    };
    Ok(Value::String(expanded))
}

/// A path without `.` and with `..` taken back, as Go's `filepath.Clean` gives it.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `abspath(path)`: absolute and clean (no symbolic link resolved).
pub(super) fn abspath(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = string_arg("abspath", &args, 0)?;
    let base = if ctx.base_dir.is_absolute() {
        ctx.base_dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| fail(None, format!("abspath: {e}")))?
            .join(ctx.base_dir)
    };
    Ok(Value::String(
        clean(&base.join(path)).to_string_lossy().into_owned(),
    ))
}

/// Whether `name` matches one glob segment (`*`, `?`, `[a-z]`, `[!x]`, `{a,b}`).
fn matches_segment(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| matches_segment(&pattern[1..], &name[i..])),
        Some('?') => !name.is_empty() && matches_segment(&pattern[1..], &name[1..]),
        Some('{') => {
            let Some(close) = pattern.iter().position(|c| *c == '}') else {
                return name.first() == Some(&'{') && matches_segment(&pattern[1..], &name[1..]);
            };
            let rest = &pattern[close + 1..];
            pattern[1..close].split(|c| *c == ',').any(|alt| {
                let mut whole = alt.to_vec();
                whole.extend_from_slice(rest);
                matches_segment(&whole, name)
            })
        }
        Some('[') => {
            let Some(close) = pattern
                .iter()
                .skip(1)
                .position(|c| *c == ']')
                .map(|p| p + 1)
            else {
                return name.first() == Some(&'[') && matches_segment(&pattern[1..], &name[1..]);
            };
            let Some(&c) = name.first() else {
                return false;
            };
            let mut class = &pattern[1..close];
            let negated = matches!(class.first(), Some('!' | '^'));
            if negated {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negated && matches_segment(&pattern[close + 1..], &name[1..])
        }
        Some('\\') if pattern.len() > 1 => {
            name.first() == Some(&pattern[1]) && matches_segment(&pattern[2..], &name[1..])
        }
        Some(p) => name.first() == Some(p) && matches_segment(&pattern[1..], &name[1..]),
    }
}

/// Whether a relative path (its segments) matches a pattern's segments, `**` being any
/// number of directories.
fn matches_path(pattern: &[Vec<char>], path: &[Vec<char>]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p.as_slice() == ['*', '*'] => {
            (0..=path.len()).any(|i| matches_path(&pattern[1..], &path[i..]))
        }
        Some(p) => {
            !path.is_empty()
                && matches_segment(p, &path[0])
                && matches_path(&pattern[1..], &path[1..])
        }
    }
}

/// `fileset(path, pattern)`: the files under `path` whose path relative to it matches
/// `pattern`, sorted, with `/` between directories.
pub(super) fn fileset(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let root_text = string_arg("fileset", &args, 0)?;
    let pattern = string_arg("fileset", &args, 1)?;
    let root = ctx.base_dir.join(&root_text);
    let segments = |text: &str| -> Vec<Vec<char>> {
        text.split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(|s| s.chars().collect())
            .collect()
    };
    let wanted = segments(&pattern);
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    let mut walked = 0usize;
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            walked += 1;
            if walked > MAX_WALK {
                return Err(fail(
                    None,
                    format!("fileset: more than {MAX_WALK} files under {root_text:?}"),
                ));
            }
            let path = rel.join(entry.file_name());
            let Ok(kind) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let text = path.to_string_lossy().replace('\\', "/");
                if matches_path(&wanted, &segments(&text)) {
                    found.push(text);
                }
            }
        }
    }
    found.sort();
    Ok(Value::Set(found.into_iter().map(Value::String).collect()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_in, s};
    use super::*;

    #[test]
    fn globs_match_as_terraform_s_do() {
        let seg = |p: &str, n: &str| {
            matches_segment(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(seg("*.txt", "a.txt"));
        assert!(!seg("*.txt", "a.md"));
        assert!(seg("?.{txt,md}", "a.md"));
        assert!(seg("[a-c]x", "bx"));
        assert!(!seg("[!a-c]x", "bx"));
        let dir = tempfile::tempdir().expect("temp dir");
        for f in ["a.txt", "sub/b.txt", "sub/deep/c.txt", "sub/d.md"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
        let set = |pattern: &str| call_in(dir.path(), "fileset", vec![s("."), s(pattern)]);
        assert_eq!(
            set("**/*.txt"),
            Ok(Value::Set(vec![
                s("a.txt"),
                s("sub/b.txt"),
                s("sub/deep/c.txt")
            ]))
        );
        assert_eq!(
            set("sub/*"),
            Ok(Value::Set(vec![s("sub/b.txt"), s("sub/d.md")]))
        );
        assert_eq!(
            call_in(dir.path(), "abspath", vec![s("x/../y")]),
            Ok(s(&dir.path().join("y").to_string_lossy()))
        );
    }
}
