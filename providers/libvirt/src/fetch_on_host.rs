//! Images from an `http(s)://` URL for a remote host: fetched there, by the host's own
//! `curl`, instead of through this machine and then copied. A fetch cut short is resumed
//! by the next run (the partial file is named after the URL); the result is checked against
//! `sha256` before it enters the pool under its digest.

use crate::host::Site;
use crate::pool;
use hive_sdk::exec::Exec;
use hive_sdk::provider::{ApplyRequest, ProviderError};

/// The cached path of `source` on a remote host, fetched there; `None` when this is not a
/// remote host, not a URL, or the host has no curl (hive then fetches and copies it).
pub fn fetch(
    site: &Site,
    request: &ApplyRequest<'_>,
    source: &str,
    expected: Option<&str>,
    what: &str,
) -> Result<Option<String>, ProviderError> {
    let Some(ssh) = &site.ssh else {
        return Ok(None);
    };
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return Ok(None);
    }
    let has_curl = ssh
        .run(&["sh", "-c", "command -v curl"], None)
        .is_ok_and(|o| o.success());
    if !has_curl {
        return Ok(None);
    }
    let tmp = site.data_dir.join("tmp");
    let part = tmp.join(format!(
        ".{what}-url-{}.part",
        &crate::sha256_hex(source.as_bytes())[..16]
    ));
    site.files
        .create_dir_all(&tmp)
        .map_err(ProviderError::new)?;
    // Two steps fetching the same URL take turns on its partial file.
    let arriving = site.arriving(&part.to_string_lossy());
    let _turn = arriving.lock().unwrap_or_else(|e| e.into_inner());
    (request.progress)(&format!("fetching {source} on the host"));
    let part_text = part.to_string_lossy();
    let curl = |resume: bool| {
        let mut argv = vec![
            "curl",
            "-fsSL",
            "--connect-timeout",
            "30",
            // A server that stops sending for a minute fails the fetch.
            "--speed-limit",
            "1",
            "--speed-time",
            "60",
        ];
        if resume {
            argv.extend(["-C", "-"]);
        }
        argv.extend(["-o", &part_text, "--", source]);
        ssh.run_within(&argv, None, None)
    };
    let mut out = curl(true).map_err(ProviderError::new)?;
    if !out.success() {
        // A server that cannot resume (or a partial file it disowns): start over, once.
        let _ = site.files.remove(&part);
        out = curl(false).map_err(ProviderError::new)?;
    }
    if !out.success() {
        let _ = site.files.remove(&part);
        return Err(ProviderError::new(format!(
            "fetching {source} on the host: curl failed (exit {}): {}",
            out.status,
            out.stderr.trim()
        )));
    }
    let digest = site.files.sha256(&part).map_err(ProviderError::new)?;
    if let Some(sum) = expected {
        if !sum.eq_ignore_ascii_case(&digest) {
            let _ = site.files.remove(&part);
            return Err(ProviderError::new(format!(
                "{source}: sha256 mismatch: expected {}, got {digest}",
                sum.to_lowercase()
            )));
        }
    }
    let name = format!("{what}-{digest}");
    let pool = pool::open(site)?;
    if pool.exists(&name) {
        let _ = site.files.remove(&part);
    } else {
        site.files
            .rename(&part, &pool.path_of(&name))
            .map_err(ProviderError::new)?;
        pool.refresh()?;
    }
    Ok(Some(pool.path_of(&name).to_string_lossy().into_owned()))
}
