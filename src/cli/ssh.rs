//! `hive ssh ADDR [-- CMD...]`: runs the system's `ssh` with the address, user and key hive
//! knows. It replaces hive's process, so terminals, exit codes and signals are ssh's own.

use super::inspect::read_state;
use super::Context;
use crate::ops::ssh::Login;
use std::os::unix::process::CommandExt;
use std::process::Command;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The instance, as in the state: instance.node[0].
    address: String,
    /// A command to run instead of a login shell (after --).
    #[arg(last = true)]
    command: Vec<String>,
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let login = match read_state(ctx).and_then(|s| {
        let state = s.ok_or_else(|| "no state yet: nothing has been applied here".to_string())?;
        crate::ops::ssh::login(&state, &args.address)
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let (ip, user, key, announce) = match login {
        Login::Ssh {
            ip,
            user,
            key,
            announce,
        } => (ip, user, key, announce),
        Login::LxdExec { name, lxd_dir, why } => {
            eprintln!("hive: {}: {why}; using LXD exec", args.address);
            let mut lxc = Command::new("lxc");
            if let Some(dir) = lxd_dir {
                lxc.env("LXD_DIR", dir);
            }
            // `local:`: the daemon on this machine, whatever lxc's default remote is.
            lxc.args(["exec", &format!("local:{name}"), "--"]);
            if args.command.is_empty() {
                lxc.args(["sh", "-l"]);
            } else {
                lxc.args(&args.command);
            }
            let e = lxc.exec();
            eprintln!("Error: running lxc (package lxd-client): {e}");
            return 1;
        }
    };
    if announce {
        eprintln!("hive: {}: over SSH ({ip})", args.address);
    }
    let mut ssh = Command::new("ssh");
    ssh.arg("-i")
        .arg(&key)
        // Guests are made and remade at will: their host keys are new each time.
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes"])
        .arg(format!("{user}@{ip}"));
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    let e = ssh.exec();
    eprintln!("Error: running ssh (package openssh-client): {e}");
    1
}
