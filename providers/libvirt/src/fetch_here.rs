//! Copying an image's source (a path, `file://` or `http(s)://` URL) onto this machine,
//! hashing what is copied, with progress and cancellation.

use hive_sdk::provider::{Cancel, ProviderError};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Copies `source` to `to`, returning the SHA-256 of what was copied.
pub fn fetch(
    source: &str,
    base: &Path,
    to: &Path,
    progress: &(dyn Fn(&str) + Sync),
    cancel: &Cancel,
) -> Result<String, ProviderError> {
    let mut out = std::fs::File::create(to)
        .map_err(|e| ProviderError::new(format!("creating {}: {e}", to.display())))?;
    let digest = if source.starts_with("http://") || source.starts_with("https://") {
        // A server that stops answering fails the step instead of hanging it.
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(30))
            .timeout_read(std::time::Duration::from_secs(60))
            .build();
        let response = agent.get(source).call().map_err(|e| match e {
            ureq::Error::Status(code, r) => ProviderError::new(format!(
                "downloading {source}: the server answered {code} {}",
                r.status_text()
            )),
            ureq::Error::Transport(t) => ProviderError::new(format!(
                "downloading {source}: {}{}",
                t.kind(),
                std::error::Error::source(&t)
                    .map(|cause| format!(": {cause}"))
                    .or_else(|| t.message().map(|m| format!(": {m}")))
                    .unwrap_or_default()
            )),
        })?;
        let total = response
            .header("Content-Length")
            .and_then(|l| l.parse::<u64>().ok());
        let mut meter = Meter::new(source, total, progress, cancel);
        copy_hashing(&mut response.into_reader(), &mut out, &mut meter)
            .map_err(|e| ProviderError::new(format!("downloading {source}: {e}")))?
    } else {
        let path = local_path(source, base);
        let mut input = std::fs::File::open(&path)
            .map_err(|e| ProviderError::new(format!("reading image {}: {e}", path.display())))?;
        let total = input.metadata().ok().map(|m| m.len());
        let mut meter = Meter::new(&path.to_string_lossy(), total, progress, cancel);
        copy_hashing(&mut input, &mut out, &mut meter)
            .map_err(|e| ProviderError::new(format!("copying {}: {e}", path.display())))?
    };
    out.sync_all()
        .map_err(|e| ProviderError::new(format!("writing {}: {e}", to.display())))?;
    Ok(digest)
}

fn local_path(source: &str, base: &Path) -> PathBuf {
    let plain = source.strip_prefix("file://").unwrap_or(source);
    if let Some(rest) = plain.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    base.join(plain)
}

/// Reports a copy's progress at most every few seconds, and never for a short copy.
struct Meter<'a> {
    what: String,
    total: Option<u64>,
    done: u64,
    last: std::time::Instant,
    report: &'a (dyn Fn(&str) + Sync),
    cancel: &'a Cancel,
}

const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl<'a> Meter<'a> {
    fn new(
        what: &str,
        total: Option<u64>,
        report: &'a (dyn Fn(&str) + Sync),
        cancel: &'a Cancel,
    ) -> Meter<'a> {
        Meter {
            what: what.to_string(),
            total,
            done: 0,
            last: std::time::Instant::now(),
            report,
            cancel,
        }
    }

    /// Counts a chunk; an error when the user asked to stop.
    fn advance(&mut self, n: usize) -> std::io::Result<()> {
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        self.done += n as u64;
        if self.last.elapsed() < REPORT_EVERY {
            return Ok(());
        }
        self.last = std::time::Instant::now();
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        let message = match self.total {
            Some(total) if total > 0 => format!(
                "fetching {}: {}% ({:.0} of {:.0} MiB)",
                self.what,
                self.done * 100 / total,
                mib(self.done),
                mib(total)
            ),
            _ => format!("fetching {}: {:.0} MiB", self.what, mib(self.done)),
        };
        (self.report)(&message);
        Ok(())
    }
}

fn copy_hashing(
    input: &mut dyn Read,
    out: &mut dyn Write,
    meter: &mut Meter<'_>,
) -> std::io::Result<String> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        meter.advance(n)?;
    }
    Ok(crate::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_hashes_what_it_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), b"hello").expect("write");
        let to = dir.path().join("b");
        let cancel = Cancel::default();
        let digest = fetch(
            "a",
            dir.path(),
            &to,
            &hive_sdk::provider::no_progress,
            &cancel,
        )
        .expect("fetch");
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let missing = fetch(
            "file:///nonexistent/x",
            dir.path(),
            &to,
            &hive_sdk::provider::no_progress,
            &cancel,
        );
        assert!(missing.is_err_and(|e| e.message.contains("/nonexistent/x")));
    }
}
