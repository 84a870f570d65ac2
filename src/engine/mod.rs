//! The engine: executes a plan through the providers, recording every step in the state.
//!
//! # Layout
//! - [`steps`]: the plan's changes as steps, and their order.
//! - [`apply`]: the walk: scheduling under the caps, signals, failures.
//! - `evaluate`: each step's configuration, evaluated when it starts; the outputs at the end.
//! - `record`: each intent and result, in the state backend's recorder.
//! - [`registry`]: the compiled-in providers; [`hosts`]: the `host` kind.
//! - [`parallel`]: many blocking calls at once under caps (refresh).
//!
//! It never prints: progress reaches the CLI as [`Event`]s through a [`Hook`].

pub mod apply;
pub mod call_log;
pub mod evaluate;
pub mod hosts;
pub mod parallel;
mod record;
pub mod registry;
pub mod steps;

use std::time::Duration;

/// What a step does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Create,
    Update,
    Delete,
    /// Destroying the old object of a create-before-destroy replacement.
    DeleteDeposed,
}

impl StepKind {
    /// (doing, done): `creating` / `created`...
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            StepKind::Create => ("creating", "created"),
            StepKind::Update => ("updating", "updated"),
            StepKind::Delete => ("destroying", "destroyed"),
            StepKind::DeleteDeposed => (
                "destroying the replaced object",
                "destroyed the replaced object",
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Started {
        address: String,
        kind: StepKind,
    },
    Finished {
        address: String,
        kind: StepKind,
        elapsed: Duration,
    },
    Failed {
        address: String,
        kind: StepKind,
        error: String,
        elapsed: Duration,
    },
    /// Not attempted because something it depends on failed.
    Skipped {
        address: String,
        kind: StepKind,
        because: String,
    },
    /// What a running step is doing, in the provider's words.
    Progress {
        address: String,
        message: String,
    },
    /// The first interrupt: no new steps start.
    Interrupted {
        running: usize,
    },
    /// The second interrupt: running steps are told to give up.
    Abandoning {
        running: usize,
    },
}

pub trait Hook {
    fn event(&mut self, event: &Event);
}

/// A hook that ignores everything (for tests and JSON-less library use).
pub struct Silent;

impl Hook for Silent {
    fn event(&mut self, _: &Event) {}
}
