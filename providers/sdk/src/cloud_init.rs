//! The cloud-init user data hive gives a guest.
//!
//! hive's own settings (hostname, SSH keys, including hive's key for `hive ssh` and
//! `wait_for = "ssh"`) form one `#cloud-config` part; the user's `user_data` is a second part
//! of a MIME multipart message, with a merge type that appends lists and merges maps, so both
//! sets of keys and every setting survive.

use crate::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserData {
    pub hostname: String,
    pub ssh_keys: Vec<String>,
    /// The configuration's `cloud_init.user_data`.
    pub user_data: Option<String>,
    /// Files hive's part writes, (path, content): a driver's tag where its backend keeps no
    /// metadata of its own.
    pub files: Vec<(String, String)>,
}

const BOUNDARY: &str = "==hive-seed-boundary==";

/// Quotes a string for YAML (a double-quoted scalar).
pub fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl UserData {
    /// From an instance's `cloud_init` block: its hostname (else `default_hostname`), its
    /// keys plus hive's own `hive_key`, its `user_data`.
    pub fn from_config(cloud: Option<&Value>, default_hostname: &str, hive_key: &str) -> UserData {
        let mut ssh_keys: Vec<String> = cloud
            .and_then(|c| c.attr("ssh_authorized_keys"))
            .and_then(Value::as_items)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        ssh_keys.push(hive_key.to_string());
        UserData {
            hostname: cloud
                .and_then(|c| c.attr_str("hostname"))
                .unwrap_or(default_hostname)
                .to_string(),
            ssh_keys,
            user_data: cloud
                .and_then(|c| c.attr_str("user_data"))
                .map(str::to_string),
            files: Vec::new(),
        }
    }

    fn own_config(&self) -> String {
        let mut c = String::from("#cloud-config\n");
        c.push_str(&format!("hostname: {}\n", yaml_str(&self.hostname)));
        if !self.ssh_keys.is_empty() {
            c.push_str("ssh_authorized_keys:\n");
            for key in &self.ssh_keys {
                c.push_str(&format!("  - {}\n", yaml_str(key.trim())));
            }
        }
        // hive logs in as root (`hive ssh`); Debian's cloud images forbid it by default.
        c.push_str("disable_root: false\n");
        if !self.files.is_empty() {
            c.push_str("write_files:\n");
            for (path, content) in &self.files {
                c.push_str(&format!(
                    "  - path: {}\n    content: {}\n",
                    yaml_str(path),
                    yaml_str(content)
                ));
            }
        }
        c
    }

    /// The user data document.
    pub fn render(&self) -> String {
        let Some(user) = self.user_data.as_deref().filter(|u| !u.trim().is_empty()) else {
            return self.own_config();
        };
        let content_type = if user.starts_with("#cloud-config") {
            "text/cloud-config"
        } else if user.starts_with("#!") {
            "text/x-shellscript"
        } else if user.starts_with("#cloud-boothook") {
            "text/cloud-boothook"
        } else {
            "text/plain"
        };
        let mut m = String::new();
        m.push_str("Content-Type: multipart/mixed; boundary=\"");
        m.push_str(BOUNDARY);
        m.push_str("\"\nMIME-Version: 1.0\n\n");
        m.push_str(&format!(
            "--{BOUNDARY}\nContent-Type: text/cloud-config; charset=\"utf-8\"\n\n"
        ));
        m.push_str(&self.own_config());
        m.push_str(&format!(
            "\n--{BOUNDARY}\nContent-Type: {content_type}; charset=\"utf-8\"\n"
        ));
        if content_type == "text/cloud-config" {
            m.push_str("Merge-Type: list(append)+dict(recurse_array,no_replace)+str()\n");
        }
        m.push('\n');
        m.push_str(user);
        if !user.ends_with('\n') {
            m.push('\n');
        }
        m.push_str(&format!("--{BOUNDARY}--\n"));
        m
    }
}
