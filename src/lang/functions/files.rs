//! File functions: `file`, `fileexists`, `templatefile`, and the path functions `basename` and
//! `dirname`.

use super::{fail, map_arg, string_arg, FnContext, FnError};
use hive_sdk::Value;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// The largest file `file` and `templatefile` read.
const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// A path as the configuration wrote it, resolved: `~` and `~/...` against $HOME, relative paths
/// against the configuration directory.
fn resolve(ctx: &FnContext, fname: &str, path: &str) -> Result<PathBuf, FnError> {
    let home_relative = if path == "~" {
        Some("")
    } else {
        path.strip_prefix("~/")
    };
    match home_relative {
        Some(rest) => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| {
                    fail(
                        Some(0),
                        format!("{fname}: cannot expand \"~\" because HOME is not set"),
                    )
                })?;
            Ok(PathBuf::from(home).join(rest))
        }
        None => Ok(ctx.base_dir.join(path)),
    }
}

/// The bytes of the file argument 0 names, of at most [`MAX_FILE_SIZE`] bytes.
pub(super) fn file_bytes(ctx: &FnContext, fname: &str, args: &[Value]) -> Result<Vec<u8>, FnError> {
    let path = resolve(ctx, fname, &string_arg(fname, args, 0)?)?;
    read_bytes(fname, &path)
}

/// Reads a UTF-8 text file of at most [`MAX_FILE_SIZE`] bytes.
fn read_text(fname: &str, path: &Path) -> Result<String, FnError> {
    let bytes = read_bytes(fname, path)?;
    String::from_utf8(bytes).map_err(|_| {
        fail(
            Some(0),
            format!("{fname}: {} is not valid UTF-8 text", path.display()),
        )
    })
}

/// Reads a file of at most [`MAX_FILE_SIZE`] bytes.
fn read_bytes(fname: &str, path: &Path) -> Result<Vec<u8>, FnError> {
    let io_error = |e: std::io::Error| {
        if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory {
            fail(Some(0), format!("{fname}: no file at {}", path.display()))
        } else {
            fail(
                Some(0),
                format!("{fname}: cannot read {}: {e}", path.display()),
            )
        }
    };
    // Checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(io_error)?;
    if meta.is_dir() {
        return Err(fail(
            Some(0),
            format!("{fname}: {} is a directory, not a file", path.display()),
        ));
    }
    if !meta.is_file() {
        return Err(fail(
            Some(0),
            format!("{fname}: {} is not a regular file", path.display()),
        ));
    }
    let too_big = || {
        fail(
            Some(0),
            format!(
                "{fname}: {} is larger than 16 MiB, the most a function reads",
                path.display()
            ),
        )
    };
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    // The file may have grown since the check.
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_big());
    }
    Ok(bytes)
}

pub(super) fn file(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = resolve(ctx, "file", &string_arg("file", &args, 0)?)?;
    read_text("file", &path).map(Value::String)
}

/// `fileexists(path)`: whether a regular file exists there (a directory is an error, as in
/// Terraform).
pub(super) fn fileexists(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = resolve(ctx, "fileexists", &string_arg("fileexists", &args, 0)?)?;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(Value::Bool(true)),
        Ok(meta) if meta.is_dir() => Err(fail(
            Some(0),
            format!("fileexists: {} is a directory, not a file", path.display()),
        )),
        Ok(_) => Err(fail(
            Some(0),
            format!("fileexists: {} is not a regular file", path.display()),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {
            Ok(Value::Bool(false))
        }
        Err(e) => Err(fail(
            Some(0),
            format!("fileexists: cannot check {}: {e}", path.display()),
        )),
    }
}

/// `templatefile(path, vars)`: the file rendered as a template with the variables.
pub(super) fn templatefile(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = resolve(ctx, "templatefile", &string_arg("templatefile", &args, 0)?)?;
    let vars = map_arg("templatefile", &args, 1)?;
    let source = read_text("templatefile", &path)?;
    (ctx.render_template)(&source, &path, vars)
        .map_err(|message| fail(None, format!("templatefile: {message}")))
}

/// `basename(path)`: the last element of the path, as Go's `filepath.Base` gives it.
pub(super) fn basename(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = string_arg("basename", &args, 0)?;
    if path.is_empty() {
        return Ok(Value::string("."));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(Value::string("/"));
    }
    let base = match trimmed.rfind('/') {
        Some(i) => trimmed.get(i + 1..).unwrap_or_default(),
        None => trimmed,
    };
    Ok(Value::string(base))
}

/// `dirname(path)`: all but the last element of the path, cleaned, as Go's `filepath.Dir` gives
/// it.
pub(super) fn dirname(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let path = string_arg("dirname", &args, 0)?;
    let dir = match path.rfind('/') {
        Some(i) => path.get(..=i).unwrap_or_default(),
        None => "",
    };
    Ok(Value::String(clean(dir)))
}

/// Go's `path.Clean`: no repeated slashes, no `.` elements, `..` resolved where possible.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::*;
    use super::super::{call, lookup};
    use super::*;
    use std::collections::BTreeMap;

    /// A fresh directory under the system temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir()
                .join(format!("hive-functions-test-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_reads_relative_and_absolute_paths() {
        let dir = TempDir::new("file");
        let abs = dir.write("sub/hello.txt", "héllo\n".as_bytes());
        assert_eq!(
            call_in(&dir.0, "file", vec![s("sub/hello.txt")]),
            Ok(s("héllo\n"))
        );
        assert_eq!(
            call_in(&dir.0, "file", vec![s(abs.to_str().unwrap())]),
            Ok(s("héllo\n"))
        );
        assert_eq!(
            call_in(&dir.0, "file", vec![secret(s("sub/hello.txt"))]),
            Ok(secret(s("héllo\n")))
        );
        assert_eq!(
            call_in(&dir.0, "fileexists", vec![s("sub/hello.txt")]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call_in(&dir.0, "fileexists", vec![s("nope.txt")]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call_in(&dir.0, "fileexists", vec![s("sub/hello.txt/x")]),
            Ok(Value::Bool(false))
        );
    }

    #[test]
    fn file_errors() {
        let dir = TempDir::new("file-errors");
        let missing = dir.0.join("missing.txt");
        assert_eq!(
            call_in(&dir.0, "file", vec![s("missing.txt")]),
            Err(fail(
                Some(0),
                format!("file: no file at {}", missing.display())
            ))
        );
        let e = call_in(&dir.0, "file", vec![s(".")]).unwrap_err();
        assert!(
            e.message.ends_with("is a directory, not a file"),
            "{}",
            e.message
        );
        dir.write("bad.bin", &[0x66, 0xff, 0xfe]);
        let e = call_in(&dir.0, "file", vec![s("bad.bin")]).unwrap_err();
        assert_eq!(e.arg, Some(0));
        assert!(
            e.message.ends_with("bad.bin is not valid UTF-8 text"),
            "{}",
            e.message
        );
        // A sparse file just over the limit.
        let big = std::fs::File::create(dir.0.join("big.txt")).unwrap();
        big.set_len(MAX_FILE_SIZE + 1).unwrap();
        drop(big);
        let e = call_in(&dir.0, "file", vec![s("big.txt")]).unwrap_err();
        assert!(e.message.contains("larger than 16 MiB"), "{}", e.message);
        let e = call_in(&dir.0, "fileexists", vec![s(".")]).unwrap_err();
        assert!(
            e.message.ends_with("is a directory, not a file"),
            "{}",
            e.message
        );
        assert_eq!(
            call_in(&dir.0, "file", vec![list(vec![])]),
            Err(fail(Some(0), "file: argument 1 must be a string, got list"))
        );
    }

    #[test]
    fn tilde_expands_to_home() {
        let dir = TempDir::new("tilde");
        let name = format!(
            "~/hive-functions-test-surely-missing-{}",
            std::process::id()
        );
        let e = call_in(&dir.0, "file", vec![s(&name)]).unwrap_err();
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => {
                let expected = PathBuf::from(home).join(name.trim_start_matches("~/"));
                assert_eq!(
                    e.message,
                    format!("file: no file at {}", expected.display())
                );
            }
            None => assert!(e.message.contains("HOME is not set")),
        }
    }

    #[test]
    fn templatefile_renders_with_the_context() {
        let dir = TempDir::new("template");
        let path = dir.write("t.tpl", b"hello ${name}");
        assert_eq!(
            call_in(
                &dir.0,
                "templatefile",
                vec![s("t.tpl"), Value::map([("name", s("x"))])]
            ),
            Ok(s("hello ${name}"))
        );
        assert_eq!(
            call_in(&dir.0, "templatefile", vec![s("t.tpl"), s("x")]),
            Err(fail(
                Some(1),
                "templatefile: argument 2 must be a map, got string"
            ))
        );
        assert!(call_in(
            &dir.0,
            "templatefile",
            vec![s("none.tpl"), Value::map::<String>([])]
        )
        .unwrap_err()
        .message
        .starts_with("templatefile: no file at "));

        // The renderer sees the resolved path and the variables; its errors become FnErrors.
        let render = |src: &str, p: &Path, vars: &BTreeMap<String, Value>| {
            if vars.contains_key("fail") {
                Err(format!("{}: bad template", p.display()))
            } else {
                Ok(Value::string(format!(
                    "{src}|{}|{}",
                    p.display(),
                    vars.len()
                )))
            }
        };
        let ctx = FnContext {
            base_dir: &dir.0,
            render_template: &render,
        };
        let f = lookup("templatefile").unwrap();
        assert_eq!(
            call(f, &ctx, vec![s("t.tpl"), Value::map([("a", n(1.0))])]),
            Ok(s(&format!("hello ${{name}}|{}|1", path.display())))
        );
        assert_eq!(
            call(f, &ctx, vec![s("t.tpl"), Value::map([("fail", n(1.0))])]),
            Err(fail(
                None,
                format!("templatefile: {}: bad template", path.display())
            ))
        );
        // Unknown variables make the result unknown without rendering.
        assert_eq!(
            call(
                f,
                &ctx,
                vec![s("t.tpl"), Value::map([("fail", Value::Unknown)])]
            ),
            Ok(Value::Unknown)
        );
    }

    #[test]
    fn basename_and_dirname_follow_go() {
        let base = |p: &str| call_fn("basename", vec![s(p)]).unwrap();
        let dir = |p: &str| call_fn("dirname", vec![s(p)]).unwrap();
        assert_eq!(base("foo/bar/baz.txt"), s("baz.txt"));
        assert_eq!(base("baz.txt"), s("baz.txt"));
        assert_eq!(base("foo/bar/"), s("bar"));
        assert_eq!(base("/"), s("/"));
        assert_eq!(base(""), s("."));
        assert_eq!(dir("foo/bar/baz.txt"), s("foo/bar"));
        assert_eq!(dir("baz.txt"), s("."));
        assert_eq!(dir("/baz.txt"), s("/"));
        assert_eq!(dir("foo/bar/"), s("foo/bar"));
        assert_eq!(dir("/"), s("/"));
        assert_eq!(dir(""), s("."));
        assert_eq!(dir("a//b/./c"), s("a/b"));
        assert_eq!(dir("../x"), s(".."));
        assert_eq!(dir("a/../../x"), s(".."));
        assert_eq!(dir("/../x"), s("/"));
        assert!(call_fn("basename", vec![list(vec![])]).is_err());
        assert!(call_fn("dirname", vec![Value::Null]).is_err());
    }
}
