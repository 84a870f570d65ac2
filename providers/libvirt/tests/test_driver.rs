//! The provider against libvirt's built-in `test:///default` driver: real libvirt XML
//! handling (definition, normalisation, metadata, network updates) without a daemon or
//! guests. Its state lives as long as the connection, so each test uses one provider.

use hive_provider_libvirt::LibvirtProvider;
use hive_sdk::provider::{
    ApplyRequest, Cancel, DeleteRequest, Provider, ReadRequest, ReadResponse, Target,
};
use hive_sdk::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const URI: &str = "test:///default";
const LINEAGE: &str = "0123456789abcdef";

/// Files hive writes (pool, console logs, keys) go to one temporary directory per run.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hive-libvirt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        std::env::set_var("HIVE_LIBVIRT_DIR", dir.join("lib"));
        std::env::set_var("HIVE_DATA_DIR", dir.join("data"));
        dir
    })
}

fn host() -> Value {
    Value::map([("uri", Value::string(URI)), ("id", Value::string("local"))])
}

fn target<'a>(address: &'a str, kind: &'a str) -> Target<'a> {
    // Each test names a handful of addresses: kept for the test's life.
    let address: &'static hive_sdk::addr::InstanceAddr =
        Box::leak(Box::new(address.parse().expect("an address")));
    Target {
        address,
        kind,
        lineage: LINEAGE,
        state: "",
        expires: None,
        base_dir: scratch(),
    }
}

fn kernel_image() -> Value {
    let dir = scratch();
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, b"not really a kernel").expect("write");
    Value::map([
        ("host", host()),
        ("format", Value::string("kernel")),
        ("kernel", Value::string(kernel.to_string_lossy())),
        ("cmdline", Value::string("console=ttyS0")),
    ])
}

fn create(p: &LibvirtProvider, address: &str, kind: &str, config: &Value) -> Result<Value, String> {
    p.create(&ApplyRequest {
        target: target(address, kind),
        config,
        prior: None,
        cancel: &Cancel::default(),
        sensitive: &[],
        progress: &hive_sdk::provider::no_progress,
    })
    .map(|r| r.state)
    .map_err(|e| e.message)
}

fn read(p: &LibvirtProvider, address: &str, kind: &str, state: &Value) -> ReadResponse {
    let id = field(state, "id");
    p.read(&ReadRequest {
        target: target(address, kind),
        id: &id,
        prior: state,
    })
    .expect("read")
}

fn delete(p: &LibvirtProvider, address: &str, kind: &str, state: &Value) {
    let id = field(state, "id");
    p.delete(&DeleteRequest {
        target: target(address, kind),
        id: &id,
        prior: state,
        cancel: &Cancel::default(),
        sensitive: &[],
    })
    .expect("delete");
}

fn field(v: &Value, name: &str) -> String {
    v.as_map()
        .and_then(|m| m.get(name))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn with(v: &Value, name: &str, new: Value) -> Value {
    let mut m = v.as_map().cloned().unwrap_or_default();
    m.insert(name.into(), new);
    Value::Map(m)
}

fn instance_config(image: &Value, name: &str) -> Value {
    Value::map([
        ("driver", Value::string("libvirt")),
        ("host", host()),
        ("image", image.clone()),
        ("type", Value::string("t3.nano")),
        ("name", Value::string(name)),
        ("wait_for", Value::string("none")),
        (
            "cloud_init",
            Value::map([("hostname", Value::string("unit-host"))]),
        ),
    ])
}

#[test]
fn an_instance_is_defined_tagged_read_back_and_removed() {
    let p = LibvirtProvider::new();
    let image = create(&p, "image.k", "image", &kernel_image()).expect("image");
    assert!(field(&image, "kernel_path").contains("kernel-"));
    let config = instance_config(&image, "unit-a");
    let state = create(&p, "instance.a", "instance", &config).expect("instance");
    assert_eq!(field(&state, "name"), "unit-a");
    assert_eq!(field(&state, "id").len(), 36, "a uuid: {state:?}");
    let macs = state
        .as_map()
        .and_then(|m| m.get("macs"))
        .and_then(Value::as_items);
    assert_eq!(macs.map(<[Value]>::len), Some(0));
    assert!(field(&state, "console_log").ends_with("unit-a.log"));
    // What libvirt normalised (memory in KiB, added elements) reads back as no change.
    assert_eq!(
        read(&p, "instance.a", "instance", &state),
        ReadResponse::Found(state.clone())
    );

    // Creating it again for the same address and lineage adopts it: no "already exists".
    let again = create(&p, "instance.a", "instance", &config).expect("adopted");
    assert_eq!(field(&again, "id"), field(&state, "id"));
    // Another address with the same domain name is refused, naming the owner.
    let clash = create(&p, "instance.b", "instance", &config).expect_err("clash");
    assert!(clash.contains("instance.a"), "{clash}");
    // Both are this state's: it says so, rather than blaming another state.
    assert!(clash.contains("in this same state"), "{clash}");
    assert!(!clash.contains("another state"), "{clash}");

    delete(&p, "instance.a", "instance", &state);
    assert_eq!(
        read(&p, "instance.a", "instance", &state),
        ReadResponse::Gone
    );
}

#[test]
fn memory_and_power_changed_outside_hive_show_as_drift() {
    let p = LibvirtProvider::new();
    let image = create(&p, "image.k", "image", &kernel_image()).expect("image");
    let state = create(
        &p,
        "instance.d",
        "instance",
        &instance_config(&image, "unit-d"),
    )
    .expect("instance");
    let changed = p
        .update(&ApplyRequest {
            target: target("instance.d", "instance"),
            config: &with(
                &instance_config(&image, "unit-d"),
                "memory",
                Value::string("768MiB"),
            ),
            prior: Some(&state),
            cancel: &Cancel::default(),
            sensitive: &[],
            progress: &hive_sdk::provider::no_progress,
        })
        .expect("update")
        .state;
    // The recorded state still says 512 MiB (t3.nano): reading finds 768.
    match read(&p, "instance.d", "instance", &state) {
        ReadResponse::Found(now) => assert_eq!(field(&now, "memory"), "768MiB"),
        other => panic!("expected the domain, got {other:?}"),
    }
    match read(&p, "instance.d", "instance", &changed) {
        ReadResponse::Found(now) => assert_eq!(now, changed),
        other => panic!("expected the domain, got {other:?}"),
    }
    let stopped = p
        .update(&ApplyRequest {
            target: target("instance.d", "instance"),
            config: &with(&changed, "power", Value::string("stopped")),
            prior: Some(&changed),
            cancel: &Cancel::default(),
            sensitive: &[],
            progress: &hive_sdk::provider::no_progress,
        })
        .expect("stop")
        .state;
    // Recorded as running, found stopped.
    match read(&p, "instance.d", "instance", &changed) {
        ReadResponse::Found(now) => assert_eq!(field(&now, "power"), "stopped"),
        other => panic!("expected the domain, got {other:?}"),
    }
    delete(&p, "instance.d", "instance", &stopped);
}

#[test]
fn a_nat_network_with_reservations() {
    let p = LibvirtProvider::new();
    let config = Value::map([
        ("driver", Value::string("libvirt")),
        ("host", host()),
        ("name", Value::string("unitnet")),
        ("cidr", Value::string("10.199.3.1/24")),
        (
            "dhcp",
            Value::map([(
                "range",
                Value::List(vec![
                    Value::string("10.199.3.100"),
                    Value::string("10.199.3.150"),
                ]),
            )]),
        ),
    ]);
    let state = create(&p, "bridge.n", "bridge", &config).expect("network");
    assert_eq!(field(&state, "gateway"), "10.199.3.1");
    assert_eq!(field(&state, "name"), "unitnet");
    assert!(matches!(
        read(&p, "bridge.n", "bridge", &state),
        ReadResponse::Found(_)
    ));

    // An instance with a fixed address reserves it by MAC, and gives it back on delete.
    let image = create(&p, "image.k", "image", &kernel_image()).expect("image");
    let instance = with(
        &instance_config(&image, "unit-n"),
        "network",
        Value::List(vec![Value::map([
            ("bridge", state.clone()),
            ("ip", Value::string("10.199.3.7")),
        ])]),
    );
    let vm = create(&p, "instance.n", "instance", &instance).expect("instance");
    let mac = vm
        .as_map()
        .and_then(|m| m.get("macs"))
        .and_then(Value::as_items)
        .and_then(|m| m.first())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    assert!(mac.starts_with("52:54:00:"), "{vm:?}");
    let reservations = || {
        hive_provider_libvirt::network::reservations(p.connections(), URI, "unitnet")
            .expect("reservations")
    };
    assert_eq!(
        reservations(),
        vec![(mac.clone(), "10.199.3.7".to_string())]
    );
    delete(&p, "instance.n", "instance", &vm);
    assert_eq!(reservations(), Vec::new());

    delete(&p, "bridge.n", "bridge", &state);
    assert_eq!(read(&p, "bridge.n", "bridge", &state), ReadResponse::Gone);
}

#[test]
fn a_daemon_that_is_not_there_is_named() {
    let p = LibvirtProvider::new();
    let host = Value::map([(
        "uri",
        Value::string("qemu+unix:///system?socket=/nonexistent/sock"),
    )]);
    let config = with(&kernel_image(), "host", host);
    let e = create(&p, "image.k", "image", &config).expect_err("no daemon");
    assert!(
        e.contains("connecting to libvirt at qemu+unix:///system"),
        "{e}"
    );
    assert!(e.contains("is libvirtd running"), "{e}");
}
