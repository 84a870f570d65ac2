//! The SSH key pair hive logs into guests with: one per state (lineage), made on first use.
//! Providers put its public half into guests; `hive ssh` and `wait_for = "ssh"` use the
//! private half. It lives under hive's data directory, never in the configuration.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// hive's data directory: `HIVE_DATA_DIR`, else `$XDG_DATA_HOME/hive`, else
/// `~/.local/share/hive`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HIVE_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("hive");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".local/share/hive")
}

/// Where the private key of a state's pair is.
pub fn private_key_path(lineage: &str) -> PathBuf {
    let safe: String = lineage
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    data_dir().join("keys").join(safe).join("id_ed25519")
}

/// The key pair of a state, made with `ssh-keygen` if it does not exist yet. Returns the
/// private key's path and the public key's text.
pub fn ensure(lineage: &str) -> Result<(PathBuf, String), String> {
    // Instances are created in parallel: one maker at a time in this process, and an atomic
    // rename into place for other processes.
    static MAKING: Mutex<()> = Mutex::new(());
    let _guard = MAKING
        .lock()
        .map_err(|_| "key maker poisoned".to_string())?;
    let private = private_key_path(lineage);
    let public = private.with_extension("pub");
    if !private.exists() || !public.exists() {
        let dir = private.parent().unwrap_or(&private).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let temp = dir.join(format!("new-{}", std::process::id()));
        let temp_pub = temp.with_extension("pub");
        let _ = std::fs::remove_file(&temp);
        let _ = std::fs::remove_file(&temp_pub);
        let short: String = lineage.chars().take(8).collect();
        let output = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("hive-{short}"))
            .arg("-f")
            .arg(&temp)
            .output()
            .map_err(|e| format!("running ssh-keygen (package openssh-client): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "ssh-keygen failed: {}{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                String::from_utf8_lossy(&output.stdout).trim()
            ));
        }
        // The public half first: a private key without it is never taken as complete.
        std::fs::rename(&temp_pub, &public)
            .and_then(|()| std::fs::rename(&temp, &private))
            .map_err(|e| format!("placing hive's key in {}: {e}", dir.display()))?;
    }
    let text = std::fs::read_to_string(&public)
        .map_err(|e| format!("reading {}: {e}", public.display()))?;
    Ok((private, text.trim().to_string()))
}
