//! Running programs on a host: the one door through which command-line backends (`ip`, `nft`,
//! `dnsmasq`) are driven, so the same provider code can run them here or, later, over SSH.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

pub trait Exec: Send + Sync {
    /// Runs `argv` (no shell), feeding `stdin` when given. `Err` only when the program could
    /// not run at all; a non-zero exit is an `ExecOutput` for the caller to judge.
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<ExecOutput, String>;

    /// Runs `argv` and insists on success: the error quotes the command and its stderr.
    fn check(&self, argv: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let out = self.run(argv, stdin)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "`{}` failed (exit {}): {}",
                argv.join(" "),
                out.status,
                out.stderr.trim()
            ))
        }
    }
}

/// This machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExec;

impl Exec for LocalExec {
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<ExecOutput, String> {
        let (program, args) = argv.split_first().ok_or("nothing to run")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {program}: {e}"))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|e| format!("writing to {program}: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("waiting for {program}: {e}"))?;
        Ok(ExecOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_programs_with_input_and_reports_failures() {
        let out = LocalExec.run(&["cat"], Some("hello")).expect("cat runs");
        assert_eq!(out.stdout, "hello");
        let e = LocalExec
            .check(&["sh", "-c", "echo broken >&2; exit 3"], None)
            .expect_err("fails");
        assert!(e.contains("exit 3") && e.contains("broken"), "{e}");
        assert!(LocalExec.run(&["/nonexistent/program"], None).is_err());
    }
}
