//! Recording an apply's steps: each intent before its backend call, each result after, in the
//! state backend's recorder and in the state in memory. Secrets keep their marks: what the
//! configuration marked sensitive stays so in what a backend returns, and a backend's answer
//! that repeats a secret is marked as a whole.

use crate::config::Catalog;
use crate::plan::Change;
use hive_sdk::value::tagged;
use hive_sdk::Value;
use hive_state::journal::Entry;
use hive_state::{ObjectAddr, Recorder, ResourceState, State, StateError, Status};
use std::sync::Arc;

pub struct Recording {
    recorder: Box<dyn Recorder>,
    pub state: State,
    /// The texts of sensitive values: never shown in an error, marked wherever a backend's
    /// answer repeats them.
    pub secrets: Vec<String>,
    /// The kinds' schemas: what is never recorded is left out of what is.
    catalog: Arc<Catalog>,
}

impl Recording {
    pub fn new(
        recorder: Box<dyn Recorder>,
        state: State,
        mut secrets: Vec<String>,
        catalog: Arc<Catalog>,
    ) -> Recording {
        secrets.sort();
        secrets.dedup();
        Recording {
            recorder,
            state,
            secrets,
            catalog,
        }
    }

    /// Records one change.
    pub fn record(&mut self, entry: Entry) -> Result<(), StateError> {
        let serial = self.recorder.append(&entry)?;
        entry.apply(&mut self.state);
        self.state.serial = serial;
        Ok(())
    }

    /// Everything recorded so far made durable.
    pub fn sync(&mut self) -> Result<(), StateError> {
        self.recorder.sync()
    }

    /// Room for the results of `steps` running steps.
    pub fn reserve(&mut self, steps: usize) -> Result<(), StateError> {
        self.recorder.reserve(steps)
    }

    /// The intent to create `change`'s object with `config`: a crash from here on leaves a
    /// record to act on.
    pub fn intent(&mut self, change: &Change, config: &Value) -> Result<(), StateError> {
        self.record(Entry::Put {
            resource: record_of(change, None, &self.kept(change, config), Status::Creating),
        })
    }

    /// Keeps the current object of a create-before-destroy replacement aside as deposed,
    /// told apart by its id (or the serial, for one without); returns where it went.
    pub fn depose(&mut self, change: &Change) -> Result<Option<ObjectAddr>, StateError> {
        let Some(old) = self.state.resource(&change.address).cloned() else {
            return Ok(None);
        };
        let id = old
            .id
            .clone()
            .unwrap_or_else(|| self.state.serial.to_string());
        let key: String = id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let deposed = ResourceState {
            deposed: Some(key),
            ..old
        };
        let object = deposed.object();
        self.record(Entry::Put { resource: deposed })?;
        Ok(Some(object))
    }

    /// The object as the backend made it; returns its attributes, marked as the plan
    /// marked them.
    pub fn created(
        &mut self,
        change: &Change,
        attributes: Value,
        id: String,
    ) -> Result<Value, StateError> {
        let marks = change.after.clone().unwrap_or(Value::Null);
        let value = remark(attributes.mark_strings_containing(&self.secrets), &marks);
        self.record(Entry::Put {
            resource: record_of(change, Some(id), &self.kept(change, &value), Status::Ready),
        })?;
        Ok(value)
    }

    /// What of `value` may be kept: attributes the schema says are never recorded (and those
    /// of the resources it refers to) are left out.
    fn kept(&self, change: &Change, value: &Value) -> Value {
        let catalog = &self.catalog;
        match catalog.kind(&change.kind) {
            Some(info) => info.schema.without_unrecorded(value.clone(), &|kind| {
                catalog.kind(kind).map(|k| k.schema.clone())
            }),
            None => value.clone(),
        }
    }

    pub fn removed(&mut self, object: &ObjectAddr) -> Result<(), StateError> {
        self.record(Entry::remove(object))
    }

    /// A step on the object failed after its backend call began: the next apply replaces it.
    pub fn taint(&mut self, change: &Change) -> Result<(), StateError> {
        if let Some(mut record) = self.state.resource(&change.address).cloned() {
            record.status = Status::Tainted;
            self.record(Entry::Put { resource: record })?;
        }
        Ok(())
    }

    pub fn into_state(self) -> State {
        self.state
    }
}

/// The record of `change`'s current object.
fn record_of(
    change: &Change,
    id: Option<String>,
    attributes: &Value,
    status: Status,
) -> ResourceState {
    ResourceState {
        address: change.address.clone(),
        deposed: None,
        kind: change.kind.clone(),
        driver: change.driver.clone(),
        id,
        attributes: tagged::to_json(attributes),
        dependencies: change.dependencies.clone(),
        status,
    }
}

/// Puts back the sensitive marks the plan had on the backend's answer, at the same places, so
/// secrets stay secret in the state and in every output while their neighbours stay readable.
fn remark(state: Value, marks: &Value) -> Value {
    match (state, marks) {
        (state, Value::Sensitive(_)) => state.mark_sensitive_if(true),
        (Value::Map(mut entries), Value::Map(marked)) => {
            for (k, v) in entries.iter_mut() {
                if let Some(m) = marked.get(k) {
                    *v = remark(std::mem::take(v), m);
                }
            }
            Value::Map(entries)
        }
        (Value::List(items), Value::List(marked)) if items.len() == marked.len() => Value::List(
            items
                .into_iter()
                .zip(marked)
                .map(|(v, m)| remark(v, m))
                .collect(),
        ),
        (state, _) => state,
    }
}
