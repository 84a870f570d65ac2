//! Progress of an apply as people see it: plain lines a CI log can read
//! (`instance.node[0]: creating...`, `instance.node[0]: created in 12.3s`).

use crate::engine::{Event, Hook, StepKind};
use std::io::Write;

/// Prints events as lines on stdout and counts what was done.
#[derive(Default)]
pub struct Lines {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
}

impl Hook for Lines {
    fn event(&mut self, event: &Event) {
        let line = match event {
            Event::Started { address, kind } => format!("{address}: {}...", kind.words().0),
            Event::Finished {
                address,
                kind,
                elapsed,
            } => {
                match kind {
                    StepKind::Create => self.added += 1,
                    StepKind::Update => self.changed += 1,
                    StepKind::Delete | StepKind::DeleteDeposed => self.destroyed += 1,
                }
                format!(
                    "{address}: {} in {:.1}s",
                    kind.words().1,
                    elapsed.as_secs_f64()
                )
            }
            Event::Failed {
                address,
                kind,
                error,
                elapsed,
            } => format!(
                "{address}: {} failed after {:.1}s: {error}",
                kind.words().0,
                elapsed.as_secs_f64()
            ),
            Event::Skipped {
                address,
                kind,
                because,
            } => format!(
                "{address}: not {} because {because} failed",
                kind.words().1
            ),
            Event::Interrupted { running } => format!(
                "Interrupt received: no new steps start; waiting for {running} running step{} to finish (interrupt again to abandon them)",
                if *running == 1 { "" } else { "s" }
            ),
            Event::Abandoning { running } => format!(
                "Second interrupt: abandoning {running} running step{}; they are recorded as interrupted",
                if *running == 1 { "" } else { "s" }
            ),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}
