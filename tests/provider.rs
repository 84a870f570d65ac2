//! A provider added through the registry alone: its kind, schema, default driver, checks,
//! login and objects reach validate, plan, apply and `hive ssh` with no other change to hive.

use hive::diag::Diagnostics;
use hive::engine::registry::Registry;
use hive::engine::Silent;
use hive::ops::apply::{run, RunOptions, Then};
use hive::ops::plan::PlanOptions;
use hive::ops::state::StateSource;
use hive::ops::validate::{validate, VarOptions};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, KindSpec, Login, LoginRequest, Object, Provider,
    ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::schema::{computed, optional, required, schema};
use hive_sdk::{Type, Value};
use hive_state::memory::MemoryBackend;
use hive_state::StateBackend;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Widgets, kept in memory: a size, a colour no two widgets share, a computed serial.
#[derive(Default)]
struct Widgets {
    made: Mutex<BTreeMap<String, Value>>,
}

impl Provider for Widgets {
    fn driver(&self) -> &'static str {
        "toy"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        vec![KindSpec {
            kind: "widget",
            schema: schema(
                vec![
                    required("size", Type::Number),
                    optional("colour", Type::String).default(Value::string("blue")),
                    computed("id", Type::String),
                    computed("serial", Type::String),
                ],
                vec![],
            ),
            default_driver: true,
        }]
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<Problem> {
        match config.attr("size").and_then(Value::as_number) {
            Some(n) if n < 1.0 => vec![Problem::at("size", format!("size {n}: at least 1"))],
            _ => Vec::new(),
        }
    }

    fn check_together(&self, objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
        let mut seen: Vec<&str> = Vec::new();
        let mut problems = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            if let Some(colour) = o.config.attr_str("colour") {
                if seen.contains(&colour) {
                    problems.push((
                        i,
                        Problem::at("colour", format!("colour {colour} is taken")),
                    ));
                }
                seen.push(colour);
            }
        }
        problems
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let id = format!("w-{}", request.target.address.resource.name);
        let mut state = request.config.as_map().cloned().unwrap_or_default();
        state.insert("id".into(), Value::string(&id));
        state.insert("serial".into(), Value::string("0001"));
        let state = Value::Map(state);
        if let Ok(mut made) = self.made.lock() {
            made.insert(id.clone(), state.clone());
        }
        Ok(ApplyResponse { state, id })
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.create(request)
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        let made = self
            .made
            .lock()
            .map_err(|_| ProviderError::new("poisoned"))?;
        Ok(match made.get(request.id) {
            Some(_) => ReadResponse::Found(request.prior.clone()),
            None => ReadResponse::Gone,
        })
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        if let Ok(mut made) = self.made.lock() {
            made.remove(request.id);
        }
        Ok(())
    }

    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        Ok(Login::Exec {
            program: "widget-shell".into(),
            args: vec![request.id.to_string()],
            env: vec![],
            shell: vec!["sh".into()],
            why: "widgets have no SSH".into(),
        })
    }
}

fn dir_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hive.hcl"), config).expect("write");
    dir
}

fn rendered(diags: &Diagnostics, sources: &hive::diag::Sources) -> String {
    hive::render::diag::render_text(diags, sources, hive::render::diag::Style::Plain)
}

#[test]
fn a_provider_registered_alone_is_validated_planned_applied_and_logged_into() {
    let widgets = Arc::new(Widgets::default());
    let registry = Registry::with(vec![widgets.clone()]).expect("registry");
    let vars = VarOptions::default();

    // Its schema is what configurations are read with.
    let typo = dir_with("widget \"w\" {\n  sise = 3\n}\n");
    let v = validate(typo.path(), &registry, &vars);
    let text = rendered(&v.diagnostics, &v.sources);
    assert!(
        text.contains("unknown attribute \"sise\" in widget \"w\""),
        "{text}"
    );
    assert!(text.contains("did you mean \"size\""), "{text}");
    // Its own checks, at the attribute they are about.
    let small = dir_with("widget \"w\" {\n  size = 0\n}\n");
    let v = validate(small.path(), &registry, &vars);
    let text = rendered(&v.diagnostics, &v.sources);
    assert!(text.contains("widget.w: size 0: at least 1"), "{text}");
    assert!(text.contains("main.hive.hcl:2:10"), "{text}");
    let clash = dir_with(
        "widget \"a\" {\n  size   = 1\n  colour = \"red\"\n}\n\nwidget \"b\" {\n  size   = 1\n  colour = \"red\"\n}\n",
    );
    let v = validate(clash.path(), &registry, &vars);
    let text = rendered(&v.diagnostics, &v.sources);
    assert!(text.contains("widget.b: colour red is taken"), "{text}");
    assert!(text.contains("main.hive.hcl:8:12"), "{text}");

    // Planned and applied through it, recorded in a state backend given by the caller.
    let good = dir_with(
        "widget \"w\" {\n  size = 2\n}\n\noutput \"serial\" {\n  value = widget.w.serial\n}\n",
    );
    let memory = MemoryBackend::new();
    let options = RunOptions {
        plan: PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        },
        command: "test apply".into(),
        state: StateSource::Memory(memory.clone()),
        ..RunOptions::default()
    };
    let mut yes = |_: &hive::plan::Plan| true;
    let applied = run(
        good.path(),
        &registry,
        &options,
        Then::Confirm(&mut yes),
        &mut Silent,
    );
    assert!(
        !applied.diagnostics.has_errors(),
        "{}",
        rendered(&applied.diagnostics, &applied.sources)
    );
    let report = applied.report.expect("applied");
    assert_eq!(report.completed, 1);
    assert_eq!(report.outputs["serial"], Value::string("0001"));
    let state = memory.clone().read().expect("read").state.expect("state");
    let address: InstanceAddr = "widget.w".parse().expect("address");
    let record = state.resource(&address).expect("recorded");
    assert_eq!(
        (record.driver.as_str(), record.id.as_deref()),
        ("toy", Some("w-w"))
    );
    let again = run(good.path(), &registry, &options, Then::Stop, &mut Silent);
    assert!(!again.plan.expect("plan").has_changes());

    // `hive ssh` asks it how to get in.
    let login = hive::ops::ssh::login(&state, &registry, good.path(), "widget.w");
    assert!(
        matches!(&login, Ok(Login::Exec { program, args, .. }) if program == "widget-shell" && args == &["w-w"]),
        "{login:?}"
    );

    // The build's own registry does not know it.
    let standard = Registry::standard().expect("registry");
    let v = validate(good.path(), &standard, &vars);
    let text = rendered(&v.diagnostics, &v.sources);
    assert!(text.contains("unknown block type \"widget\""), "{text}");
}
