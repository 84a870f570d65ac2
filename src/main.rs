use std::process::ExitCode;

/// The stack for the command thread: evaluation recurses over expressions, whose depth the
/// parser already limits; this leaves a wide margin.
const STACK_SIZE: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`hive show | head`) instead of failing on every write after that.
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let worker = std::thread::Builder::new()
        .name("hive".into())
        .stack_size(STACK_SIZE)
        .spawn(hive::cli::main);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("hive: internal error (see above)");
            ExitCode::from(1)
        }
    }
}
