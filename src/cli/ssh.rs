//! `hive ssh ADDR [-- CMD...]`: runs the system's `ssh` with the address, user and key hive
//! knows. It replaces hive's process, so terminals, exit codes and signals are ssh's own.

use super::inspect::read_state;
use super::Context;
use hive_sdk::provider::Login;
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
    let Ok(state) = read_state(ctx) else {
        return 1;
    };
    let login = state
        .ok_or_else(|| "no state yet: nothing has been applied here".to_string())
        .and_then(|state| crate::ops::ssh::login(&state, &ctx.registry, &ctx.dir, &args.address));
    let (ip, user, key, announce, jump) = match login {
        Ok(Login::Ssh {
            ip,
            user,
            key,
            announce,
            jump,
        }) => (ip, user, key, announce, jump),
        Ok(Login::Exec {
            program,
            args: exec_args,
            env,
            shell,
            why,
        }) => {
            eprintln!("hive: {}: {why}", args.address);
            let mut command = Command::new(&program);
            command.envs(env).args(exec_args);
            if args.command.is_empty() {
                command.args(shell);
            } else {
                command.args(&args.command);
            }
            let e = command.exec();
            eprintln!("Error: running {program}: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    if announce {
        eprintln!("hive: {}: over SSH ({ip})", args.address);
    }
    if let Some(j) = &jump {
        eprintln!(
            "hive: {}: through host {}@{}:{}",
            args.address, j.user, j.address, j.port
        );
    }
    let mut ssh = crate::ops::ssh::ssh_command(&key, jump.as_ref());
    ssh.arg(format!("{user}@{ip}"));
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    let e = ssh.exec();
    eprintln!("Error: running ssh (package openssh-client): {e}");
    1
}
