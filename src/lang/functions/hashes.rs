//! Digests of strings and files: `md5`, `sha1`, `sha256` (in encoding.rs), `sha512`,
//! `base64sha256`, `base64sha512`, their `file*` forms, `filebase64`, and `uuidv5`.

use super::files::file_bytes;
use super::{fail, string_arg, FnContext, FnError};
use base64::Engine as _;
use hive_sdk::Value;
use sha2::Digest as _;

fn hex(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn md5_of(data: &[u8]) -> Vec<u8> {
    md5::Md5::digest(data).to_vec()
}

fn sha1_of(data: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(data).to_vec()
}

fn sha256_of(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(data).to_vec()
}

fn sha512_of(data: &[u8]) -> Vec<u8> {
    sha2::Sha512::digest(data).to_vec()
}

/// A function of a string argument's UTF-8 bytes.
macro_rules! of_string {
    ($name:ident, $digest:ident, $shape:ident) => {
        pub(super) fn $name(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
            let text = string_arg(stringify!($name), &args, 0)?;
            Ok($shape(&$digest(text.as_bytes())))
        }
    };
}

/// A function of the bytes of the file a path argument names.
macro_rules! of_file {
    ($name:ident, $digest:ident, $shape:ident) => {
        pub(super) fn $name(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
            let bytes = file_bytes(ctx, stringify!($name), &args)?;
            Ok($shape(&$digest(&bytes)))
        }
    };
}

of_string!(md5, md5_of, hex);
of_string!(sha1, sha1_of, hex);
of_string!(sha512, sha512_of, hex);
of_string!(base64sha256, sha256_of, b64);
of_string!(base64sha512, sha512_of, b64);
of_file!(filemd5, md5_of, hex);
of_file!(filesha1, sha1_of, hex);
of_file!(filesha256, sha256_of, hex);
of_file!(filesha512, sha512_of, hex);
of_file!(filebase64sha256, sha256_of, b64);
of_file!(filebase64sha512, sha512_of, b64);

pub(super) fn filebase64(ctx: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    Ok(b64(&file_bytes(ctx, "filebase64", &args)?))
}

/// The namespaces `uuidv5` knows by name (RFC 4122, appendix C).
fn namespace(name: &str) -> Option<[u8; 16]> {
    let text = match name {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
        other => other,
    };
    parse_uuid(text)
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: String = text
        .strip_prefix("urn:uuid:")
        .unwrap_or(text)
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if digits.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `uuidv5(namespace, name)`: the name-based UUID (SHA-1) of `name` in a namespace given by
/// name (`dns`, `url`, `oid`, `x500`) or as a UUID.
pub(super) fn uuidv5(_: &FnContext, args: Vec<Value>) -> Result<Value, FnError> {
    let space = string_arg("uuidv5", &args, 0)?;
    let name = string_arg("uuidv5", &args, 1)?;
    let ns = namespace(&space).ok_or_else(|| {
        fail(
            Some(0),
            format!("uuidv5: {space:?} is not a namespace: use dns, url, oid, x500 or a UUID"),
        )
    })?;
    let mut hasher = sha1::Sha1::new();
    hasher.update(ns);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&digest[..16]);
    u[6] = (u[6] & 0x0f) | 0x50;
    u[8] = (u[8] & 0x3f) | 0x80;
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::String(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call_fn, s};

    #[test]
    fn digests_are_the_usual_ones() {
        assert_eq!(
            call_fn("md5", vec![s("hello world")]),
            Ok(s("5eb63bbbe01eeed093cb22bb8f5acdc3"))
        );
        assert_eq!(
            call_fn("sha1", vec![s("hello world")]),
            Ok(s("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"))
        );
        assert_eq!(
            call_fn("uuidv5", vec![s("dns"), s("www.example.com")]),
            Ok(s("2ed6657d-e927-568b-95e1-2665a8aea6a2"))
        );
        assert!(call_fn("uuidv5", vec![s("nope"), s("x")]).is_err());
    }
}
