//! The walk's failure paths, against the mock provider: plans built by hand, so each test
//! decides the order steps become ready in.

use super::*;
use crate::testing::{registry, Behaviour, Mock};
use hive_sdk::addr::InstanceAddr;
use hive_state::memory::MemoryBackend;
use hive_state::{ResourceState, StateBackend, Status};

fn addr(a: &str) -> InstanceAddr {
    a.parse().unwrap()
}

/// A recorded command on the one host, whose cap is one step at a time.
fn record(a: &str, dependencies: &[&str]) -> ResourceState {
    ResourceState {
        address: addr(a),
        deposed: None,
        kind: "command".into(),
        driver: "local".into(),
        id: Some(format!("id-{a}")),
        attributes: tagged::to_json(&attributes()),
        dependencies: dependencies.iter().map(|d| addr(d)).collect(),
        status: Status::Ready,
    }
}

fn attributes() -> Value {
    Value::map([
        ("input", Value::string("x")),
        (
            "host",
            Value::map([
                ("id", Value::string("local")),
                ("max_parallel", Value::Number(1.0)),
            ]),
        ),
    ])
}

fn change(a: &str, action: Action) -> Change {
    Change {
        address: addr(a),
        deposed: None,
        kind: "command".into(),
        driver: "local".into(),
        action,
        reasons: vec![],
        before: Some(attributes()),
        after: (action != Action::Delete).then(attributes),
        replace_because: vec![],
        dependencies: vec![],
        id: Some(format!("id-{a}")),
    }
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: crate::plan::PLAN_FORMAT_VERSION,
        lineage: Some("l".into()),
        new_lineage: None,
        serial: 0,
        variables: BTreeMap::new(),
        destroy: false,
        changes,
        outputs: BTreeMap::new(),
        prior_outputs: BTreeMap::new(),
        targets: vec![],
        excludes: vec![],
        replace: vec![],
        refresh: true,
        skipped: vec![],
        moved: vec![],
        forgotten: vec![],
        imports: vec![],
    }
}

/// Applies `plan` to `state` without a configuration: creates and updates then fail when
/// their configuration is evaluated, before any provider call.
fn run(mock: &Mock, plan: &Plan, state: State) -> ApplyReport {
    let mut backend = MemoryBackend::new();
    backend.write(&state).unwrap();
    let recorder = backend.recorder(state.serial).unwrap();
    let registry = registry(mock);
    let input = ApplyInput {
        config: None,
        plan,
        registry: &registry,
        state,
        recorder,
        parallelism: 10,
        state_location: String::new(),
    };
    apply(input, &mut crate::engine::Silent).unwrap()
}

#[test]
fn a_step_failing_before_its_provider_call_frees_no_slot_and_taints_nothing() {
    // One step at a time on the host: x1 runs, y fails as it starts (it took no slot), and
    // x2 must still wait for x1.
    let mock = Mock::with(&[
        ("command.x1", Behaviour::Slow),
        ("command.x2", Behaviour::Slow),
    ]);
    let mut state = State::new("l".into());
    for a in ["command.x1", "command.x2", "command.z"] {
        state.put(record(a, &[]));
    }
    let plan = plan(vec![
        change("command.x1", Action::Delete),
        change("command.y", Action::Create),
        change("command.z", Action::Update),
        change("command.x2", Action::Delete),
    ]);
    let report = run(&mock, &plan, state);
    assert_eq!(mock.peak.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(mock.calls(), ["delete command.x1", "delete command.x2"]);
    let failed: Vec<&str> = report.failed.iter().map(|f| f.address.as_str()).collect();
    assert_eq!(failed, ["command.y", "command.z"]);
    assert!(
        report.failed[0].error.contains("no configuration"),
        "{:?}",
        report.failed
    );
    // The update never reached its object: it is not tainted.
    let z = report.state.resource(&addr("command.z")).unwrap();
    assert_eq!(z.status, Status::Ready);
    assert_eq!(report.completed, 2);
}

#[test]
fn a_provider_call_that_panics_fails_its_step_frees_its_slot_and_skips_its_dependants() {
    // `parent` is deleted after `child`, which depends on it; `child`'s delete panics.
    let mock = Mock::with(&[("command.child", Behaviour::Panic)]);
    let mut state = State::new("l".into());
    state.put(record("command.parent", &[]));
    state.put(record("command.child", &["command.parent"]));
    state.put(record("command.other", &[]));
    let plan = plan(vec![
        change("command.child", Action::Delete),
        change("command.other", Action::Delete),
        change("command.parent", Action::Delete),
    ]);
    let report = run(&mock, &plan, state);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let failure = &report.failed[0];
    let error = &failure.error;
    assert_eq!(
        (failure.address.as_str(), failure.doing),
        ("command.child", "destroying")
    );
    assert!(error.contains("panicked: the mock panics"), "{error}");
    assert!(!error.contains("cycle"), "{error}");
    assert_eq!(report.skipped, ["command.parent"]);
    // Its slot was freed: the other step on the host (cap 1) ran.
    assert!(mock.calls().contains(&"delete command.other".to_string()));
    assert!(report.state.resource(&addr("command.other")).is_none());
    assert!(report.state.resource(&addr("command.parent")).is_some());
    assert_eq!(report.not_started, 1);
}

#[test]
fn a_failed_delete_keeps_its_record_and_what_it_waited_for_is_not_attempted() {
    let mock = Mock::with(&[("command.child", Behaviour::Fail)]);
    let mut state = State::new("l".into());
    state.put(record("command.parent", &[]));
    state.put(record("command.child", &["command.parent"]));
    let plan = plan(vec![
        change("command.child", Action::Delete),
        change("command.parent", Action::Delete),
    ]);
    let report = run(&mock, &plan, state);
    assert_eq!(report.failed[0].error, "the mock refuses");
    assert_eq!(mock.calls(), ["delete command.child"]);
    let child = report.state.resource(&addr("command.child")).unwrap();
    assert_eq!(child.status, Status::Ready);
}
