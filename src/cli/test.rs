//! `hive test`: runs the configuration's test files and reports each run; exit 0 only when
//! every run passed and every teardown finished.

use super::json_stream::JsonStream;
use super::progress::Progress;
use super::{Context, VarArgs};
use crate::ops::test::{test, TestEvent, TestOptions};
use crate::render::test_report as report;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    vars: VarArgs,
    /// Run only this test file (repeatable): its name, as `tests/x.hivetest.hcl`.
    #[arg(long = "filter", value_name = "FILE")]
    filter: Vec<String>,
    /// Write the results as JUnit XML to FILE.
    #[arg(long = "junit-xml", value_name = "FILE")]
    junit_xml: Option<std::path::PathBuf>,
    /// Print line-delimited JSON events instead of text.
    #[arg(long)]
    json: bool,
    /// At most this many steps at once.
    #[arg(long, value_name = "N")]
    parallelism: Option<usize>,
}

/// Sets `stop` on Ctrl-C or SIGTERM, from a thread of its own, for the whole command: the
/// run going on stops (the engine hears the signal too) and the teardown still happens.
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the signal listener: {e}"))?;
    let (mut term, mut int) = {
        let _in = runtime.enter();
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).map_err(|e| format!("listening for SIGTERM: {e}"))?,
            signal(SignalKind::interrupt()).map_err(|e| format!("listening for SIGINT: {e}"))?,
        )
    };
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                stop.store(true, Ordering::SeqCst);
            }
        });
    });
    Ok(())
}

pub fn run(ctx: &Context, args: &Args) -> u8 {
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = stop_on_signals(stop.clone()) {
        eprintln!("Error: {e}");
        return 1;
    }
    let json = match JsonStream::open(args.json, None) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let options = TestOptions {
        filter: args.filter.clone(),
        vars: args.vars.options(),
        parallelism: args.parallelism,
        stop: stop.clone(),
    };
    let text = !json.on_stdout();
    let mut steps = Progress::new(&json);
    let mut tell = |event: TestEvent<'_>| match event {
        TestEvent::FileStarted(file) if text => println!("{file}..."),
        TestEvent::RunFinished(file, outcome) => {
            if text {
                println!("{}", report::run_line(outcome));
            }
            json.line(&report::run_event(file, outcome));
        }
        TestEvent::TeardownFinished(file, t) => {
            if text {
                println!("{}", report::teardown_line(t));
            }
            json.line(&report::teardown_event(file, t));
        }
        _ => {}
    };
    let tested = test(&ctx.dir, &ctx.registry, &options, &mut steps, &mut tell);
    ctx.print_diagnostics(&tested.diagnostics, &tested.sources);
    if let Some(path) = &args.junit_xml {
        if let Err(e) = std::fs::write(path, report::junit(&tested.files)) {
            eprintln!("Error: writing -junit-xml {}: {e}", path.display());
            return 1;
        }
    }
    if tested.diagnostics.has_errors() {
        return 1;
    }
    if text {
        println!("\n{}", report::summary(&tested.files));
    }
    json.line(&report::summary_event(&tested.files));
    if stop.load(Ordering::SeqCst) {
        return 130;
    }
    u8::from(!tested.files.iter().all(|f| f.passed()))
}
