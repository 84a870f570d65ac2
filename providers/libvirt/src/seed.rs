//! NoCloud seed ISOs (volume label `cidata`): `meta-data`, `user-data` and optionally
//! `network-config`, as cloud-init reads them.
//!
//! The user data is hive's merge of its own settings and the user's (see
//! [`hive_sdk::cloud_init`]). An ISO is named after a digest of its
//! content: an edit makes a new file and never overwrites one a running guest uses.

use crate::pool::{self, Pool};
use crate::sha256_hex;
use hive_sdk::cloud_init::{yaml_str, UserData};
use hive_sdk::provider::ProviderError;
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seed {
    pub instance_id: String,
    /// Hostname, keys and the user's data.
    pub cloud: UserData,
    pub network_config: Option<String>,
}

impl Seed {
    pub fn meta_data(&self) -> String {
        format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            yaml_str(&self.instance_id),
            yaml_str(&self.cloud.hostname)
        )
    }

    pub fn user_data(&self) -> String {
        self.cloud.render()
    }

    /// The files of the ISO, in order.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let mut files = vec![
            ("meta-data", self.meta_data()),
            ("user-data", self.user_data()),
        ];
        if let Some(n) = &self.network_config {
            files.push(("network-config", n.clone()));
        }
        files
    }

    pub fn digest(&self) -> String {
        let mut all = Vec::new();
        for (name, content) in self.files() {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(content.as_bytes());
            all.push(0);
        }
        sha256_hex(&all)
    }

    /// The seed's name in the pool for a domain.
    pub fn volume_name(&self, domain: &str) -> String {
        format!("{domain}-seed-{}.iso", &self.digest()[..12])
    }

    /// Writes the ISO into the pool (unless that content is already there); returns its path.
    pub fn write(&self, pool: &Pool<'_>, domain: &str) -> Result<PathBuf, ProviderError> {
        let name = self.volume_name(domain);
        if pool.exists(&name) {
            return Ok(pool.path_of(&name));
        }
        let iso = self.build_iso()?;
        pool.adopt_file(&iso, &name)
    }

    fn build_iso(&self) -> Result<PathBuf, ProviderError> {
        let dir = pool::temp_path("seed")?;
        let fail = |what: &str, e: std::io::Error| {
            ProviderError::new(format!("building the seed ISO ({what}): {e}"))
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail("directory", e))?;
        for (name, content) in self.files() {
            std::fs::write(dir.join(name), content).map_err(|e| fail(name, e))?;
        }
        let iso = dir.with_extension("iso");
        let output = Command::new("genisoimage")
            .arg("-quiet")
            .args(["-output"])
            .arg(&iso)
            .args(["-volid", "cidata", "-joliet", "-rock"])
            .arg(&dir)
            .output()
            .map_err(|e| fail("running genisoimage; is it installed?", e))?;
        let _ = std::fs::remove_dir_all(&dir);
        if !output.status.success() {
            let _ = std::fs::remove_file(&iso);
            return Err(ProviderError::new(format!(
                "building the seed ISO: genisoimage failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(iso)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed {
            instance_id: "node-0".into(),
            cloud: UserData {
                hostname: "demo-0".into(),
                ssh_keys: vec!["ssh-ed25519 AAAA hive".into()],
                user_data: None,
                files: Vec::new(),
            },
            network_config: None,
        }
    }

    #[test]
    fn plain_seed_is_one_cloud_config() {
        let s = seed();
        assert!(s.user_data().starts_with("#cloud-config\n"));
        assert!(s.user_data().contains("  - \"ssh-ed25519 AAAA hive\""));
        assert!(s.meta_data().contains("local-hostname: \"demo-0\""));
    }

    #[test]
    fn user_data_is_a_second_part_that_merges() {
        let mut s = seed();
        s.cloud.user_data = Some("#cloud-config\nruncmd: [touch /x]\n".into());
        let ud = s.user_data();
        assert!(ud.starts_with("Content-Type: multipart/mixed"));
        assert!(ud.contains("Merge-Type: list(append)"));
        assert!(ud.contains("runcmd: [touch /x]"));
        s.cloud.user_data = Some("#!/bin/sh\necho hi\n".into());
        assert!(s.user_data().contains("text/x-shellscript"));
    }

    #[test]
    fn names_follow_content() {
        let a = seed();
        let mut b = seed();
        assert_eq!(a.volume_name("n"), b.volume_name("n"));
        b.cloud.user_data = Some("#cloud-config\n{}\n".into());
        assert_ne!(a.volume_name("n"), b.volume_name("n"));
        assert!(a.volume_name("n").starts_with("n-seed-"));
    }
}
