//! Progress of an apply as people and programs see it: on a terminal, one live line per
//! running step with its elapsed time (indicatif); otherwise plain lines a CI log can read
//! (`instance.node[0]: creating...`, `instance.node[0]: created in 12.3s`); with `-json`, one
//! JSON event per line instead, and with `-json-into FILE` both.

use super::json_stream::JsonStream;
use crate::engine::{Event, Hook, StepKind};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

pub enum Mode {
    Lines,
    /// No text: standard output is JSON.
    Quiet,
    Bars(MultiProgress),
}

/// Shows events and counts what was done.
pub struct Progress<'j> {
    mode: Mode,
    json: &'j JsonStream,
    bars: HashMap<String, ProgressBar>,
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
}

impl Progress<'_> {
    pub fn new(json: &JsonStream) -> Progress<'_> {
        use std::io::IsTerminal;
        let mode = if json.on_stdout() {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::new())
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            json,
            bars: HashMap::new(),
            added: 0,
            changed: 0,
            destroyed: 0,
        }
    }

    fn say(&self, line: &str) {
        match &self.mode {
            Mode::Bars(multi) => {
                let _ = multi.println(line);
            }
            _ => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
        }
    }
}

impl Hook for Progress<'_> {
    fn event(&mut self, event: &Event) {
        if let Event::Finished { kind, .. } = event {
            match kind {
                StepKind::Create => self.added += 1,
                StepKind::Update => self.changed += 1,
                StepKind::Delete | StepKind::DeleteDeposed => self.destroyed += 1,
            }
        }
        if self.json.is_on() {
            self.json.line(&crate::render::events::event(event));
        }
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => self.say(&crate::render::events::describe(event)),
            Mode::Bars(multi) => match event {
                Event::Started { address, kind } => {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(format!("{address}: {}", kind.words().0));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    self.bars.insert(address.clone(), bar);
                }
                Event::Finished { address, .. } | Event::Failed { address, .. } => {
                    if let Some(bar) = self.bars.remove(address) {
                        bar.finish_and_clear();
                        multi.remove(&bar);
                    }
                    self.say(&crate::render::events::describe(event));
                }
                Event::Progress { address, message } => match self.bars.get(address) {
                    Some(bar) => bar.set_message(format!("{address}: {message}")),
                    None => self.say(&crate::render::events::describe(event)),
                },
                _ => self.say(&crate::render::events::describe(event)),
            },
        }
    }
}
