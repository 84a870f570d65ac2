//! The state's instances as files other tools read: an Ansible inventory (`hive output
//! -format ansible`) and an OpenSSH client configuration (`-format ssh-config`, for `ssh -F`).
//! Both log in as `hive ssh` does: hive's key, the guest's ever-new host key not checked, and
//! through the remote host for a guest on its private bridge.

use crate::ops::ssh::{proxy_command, Node, GUEST_SSH_OPTIONS};
use hive_sdk::provider::{Jump, Login};
use hive_sdk::ssh::shell_quote;

/// What an inventory says of an instance it cannot log into over SSH.
fn left_out(node: &Node) -> Option<String> {
    match &node.login {
        Ok(Login::Ssh { .. }) => None,
        Ok(Login::Exec { why, .. }) => Some(format!("{}: not over SSH: {why}", node.address)),
        Err(e) => Some(format!("{}: {e}", node.address)),
    }
}

/// How SSH gets into a node: (address, user, key, jump), when it does.
fn ssh_of(node: &Node) -> Option<(&str, &str, &std::path::Path, Option<&Jump>)> {
    match &node.login {
        Ok(Login::Ssh {
            ip,
            user,
            key,
            jump,
            ..
        }) => Some((ip, user, key, jump.as_ref())),
        _ => None,
    }
}

/// Instances that inventories leave out, and why: for the command to say on standard error.
pub fn unreachable(nodes: &[Node]) -> Vec<String> {
    nodes.iter().filter_map(left_out).collect()
}

/// A YAML scalar that stays a string whatever it holds.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// An Ansible inventory in YAML: a group per resource, each instance under its name with
/// `ansible_host`, `ansible_user`, `ansible_ssh_private_key_file`, the SSH options (and the
/// jump through its host), and `hive_address`.
pub fn ansible(nodes: &[Node]) -> String {
    let mut out = String::from(
        "# hive's instances, made by `hive output -format ansible`\nall:\n  children:\n",
    );
    let mut groups: Vec<&str> = nodes.iter().map(|n| n.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    for group in groups {
        out.push_str(&format!("    {}:\n      hosts:\n", quoted(group)));
        for node in nodes.iter().filter(|n| n.group == group) {
            let Some((ip, user, key, jump)) = ssh_of(node) else {
                continue;
            };
            let mut options: Vec<String> = GUEST_SSH_OPTIONS
                .iter()
                .map(|(k, v)| format!("-o {k}={v}"))
                .collect();
            if let Some(j) = jump {
                options.push(format!(
                    "-o ProxyCommand={}",
                    shell_quote(&proxy_command(j))
                ));
            }
            out.push_str(&format!("        {}:\n", quoted(&node.name)));
            for (k, v) in [
                ("ansible_host", ip.to_string()),
                ("ansible_user", user.to_string()),
                ("ansible_ssh_private_key_file", key.display().to_string()),
                ("ansible_ssh_common_args", options.join(" ")),
                ("hive_address", node.address.to_string()),
            ] {
                out.push_str(&format!("          {k}: {}\n", quoted(&v)));
            }
        }
    }
    out
}

/// An OpenSSH client configuration: a `Host` per instance, by its name.
pub fn ssh_config(nodes: &[Node]) -> String {
    let mut out = String::from(
        "# hive's instances, made by `hive output -format ssh-config`: ssh -F FILE NAME\n",
    );
    for node in nodes {
        let Some((ip, user, key, jump)) = ssh_of(node) else {
            continue;
        };
        out.push_str(&format!("\n# {}\nHost {}\n", node.address, node.name));
        out.push_str(&format!("  HostName {ip}\n  User {user}\n"));
        out.push_str(&format!("  IdentityFile \"{}\"\n", key.display()));
        for (k, v) in GUEST_SSH_OPTIONS {
            out.push_str(&format!("  {k} {v}\n"));
        }
        if let Some(j) = jump {
            out.push_str(&format!("  ProxyCommand {}\n", proxy_command(j)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn node(name: &str, index: usize, jump: Option<Jump>) -> Node {
        Node {
            address: format!("instance.{name}[{index}]")
                .parse()
                .expect("address"),
            group: name.to_string(),
            name: format!("{name}-{index}"),
            login: Ok(Login::Ssh {
                ip: format!("10.0.0.{}", 10 + index),
                user: "root".into(),
                key: PathBuf::from("/keys/id_ed25519"),
                announce: false,
                jump,
            }),
        }
    }

    #[test]
    fn inventories_group_by_resource_and_jump_through_the_host() {
        let jump = Jump {
            user: "root".into(),
            address: "10.231.0.11".into(),
            port: 22,
            key: Some(PathBuf::from("/lab/key")),
            known_hosts: PathBuf::from("/kh/10.231.0.11_22"),
        };
        let nodes = vec![
            node("web", 0, None),
            node("web", 1, Some(jump)),
            node("db", 0, None),
        ];
        let yaml = ansible(&nodes);
        assert!(yaml.contains("    \"web\":\n      hosts:\n        \"web-0\":\n          ansible_host: \"10.0.0.10\"\n"), "{yaml}");
        assert!(yaml.contains("    \"db\":\n"), "{yaml}");
        assert!(
            yaml.contains("ProxyCommand='ssh -W %h:%p -p 22 -i /lab/key"),
            "{yaml}"
        );
        let config = ssh_config(&nodes);
        assert!(
            config.contains("Host web-1\n  HostName 10.0.0.11\n  User root\n"),
            "{config}"
        );
        assert!(
            config.contains("  ProxyCommand ssh -W %h:%p -p 22 -i /lab/key"),
            "{config}"
        );
        assert_eq!(config.matches("\nHost ").count(), 3);
        let mut gone = node("web", 2, None);
        gone.login = Err("no ip recorded".into());
        assert_eq!(unreachable(&[gone]), ["instance.web[2]: no ip recorded"]);
    }
}
