use std::process::ExitCode;

/// The stack for the command thread: evaluation recurses over expressions, whose depth the
/// parser already limits; this leaves a wide margin.
const STACK_SIZE: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
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
