//! Random identifiers from the kernel. There is no fallback: an identifier that is not random
//! (all zeros when `/dev/urandom` cannot be read) would tag two states' objects alike.

use std::io::Read;

/// `bytes` random bytes as hex (twice as many digits).
pub fn hex_id(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading /dev/urandom: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hex_of_the_asked_length_and_differ() {
        let a = super::hex_id(16).unwrap();
        let b = super::hex_id(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
