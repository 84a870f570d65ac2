//! The built-in function library (SPEC section 2).
//!
//! Every function is deterministic: a plan made twice from the same inputs is the same plan.

// The type of `FnContext::render_template` is spelled out where it is defined.
#![allow(clippy::type_complexity)]

mod collections;
mod dates;
mod encoding;
mod files;
mod formats;
mod hashes;
mod lists;
mod math;
mod network;
mod paths;
mod strings;
mod text;

use hive_sdk::{Type, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// What a function may use besides its arguments.
pub struct FnContext<'a> {
    /// The configuration directory: relative paths in `file()` and `templatefile()` resolve
    /// against it.
    pub base_dir: &'a Path,
    /// Renders a template's source with the given variables (used by `templatefile`); the path
    /// names the file in errors.
    pub render_template: &'a dyn Fn(&str, &Path, &BTreeMap<String, Value>) -> Result<Value, String>,
}

/// A function call that failed; `arg` is the zero-based index of the argument at fault, so the
/// error can point at it.
#[derive(Debug, Clone, PartialEq)]
pub struct FnError {
    pub arg: Option<usize>,
    pub message: String,
}

/// A built-in function.
pub struct Function {
    pub name: &'static str,
    /// Minimum and maximum number of arguments (max None = variadic).
    pub min_args: usize,
    pub max_args: Option<usize>,
    /// The function looks only at the shape of its collection arguments (`length`, `keys`,
    /// `concat`, `lookup`...): it is called even when elements are unknown, and elements keep
    /// their sensitive marks, so `length(list_with_a_secret)` is not itself sensitive. A
    /// top-level unknown argument always yields Value::Unknown without calling.
    pub structural: bool,
    pub call: fn(&FnContext, Vec<Value>) -> Result<Value, FnError>,
}

/// Shorthand for the table below.
const fn func(
    name: &'static str,
    min_args: usize,
    max_args: Option<usize>,
    structural: bool,
    call: fn(&FnContext, Vec<Value>) -> Result<Value, FnError>,
) -> Function {
    Function {
        name,
        min_args,
        max_args,
        structural,
        call,
    }
}

const ONE: Option<usize> = Some(1);
const TWO: Option<usize> = Some(2);
const THREE: Option<usize> = Some(3);
const ANY: Option<usize> = None;

/// Every built-in function, sorted by name.
static FUNCTIONS: &[Function] = &[
    func("abs", 1, ONE, false, math::abs),
    func("abspath", 1, ONE, false, paths::abspath),
    func("alltrue", 1, ONE, false, lists::alltrue),
    func("anytrue", 1, ONE, false, lists::anytrue),
    func("base64decode", 1, ONE, false, encoding::base64decode),
    func("base64encode", 1, ONE, false, encoding::base64encode),
    func("base64gzip", 1, ONE, false, formats::base64gzip),
    func("base64sha256", 1, ONE, false, hashes::base64sha256),
    func("base64sha512", 1, ONE, false, hashes::base64sha512),
    func("basename", 1, ONE, false, files::basename),
    func("ceil", 1, ONE, false, math::ceil),
    func("chomp", 1, ONE, false, text::chomp),
    func("chunklist", 2, TWO, false, lists::chunklist),
    func("cidrhost", 2, TWO, false, network::cidrhost),
    func("cidrnetmask", 1, ONE, false, network::cidrnetmask),
    func("cidrsubnet", 3, THREE, false, network::cidrsubnet),
    func("cidrsubnets", 1, ANY, false, network::cidrsubnets),
    func("coalesce", 1, ANY, false, collections::coalesce),
    func("coalescelist", 1, ANY, false, lists::coalescelist),
    func("compact", 1, ONE, false, collections::compact),
    func("concat", 1, ANY, true, collections::concat),
    func("contains", 2, TWO, false, collections::contains),
    func("csvdecode", 1, ONE, false, formats::csvdecode),
    func("dirname", 1, ONE, false, files::dirname),
    func("distinct", 1, ONE, false, collections::distinct),
    func("element", 2, TWO, true, collections::element),
    func("endswith", 2, TWO, false, strings::endswith),
    func("file", 1, ONE, false, files::file),
    func("filebase64", 1, ONE, false, hashes::filebase64),
    func("filebase64sha256", 1, ONE, false, hashes::filebase64sha256),
    func("filebase64sha512", 1, ONE, false, hashes::filebase64sha512),
    func("fileexists", 1, ONE, false, files::fileexists),
    func("filemd5", 1, ONE, false, hashes::filemd5),
    func("fileset", 2, TWO, false, paths::fileset),
    func("filesha1", 1, ONE, false, hashes::filesha1),
    func("filesha256", 1, ONE, false, hashes::filesha256),
    func("filesha512", 1, ONE, false, hashes::filesha512),
    func("flatten", 1, ONE, false, collections::flatten),
    func("floor", 1, ONE, false, math::floor),
    func("format", 1, ANY, false, strings::format),
    func("formatdate", 2, TWO, false, dates::formatdate),
    func("formatlist", 1, ANY, false, text::formatlist),
    func("indent", 2, TWO, false, text::indent),
    func("index", 2, TWO, false, lists::index),
    func("join", 2, ANY, false, strings::join),
    func("jsondecode", 1, ONE, false, encoding::jsondecode),
    func("jsonencode", 1, ONE, false, encoding::jsonencode),
    func("keys", 1, ONE, true, collections::keys),
    func("length", 1, ONE, true, collections::length),
    func("log", 2, TWO, false, math::log),
    func("lookup", 2, THREE, true, collections::lookup),
    func("lower", 1, ONE, false, strings::lower),
    func("matchkeys", 3, THREE, false, lists::matchkeys),
    func("max", 1, ANY, false, collections::max),
    func("md5", 1, ONE, false, hashes::md5),
    func("merge", 0, ANY, true, collections::merge),
    func("min", 1, ANY, false, collections::min),
    func("one", 1, ONE, false, lists::one),
    func("parseint", 2, TWO, false, math::parseint),
    func("pathexpand", 1, ONE, false, paths::pathexpand),
    func("pow", 2, TWO, false, math::pow),
    func("range", 1, THREE, false, collections::range),
    func("regex", 2, TWO, false, text::regex),
    func("regexall", 2, TWO, false, text::regexall),
    func("replace", 3, THREE, false, strings::replace),
    func("reverse", 1, ONE, true, collections::reverse),
    func("setintersection", 1, ANY, false, lists::setintersection),
    func("setproduct", 1, ANY, false, lists::setproduct),
    func("setsubtract", 2, TWO, false, lists::setsubtract),
    func("setunion", 1, ANY, false, lists::setunion),
    func("sha1", 1, ONE, false, hashes::sha1),
    func("sha256", 1, ONE, false, encoding::sha256),
    func("sha512", 1, ONE, false, hashes::sha512),
    func("signum", 1, ONE, false, math::signum),
    func("slice", 3, THREE, true, collections::slice),
    func("sort", 1, ONE, false, collections::sort),
    func("split", 2, TWO, false, strings::split),
    func("startswith", 2, TWO, false, strings::startswith),
    func("strcontains", 2, TWO, false, strings::strcontains),
    func("strrev", 1, ONE, false, text::strrev),
    func("substr", 3, THREE, false, strings::substr),
    func("sum", 1, ONE, false, math::sum),
    func("templatefile", 2, TWO, false, files::templatefile),
    func("textdecodebase64", 2, TWO, false, formats::textdecodebase64),
    func("textencodebase64", 2, TWO, false, formats::textencodebase64),
    func("timeadd", 2, TWO, false, dates::timeadd),
    func("timecmp", 2, TWO, false, dates::timecmp),
    func("title", 1, ONE, false, text::title),
    func("tobool", 1, ONE, false, strings::tobool),
    func("tolist", 1, ONE, true, collections::tolist),
    func("tomap", 1, ONE, true, collections::tomap),
    func("tonumber", 1, ONE, false, strings::tonumber),
    func("toset", 1, ONE, false, collections::toset),
    func("tostring", 1, ONE, false, strings::tostring),
    func("transpose", 1, ONE, false, lists::transpose),
    func("trim", 2, TWO, false, text::trim),
    func("trimprefix", 2, TWO, false, text::trimprefix),
    func("trimspace", 1, ONE, false, strings::trimspace),
    func("trimsuffix", 2, TWO, false, text::trimsuffix),
    func("upper", 1, ONE, false, strings::upper),
    func("urlencode", 1, ONE, false, formats::urlencode),
    func("uuidv5", 2, TWO, false, hashes::uuidv5),
    func("values", 1, ONE, true, collections::values),
    func("yamlencode", 1, ONE, false, encoding::yamlencode),
    func("zipmap", 2, TWO, false, collections::zipmap),
];

/// Why a function Terraform has is not here (its result would differ from run to run, and
/// hive's plans are made from the configuration alone).
pub fn refused(name: &str) -> Option<&'static str> {
    match name {
        "timestamp" | "plantimestamp" => Some("its result differs from run to run, so a plan could never be empty; pass the time in as a variable (-var now=$(date -u +%FT%TZ))"),
        "uuid" => Some("its result differs from run to run, so a plan could never be empty; use uuidv5 with a stable name, or hive.id"),
        "bcrypt" => Some("its result differs from run to run (it salts at random), so a plan could never be empty; hash the password outside and pass the hash in"),
        _ => None,
    }
}

/// Looks up a function by name.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .and_then(|i| FUNCTIONS.get(i))
}

/// All function names (for "did you mean" suggestions).
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS
        .iter()
        .map(|f| f.name)
        .chain(SPECIAL.iter().copied())
}

/// The functions the evaluator itself carries out (see `Evaluator::special_call`): they see
/// their arguments' expressions or marks, not only their values.
pub const SPECIAL: &[&str] = &[
    "can",
    "issensitive",
    "nonsensitive",
    "sensitive",
    "templatestring",
    "try",
];

/// Calls `f` with evaluated arguments: checks the argument count, returns `Value::Unknown` if
/// any argument is unknown (at the top level, or anywhere unless the function is structural),
/// strips sensitive marks from the arguments (only the top-level ones for structural
/// functions) and marks the result sensitive if a stripped mark was there.
pub fn call(f: &Function, ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    check_arity(f, args.len())?;
    let unknown = if f.structural {
        args.iter().any(Value::is_unknown)
    } else {
        args.iter().any(|a| !a.is_wholly_known())
    };
    let any_sensitive = args.iter().any(Value::contains_sensitive);
    if unknown {
        return Ok(Value::Unknown.mark_sensitive_if(any_sensitive));
    }
    let mut sensitive = false;
    let args = args
        .into_iter()
        .map(|a| {
            let (a, marked) = if f.structural {
                a.unmark()
            } else {
                a.unmark_deep()
            };
            sensitive |= marked;
            a
        })
        .collect();
    match (f.call)(ctx, args) {
        Ok(result) => Ok(result.mark_sensitive_if(sensitive)),
        // The function saw the arguments unmarked and its message may quote them, or a value
        // derived from them: never show it.
        Err(mut e) if any_sensitive => {
            e.message = format!(
                "{}: invalid arguments (details hidden because they include a sensitive value)",
                f.name
            );
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn check_arity(f: &Function, got: usize) -> Result<(), FnError> {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let message = match f.max_args {
        Some(max) if max == f.min_args && got != max => {
            format!("{} takes exactly {max} {}, got {got}", f.name, plural(max))
        }
        _ if got < f.min_args => format!(
            "{} needs at least {} {}, got {got}",
            f.name,
            f.min_args,
            plural(f.min_args)
        ),
        Some(max) if got > max => {
            format!("{} takes at most {max} {}, got {got}", f.name, plural(max))
        }
        _ => return Ok(()),
    };
    Err(FnError { arg: None, message })
}

// Helpers shared by the topic files. Argument indexes are zero-based; messages count from one.

/// An error about the call as a whole, or about one argument.
fn fail(arg: Option<usize>, message: impl Into<String>) -> FnError {
    FnError {
        arg,
        message: message.into(),
    }
}

/// "`fname`: argument `i+1` must be `expected`, got `<type of got>`".
fn type_error(fname: &str, i: usize, expected: &str, got: &Value) -> FnError {
    fail(
        Some(i),
        format!(
            "{fname}: argument {} must be {expected}, got {}",
            i + 1,
            got.type_name()
        ),
    )
}

/// Argument `i` (the arity check guarantees it exists; a missing one reads as null).
fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Null)
}

/// Converts a value to a string the way Terraform converts function arguments (numbers and
/// bools become strings); `None` if it cannot.
fn to_string_value(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        v => match Type::String.convert(v.clone()) {
            Ok(Value::String(s)) => Some(s),
            _ => None,
        },
    }
}

/// Argument `i` as a string.
fn string_arg(fname: &str, args: &[Value], i: usize) -> Result<String, FnError> {
    let v = arg(args, i);
    to_string_value(v).ok_or_else(|| type_error(fname, i, "a string", v))
}

/// Argument `i` as a finite number (numeric strings convert, as in Terraform).
fn number_arg(fname: &str, args: &[Value], i: usize) -> Result<f64, FnError> {
    let v = arg(args, i);
    let n = match v {
        Value::Number(n) => *n,
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            fail(
                Some(i),
                format!("{fname}: argument {} must be a number, got {v}", i + 1),
            )
        })?,
        other => return Err(type_error(fname, i, "a number", other)),
    };
    if n.is_finite() {
        Ok(n)
    } else {
        Err(fail(
            Some(i),
            format!("{fname}: argument {} must be a finite number", i + 1),
        ))
    }
}

/// Argument `i` as a whole number strictly between `-limit` and `limit`.
fn whole_number_arg(fname: &str, args: &[Value], i: usize, limit: f64) -> Result<f64, FnError> {
    let n = number_arg(fname, args, i)?;
    if n.fract() != 0.0 {
        return Err(fail(
            Some(i),
            format!(
                "{fname}: argument {} must be a whole number, got {}",
                i + 1,
                hive_sdk::value::format_number(n)
            ),
        ));
    }
    if !(-limit..limit).contains(&n) {
        return Err(fail(
            Some(i),
            format!("{fname}: argument {} is too large", i + 1),
        ));
    }
    Ok(n)
}

/// Argument `i` as a whole number that fits an i64.
fn integer_arg(fname: &str, args: &[Value], i: usize) -> Result<i64, FnError> {
    // 2^63 is exactly representable; every whole f64 below it in magnitude fits an i64.
    whole_number_arg(fname, args, i, 9_223_372_036_854_775_808.0).map(|n| n as i64)
}

/// Argument `i` as a whole number that fits an i128 (IPv6 host numbers can exceed an i64).
pub(super) fn big_integer_arg(fname: &str, args: &[Value], i: usize) -> Result<i128, FnError> {
    // 2^127.
    whole_number_arg(fname, args, i, 1.7014118346046923e38).map(|n| n as i128)
}

/// Argument `i` as the elements of a list or a set.
fn items_arg<'v>(fname: &str, args: &'v [Value], i: usize) -> Result<&'v [Value], FnError> {
    let v = arg(args, i);
    match v {
        Value::List(items) | Value::Set(items) => Ok(items),
        other => Err(type_error(fname, i, "a list or set", other)),
    }
}

/// Argument `i` as a list or set of strings (numbers and bools convert; null elements are an
/// error).
fn strings_arg(fname: &str, args: &[Value], i: usize) -> Result<Vec<String>, FnError> {
    let v = arg(args, i);
    let items = match v {
        Value::List(items) | Value::Set(items) => items,
        other => return Err(type_error(fname, i, "a list of strings", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(j, item)| {
            to_string_value(item).ok_or_else(|| {
                fail(
                    Some(i),
                    format!(
                        "{fname}: argument {} must be a list of strings, element {j} is {}",
                        i + 1,
                        item.type_name()
                    ),
                )
            })
        })
        .collect()
}

/// Argument `i` as a map.
fn map_arg<'v>(
    fname: &str,
    args: &'v [Value],
    i: usize,
) -> Result<&'v BTreeMap<String, Value>, FnError> {
    match arg(args, i) {
        Value::Map(entries) => Ok(entries),
        other => Err(type_error(fname, i, "a map", other)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod testing {
    //! Helpers for the tests of every topic file.

    use super::*;

    /// Calls the named function through [`call`] with a context whose base directory is `dir`
    /// and whose template renderer returns the source unchanged.
    pub fn call_in(dir: &Path, name: &str, args: Vec<Value>) -> Result<Value, FnError> {
        let render = |src: &str, _path: &Path, _vars: &BTreeMap<String, Value>| {
            Ok::<Value, String>(Value::string(src))
        };
        let ctx = FnContext {
            base_dir: dir,
            render_template: &render,
        };
        let f = lookup(name).unwrap_or_else(|| panic!("no function {name}"));
        call(f, &ctx, args)
    }

    /// [`call_in`] with the system temporary directory as the base directory.
    pub fn call_fn(name: &str, args: Vec<Value>) -> Result<Value, FnError> {
        call_in(&std::env::temp_dir(), name, args)
    }

    pub fn s(text: &str) -> Value {
        Value::string(text)
    }

    pub fn n(x: f64) -> Value {
        Value::Number(x)
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    pub fn strs(items: &[&str]) -> Value {
        Value::List(items.iter().map(|t| Value::string(*t)).collect())
    }

    pub fn secret(v: Value) -> Value {
        v.mark_sensitive_if(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let all: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(all, sorted);
        for name in all {
            assert_eq!(lookup(name).map(|f| f.name), Some(name));
        }
        assert!(lookup("nope").is_none());
        assert!(lookup("uuid").is_none());
        assert!(lookup("timestamp").is_none());
    }

    #[test]
    fn argument_counts_are_checked() {
        assert_eq!(
            call_fn("format", vec![]),
            Err(fail(None, "format needs at least 1 argument, got 0"))
        );
        assert_eq!(
            call_fn("upper", vec![s("a"), s("b")]),
            Err(fail(None, "upper takes exactly 1 argument, got 2"))
        );
        assert_eq!(
            call_fn("upper", vec![]),
            Err(fail(None, "upper takes exactly 1 argument, got 0"))
        );
        assert_eq!(
            call_fn("cidrsubnet", vec![s("10.0.0.0/8")]),
            Err(fail(None, "cidrsubnet takes exactly 3 arguments, got 1"))
        );
        assert_eq!(
            call_fn("lookup", vec![Value::map([("a", n(1.0))])]),
            Err(fail(None, "lookup needs at least 2 arguments, got 1"))
        );
        assert_eq!(
            call_fn("lookup", vec![n(1.0), n(1.0), n(1.0), n(1.0)]),
            Err(fail(None, "lookup takes at most 3 arguments, got 4"))
        );
        assert_eq!(call_fn("merge", vec![]), Ok(Value::map::<String>([])));
    }

    #[test]
    fn unknown_arguments_make_unknown_results() {
        assert_eq!(call_fn("upper", vec![Value::Unknown]), Ok(Value::Unknown));
        // A nested unknown stops a function that needs every element...
        assert_eq!(
            call_fn("join", vec![s(","), list(vec![s("a"), Value::Unknown])]),
            Ok(Value::Unknown)
        );
        // ...but not one that only counts them.
        assert_eq!(
            call_fn("length", vec![list(vec![s("a"), Value::Unknown])]),
            Ok(n(2.0))
        );
        // A top-level unknown always yields unknown, even for tolerant functions.
        assert_eq!(call_fn("length", vec![Value::Unknown]), Ok(Value::Unknown));
        // The arity check comes first.
        assert!(call_fn("upper", vec![Value::Unknown, Value::Unknown]).is_err());
        // Unknown and sensitive stays sensitive.
        assert_eq!(
            call_fn("upper", vec![secret(Value::Unknown)]),
            Ok(secret(Value::Unknown))
        );
    }

    #[test]
    fn sensitive_arguments_make_sensitive_results() {
        assert_eq!(call_fn("upper", vec![secret(s("a"))]), Ok(secret(s("A"))));
        // Nested marks are stripped before the call and put back on the whole result.
        assert_eq!(
            call_fn("join", vec![s("-"), list(vec![s("a"), secret(s("b"))])]),
            Ok(secret(s("a-b")))
        );
        // Structural functions keep element marks in place: the length of a list holding a
        // secret is not itself a secret, and the elements it returns stay marked.
        assert_eq!(
            call_fn("length", vec![list(vec![secret(s("a"))])]),
            Ok(n(1.0))
        );
        assert_eq!(
            call_fn("element", vec![list(vec![secret(s("a"))]), n(0.0)]),
            Ok(secret(s("a")))
        );
        assert_eq!(call_fn("upper", vec![s("a")]), Ok(s("A")));
    }

    #[test]
    fn errors_do_not_reveal_sensitive_arguments() {
        let hidden = |name: &str| {
            format!(
                "{name}: invalid arguments (details hidden because they include a sensitive value)"
            )
        };
        // The plain error quotes the value...
        assert_eq!(
            call_fn("tonumber", vec![s("hunter2")]).unwrap_err().message,
            "tonumber: cannot convert \"hunter2\" to a number"
        );
        // ...so for a sensitive one the message is replaced, keeping the argument index.
        assert_eq!(
            call_fn("tonumber", vec![secret(s("hunter2"))]),
            Err(fail(Some(0), hidden("tonumber")))
        );
        // Escaped forms are caught too.
        assert_eq!(
            call_fn("cidrhost", vec![secret(s("a\"b")), n(1.0)])
                .unwrap_err()
                .message,
            hidden("cidrhost")
        );
        assert_eq!(
            call_fn(
                "lookup",
                vec![secret(Value::map([("private", n(1.0))])), s("other")]
            ),
            Err(fail(Some(1), hidden("lookup")))
        );
        // A short secret can hide an error that merely contains it: hiding too much is safe.
        assert_eq!(
            call_fn("lookup", vec![secret(Value::map([("k", n(1.0))])), s("k2")]),
            Err(fail(Some(1), hidden("lookup")))
        );
        assert_eq!(
            call_fn("format", vec![s("%d"), list(vec![secret(s("pw"))])]).unwrap_err(),
            fail(Some(1), hidden("format"))
        );
        // Any failure with a sensitive argument hides its details: a message may quote a value
        // derived from the secret, which no check for the secret's own text would catch.
        assert_eq!(
            call_fn("join", vec![s(","), secret(n(7.0))]),
            Err(fail(Some(1), hidden("join")))
        );
    }

    #[test]
    fn argument_helpers_convert_like_terraform() {
        assert_eq!(string_arg("f", &[n(3.0)], 0), Ok("3".to_string()));
        assert_eq!(
            string_arg("f", &[Value::Bool(true)], 0),
            Ok("true".to_string())
        );
        assert_eq!(
            string_arg("f", &[Value::Null], 0),
            Err(fail(Some(0), "f: argument 1 must be a string, got null"))
        );
        assert_eq!(number_arg("f", &[s(" 2.5")], 0), Ok(2.5));
        assert_eq!(
            number_arg("f", &[s("x")], 0),
            Err(fail(Some(0), "f: argument 1 must be a number, got \"x\""))
        );
        assert!(number_arg("f", &[n(f64::NAN)], 0).is_err());
        assert!(number_arg("f", &[n(f64::INFINITY)], 0).is_err());
        assert_eq!(
            integer_arg("f", &[n(1.5)], 0),
            Err(fail(
                Some(0),
                "f: argument 1 must be a whole number, got 1.5"
            ))
        );
        assert!(integer_arg("f", &[n(1e300)], 0).is_err());
        assert_eq!(integer_arg("f", &[n(-7.0)], 0), Ok(-7));
        assert_eq!(
            strings_arg("f", &[list(vec![s("a"), list(vec![])])], 0),
            Err(fail(
                Some(0),
                "f: argument 1 must be a list of strings, element 1 is list"
            ))
        );
    }
}
