//! `instance` with `driver = "lxd"`: a container (or, where LXD can run them, a VM) from an
//! imported image or an image the daemon already knows by alias.
//!
//! The instance has no profiles: every device is hive's (root disk, NICs, volumes), so a
//! daemon's default profile never adds a NIC on a network hive did not ask for. Limits,
//! devices and power change in place (live for containers); a new image, kind or cloud-init
//! replaces it. hive's tag lives in `user.hive.*` config keys: address, lineage and status
//! (`creating` until the instance is made and started, then `ready`).

use crate::api::{Devices, Instance, InstanceState, Server};
use crate::client::{url_part, Body, Client};
use crate::host::{self, check_daemon, default_pool, Clients};
use crate::{lx, lxd_size, volume, Tag};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::cloud_init::UserData;
use hive_sdk::guest::{
    cloud_init_outcome, poll, power_wanted, sizing, ssh_login, ssh_user, stable_mac, timed_wait,
    wait_settings, Look, WaitFor,
};
use hive_sdk::linux_bridge;
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, Cancel, DeleteRequest, Login, LoginRequest, PlanRequest,
    PlanResponse, ProviderError, ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{self, optional, Schema};
use hive_sdk::units::parse_size;
use hive_sdk::{identity, Type, Value};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// LXD's bridges are on this machine's LXD: their reservations are this machine's files.
const THIS_MACHINE: (
    &dyn hive_sdk::host_files::HostFiles,
    &dyn hive_sdk::exec::Exec,
) = (
    &hive_sdk::host_files::LocalFiles,
    &hive_sdk::exec::LocalExec,
);

/// LXD's own MAC prefix.
const LXD_OUI: &str = "00:16:3e";
/// How long a container gets to shut down cleanly before it is stopped by force.
const STOP_GRACE_SECS: u64 = 20;

/// An LXD instance: every driver's, with what it is (`kind`).
pub fn schema() -> Schema {
    let own = schema::schema(
        vec![optional("kind", Type::String)
            .about("\"container\" or \"vm\"")
            .default(Value::string("container"))],
        vec![],
    );
    hive_sdk::guest::instance_schema()
        .merged(&own)
        .unwrap_or_else(|_| hive_sdk::guest::instance_schema())
}

pub fn validate(config: &Value) -> Vec<Problem> {
    // Cloud-init is awaited through LXD exec: no address needed.
    let mut problems = hive_sdk::guest::validate(config, false);
    match config.attr_str("kind") {
        None | Some("container") | Some("vm") => {}
        Some(other) => problems.push(Problem::at(
            "kind",
            format!("kind = \"{other}\": expected \"container\" or \"vm\""),
        )),
    }
    if let Some(image) = config.attr("image").filter(|i| i.as_map().is_some()) {
        let lxd_image =
            image.attr_str("driver") == Some("lxd") || image.attr_str("format") == Some("lxd");
        if !lxd_image {
            problems.push(Problem::at(
                "image",
                "image: the lxd driver needs an image with driver = \"lxd\" (an LXD image file), or the alias of an image the daemon has",
            ));
        }
    }
    let here = host::daemon(config);
    let elsewhere = |what: &str, other: &Value| {
        format!(
            "{what} lives on the LXD daemon at {}, this instance on the one at {here}: they must share a host",
            host::daemon(other)
        )
    };
    if let Some(image) = config.attr("image").filter(|i| i.as_map().is_some()) {
        if host::daemon(image) != here {
            problems.push(Problem::at("image", elsewhere("image", image)));
        }
    }
    let on_hive_bridge = config
        .attr("network")
        .and_then(Value::as_items)
        .unwrap_or_default()
        .iter()
        .any(|n| n.attr("bridge").is_some_and(|b| b.as_map().is_some()));
    if on_hive_bridge && host::is_remote(config) {
        problems.push(Problem::at(
            "network",
            "network: hive's Linux bridges are on the machine running hive, not on a remote LXD daemon's: name a network of that daemon (bridge = \"NAME\")",
        ));
    }
    for volume in config
        .attr("attach")
        .and_then(Value::as_items)
        .unwrap_or_default()
    {
        if volume.as_map().is_some() && volume.attr_str("driver") != Some("lxd") {
            problems.push(Problem::at(
                "attach",
                "attach: LXD instances attach LXD custom volumes (volumes with driver = \"lxd\")",
            ));
        } else if volume.as_map().is_some() && host::daemon(volume) != here {
            problems.push(Problem::at(
                "attach",
                elsewhere("an attached volume", volume),
            ));
        }
    }
    if config.attr("image").is_none() {
        problems.push(Problem::whole(
            "an instance with the lxd driver needs image = image.NAME or an image alias",
        ));
    }
    if let Some(name) = config.attr_str("name") {
        if !valid_name(name) {
            problems.push(Problem::at(
                "name",
                format!(
                    "name = \"{name}\": LXD instance names are 1 to 63 letters, digits and hyphens, starting with a letter"
                ),
            ));
        }
    }
    problems
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The instance's LXD name: `name`, else one made from the address (`instance.web[0]` gives
/// `web-0`).
pub fn instance_name(config: &Value, address: &InstanceAddr) -> String {
    if let Some(name) = config.attr_str("name") {
        return name.to_string();
    }
    let mut name: String = hive_sdk::addr::backend_name(address)
        .chars()
        .map(|c| if c == '_' { '-' } else { c })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "i-");
    }
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

fn wants_vm(config: &Value) -> bool {
    config.attr_str("kind") == Some("vm")
}

const VM_TYPE: &str = "virtual-machine";

/// LXD's `type` of the instance the configuration wants.
fn lxd_type(config: &Value) -> &'static str {
    if wants_vm(config) {
        VM_TYPE
    } else {
        "container"
    }
}

/// Why this daemon (`server`, as it describes itself) cannot run a VM, if it cannot.
pub fn vm_support(client: &Client, server: &Server) -> Result<(), String> {
    if !server.environment.driver.contains("qemu") {
        return Err(format!(
            "kind = \"vm\": LXD at {} cannot run virtual machines (its instance drivers: {}); use kind = \"container\", or the libvirt driver for VMs",
            client.label, server.environment.driver
        ));
    }
    if client.label.starts_with('/') && !Path::new("/dev/vhost-vsock").exists() {
        return Err(
            "kind = \"vm\": LXD VMs need the vhost_vsock kernel module, which this host lacks (no /dev/vhost-vsock); use kind = \"container\", or the libvirt driver for VMs"
            .to_string());
    }
    Ok(())
}

/// How `hive ssh` gets in: over SSH when something answers on port 22 of the instance's
/// address, else through `lxc exec` on the local daemon (busybox containers have no SSH
/// server).
pub fn login(request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
    let attributes = request.attributes;
    let address = request.target.address;
    let why = match attributes.attr_str("ip") {
        Some(ip) if hive_sdk::guest::ssh_port_open(ip) => {
            return hive_sdk::guest::ssh_login_to(request, true)
        }
        Some(ip) => format!("nothing answers on port 22 of {ip}"),
        None => "it has no IP address recorded".to_string(),
    };
    let lxd = attributes.attr("host").and_then(|h| h.attr("lxd"));
    if lxd.and_then(|l| l.attr("endpoint")).is_some() {
        return Err(ProviderError::new(format!(
            "{address} cannot be reached over SSH ({why}), and its LXD daemon is remote: `lxc exec` needs that remote configured in lxc"
        )));
    }
    let name = attributes
        .attr_str("name")
        .ok_or_else(|| ProviderError::new(format!("{address} has no LXD name recorded")))?;
    let env = lxd
        .and_then(|l| l.attr_str("socket"))
        .and_then(|s| Path::new(s).parent())
        .map(|dir| vec![("LXD_DIR".to_string(), dir.display().to_string())])
        .unwrap_or_default();
    Ok(Login::Exec {
        program: "lxc".into(),
        // `local:`: the daemon on this machine, whatever lxc's default remote is.
        args: vec!["exec".into(), format!("local:{name}"), "--".into()],
        env,
        shell: vec!["sh".into(), "-l".into()],
        why: format!("{why}; using LXD exec (package lxd-client)"),
    })
}

/// Problems found by looking at the daemon before anything is made.
pub fn check_environment(clients: &Clients, config: &Value) -> Vec<Problem> {
    let at_host = |message: String| host::problem_at_host(config, message);
    let client = match clients.get(config) {
        Ok(c) => c,
        Err(e) => return vec![at_host(e.message)],
    };
    let server = match check_daemon(&client) {
        Ok(server) => server,
        Err(e) => return vec![at_host(e)],
    };
    let mut problems = Vec::new();
    let pool = default_pool(config);
    if let Err(e) = volume::check_pool(&client, &pool) {
        problems.push(at_host(e));
    }
    if wants_vm(config) {
        if let Err(e) = vm_support(&client, &server) {
            problems.push(Problem::at("kind", e));
        }
    }
    if let Some(alias) = config.attr_str("image") {
        if let Err(e) = client.get::<Json>(&format!("/1.0/images/aliases/{}", url_part(alias))) {
            problems.push(Problem::at(
                "image",
                if e.is_not_found() {
                    format!(
                        "image = \"{alias}\": LXD at {} has no image with that alias (no image server is used: import one with an image resource)",
                        client.label
                    )
                } else {
                    format!("looking up image alias {alias}: {e}")
                },
            ));
        }
    }
    problems
}

/// Says what an in-place change does.
pub fn plan(request: &PlanRequest<'_>, mut proposal: PlanResponse) -> PlanResponse {
    let Some(prior) = request.prior else {
        return proposal;
    };
    let config = request.config;
    if config.attr_str("kind").unwrap_or("container")
        != prior.attr_str("kind").unwrap_or("container")
    {
        proposal.requires_replace.push("kind".into());
    }
    if sizing(prior) != sizing(config) && power_wanted(config) {
        proposal.notes.push(if wants_vm(config) {
            "restarts the VM: LXD gives a running VM more memory only at boot".into()
        } else {
            "limits change live, without a restart".into()
        });
    }
    proposal
}

/// A NIC hive gives the instance: (device name, device, fixed ip on a hive bridge).
type NicDevice = (String, BTreeMap<String, String>, Option<(String, String)>);

/// The NICs hive gives the instance.
fn nic_devices(config: &Value, target: &Target<'_>) -> Result<Vec<NicDevice>, ProviderError> {
    let blocks = config
        .attr("network")
        .and_then(Value::as_items)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let device = format!("eth{i}");
        let mac = block
            .attr_str("mac")
            .map(str::to_lowercase)
            .unwrap_or_else(|| stable_mac(LXD_OUI, target.lineage, &target.address.to_string(), i));
        let mut nic = BTreeMap::from([
            ("type".to_string(), "nic".to_string()),
            ("name".to_string(), device.clone()),
            ("hwaddr".to_string(), mac.clone()),
        ]);
        let mut reservation = None;
        match block.attr("bridge") {
            // A bridge resource: hive's Linux bridge (or a libvirt network's device).
            Some(b) if b.as_map().is_some() => {
                let name = b.attr_str("name").unwrap_or_default().to_string();
                if b.attr_str("driver") == Some("libvirt") {
                    return Err(ProviderError::new(format!(
                        "network {i}: bridge {name} is a libvirt network; LXD instances join Linux bridges (driver = \"linux\") or LXD networks"
                    )));
                }
                nic.insert("nictype".into(), "bridged".into());
                nic.insert("parent".into(), name.clone());
                if let Some(ip) = block.attr_str("ip") {
                    reservation = Some((name, ip.to_string()));
                }
            }
            // A name: an LXD-managed network.
            Some(b) => {
                let name = b.as_str().unwrap_or_default().to_string();
                nic.insert("network".into(), name);
                if let Some(ip) = block.attr_str("ip") {
                    nic.insert("ipv4.address".into(), ip.to_string());
                }
            }
            None => {
                return Err(ProviderError::new(format!(
                    "network {i}: needs bridge = bridge.NAME (a Linux bridge) or the name of an LXD network"
                )))
            }
        }
        out.push((device, nic, reservation));
    }
    Ok(out)
}

/// Every device the instance should have.
fn devices(config: &Value, target: &Target<'_>) -> Result<Devices, ProviderError> {
    let mut devices = Devices::new();
    let mut root = BTreeMap::from([
        ("type".to_string(), "disk".to_string()),
        ("path".to_string(), "/".to_string()),
        ("pool".to_string(), default_pool(config)),
    ]);
    if let Some(size) = config.attr("disk").and_then(|d| d.attr_str("size")) {
        let bytes = parse_size(size).map_err(|e| ProviderError::new(format!("disk size: {e}")))?;
        root.insert("size".into(), lxd_size(bytes));
    }
    devices.insert("root".into(), root);
    for (name, nic, _) in nic_devices(config, target)? {
        devices.insert(name, nic);
    }
    for vol in config
        .attr("attach")
        .and_then(Value::as_items)
        .unwrap_or_default()
    {
        let (pool, name) = volume::split_id(vol.attr_str("id").unwrap_or_default())?;
        devices.insert(
            format!("vol-{name}"),
            BTreeMap::from([
                ("type".to_string(), "disk".to_string()),
                ("pool".to_string(), pool),
                ("source".to_string(), name.clone()),
                ("path".to_string(), format!("/mnt/{name}")),
            ]),
        );
    }
    Ok(devices)
}

/// The config keys hive sets (the rest of an instance's config is LXD's).
fn managed_config(
    config: &Value,
    target: &Target<'_>,
    name: &str,
    public_key: &str,
    status: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let (cpus, mib) = sizing(config).map_err(ProviderError::new)?;
    let mut keys = BTreeMap::from([
        ("limits.cpu".to_string(), cpus.to_string()),
        ("limits.memory".to_string(), format!("{mib}MiB")),
    ]);
    keys.extend(Tag::of_target(target, status).config());
    let cloud = config.attr("cloud_init");
    let user_data = UserData::from_config(cloud, name, public_key);
    keys.insert("cloud-init.user-data".into(), user_data.render());
    if let Some(n) = cloud.and_then(|c| c.attr_str("network_config")) {
        keys.insert("cloud-init.network-config".into(), n.to_string());
    }
    Ok(keys)
}

pub(crate) fn instance_path(name: &str) -> String {
    format!("/1.0/instances/{}", url_part(name))
}

/// The instance, or `None` when LXD has none of that name.
pub(crate) fn get(client: &Client, name: &str) -> Result<Option<Instance>, ProviderError> {
    client
        .get_opt(&instance_path(name))
        .map_err(lx(format!("looking up instance {name}")))
}

pub(crate) fn state(client: &Client, name: &str) -> Result<InstanceState, ProviderError> {
    client
        .get(&format!("{}/state", instance_path(name)))
        .map_err(lx(format!("reading the state of instance {name}")))
}

pub(crate) fn change_state(
    client: &Client,
    name: &str,
    action: &str,
    force: bool,
) -> Result<(), ProviderError> {
    let body = json!({"action": action, "timeout": STOP_GRACE_SECS, "force": force});
    client
        .json(
            "PUT",
            &format!("{}/state", instance_path(name)),
            Some(&body),
        )
        .map(|_| ())
        .map_err(lx(format!("{action} of instance {name}")))
}

/// Stops cleanly, or by force if it will not.
pub(crate) fn stop(client: &Client, name: &str) -> Result<(), ProviderError> {
    change_state(client, name, "stop", false).or_else(|_| change_state(client, name, "stop", true))
}

/// hive's SSH key pair for the state (the public key goes into cloud-init), read once per
/// create or update.
struct Keys {
    private: std::path::PathBuf,
    public: String,
}

impl Keys {
    fn of(target: &Target<'_>) -> Result<Keys, ProviderError> {
        let (private, public) = identity::ensure(target.lineage).map_err(ProviderError::new)?;
        Ok(Keys { private, public })
    }
}

pub fn create(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let target = &request.target;
    let client = clients.get(config)?;
    let name = instance_name(config, target.address);
    let keys = Keys::of(target)?;
    if let Some(existing) = get(&client, &name)? {
        match Tag::of(&existing.config) {
            Some(tag)
                if tag.lineage == target.lineage && tag.address == target.address.to_string() =>
            {
                if tag.status == "ready" && made_as_configured(&existing, config, target, &keys)
                {
                    // Made by an apply that crashed before recording it: adopt it.
                    return converge(&client, request, existing, &keys);
                }
                // Its creation never finished, or it was made from what the configuration
                // no longer says (another image, other cloud-init): start again.
                remove(&client, &existing)?;
            }
            Some(tag) if tag.lineage == target.lineage => {
                return Err(ProviderError::new(format!(
                    "an LXD instance named {name} already exists, made by hive for {} of this state: both get the name {name}; set name on one of them",
                    tag.address
                )))
            }
            Some(tag) => {
                return Err(ProviderError::new(format!(
                    "an LXD instance named {name} already exists, made by hive for {} of another state (lineage {}); set name to another",
                    tag.address, tag.lineage
                )))
            }
            None => {
                return Err(ProviderError::new(format!(
                    "an LXD instance named {name} already exists and hive did not make it; set name to another"
                )))
            }
        }
    }
    if wants_vm(config) {
        let server = check_daemon(&client).map_err(ProviderError::new)?;
        vm_support(&client, &server).map_err(ProviderError::new)?;
    }
    // Before the instance exists, so its first DHCP request gets the reserved address.
    reserve(config, target)?;
    let source = match config.attr("image") {
        Some(i) if i.as_map().is_some() => {
            json!({"type": "image", "fingerprint": i.attr_str("id").unwrap_or_default()})
        }
        Some(i) => json!({"type": "image", "alias": i.as_str().unwrap_or_default()}),
        None => return Err(ProviderError::new("no image")),
    };
    let body = json!({
        "name": name,
        "type": lxd_type(config),
        "source": source,
        "profiles": [],
        "config": managed_config(config, target, &name, &keys.public, "creating")?,
        "devices": devices(config, target)?,
    });
    (request.progress)("creating");
    client
        .json("POST", "/1.0/instances", Some(&body))
        .map_err(lx(format!("creating instance {name}")))?;
    if power_wanted(config) {
        change_state(&client, &name, "start", false)?;
    }
    client
        .json(
            "PATCH",
            &instance_path(&name),
            Some(&json!({"config": {"user.hive.status": "ready"}})),
        )
        .map_err(lx(format!("tagging instance {name}")))?;
    finish(&client, request, &name, &keys)
}

/// Whether an instance of ours left by a crash was made from what the configuration says
/// now: the same kind, image and cloud-init data (what a change replaces).
fn made_as_configured(
    instance: &Instance,
    config: &Value,
    target: &Target<'_>,
    keys: &Keys,
) -> bool {
    if instance.kind() != Some(lxd_type(config)) {
        return false;
    }
    let image = config
        .attr("image")
        .and_then(|i| i.attr_str("id"))
        .is_none_or(|fp| {
            instance
                .config
                .get("volatile.base_image")
                .map(String::as_str)
                == Some(fp)
        });
    let cloud_init = managed_config(config, target, &instance.name, &keys.public, "ready")
        .ok()
        .is_some_and(|keys| {
            keys.get("cloud-init.user-data") == instance.config.get("cloud-init.user-data")
        });
    image && cloud_init
}

/// Fixed addresses on hive's Linux bridges become DHCP reservations there.
fn reserve(config: &Value, target: &Target<'_>) -> Result<(), ProviderError> {
    for (_, nic, reservation) in nic_devices(config, target)? {
        if let Some((bridge, ip)) = reservation {
            let mac = nic.get("hwaddr").cloned().unwrap_or_default();
            linux_bridge::reserve_for_instance(THIS_MACHINE, &bridge, &mac, &ip)
                .map_err(ProviderError::new)?;
        }
    }
    Ok(())
}

/// Gives back the reservations of NICs (of `prior`) that `config` no longer has on the
/// same bridge.
fn unreserve_dropped(prior: &Value, config: Option<&Value>, target: &Target<'_>) {
    let reserved = |v: &Value| -> Vec<(String, String)> {
        nic_devices(v, target)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, nic, r)| Some((r?.0, nic.get("hwaddr")?.clone())))
            .collect()
    };
    let keep = config.map(reserved).unwrap_or_default();
    for (bridge, mac) in reserved(prior) {
        if !keep.contains(&(bridge.clone(), mac.clone())) {
            let _ = linux_bridge::unreserve_for_instance(THIS_MACHINE, &bridge, &mac);
        }
    }
}

/// Makes an existing instance of ours match the configuration, then waits as configured.
fn converge(
    client: &Client,
    request: &ApplyRequest<'_>,
    mut instance: Instance,
    keys: &Keys,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let target = &request.target;
    let name = instance.name.clone();
    let wanted_config = managed_config(config, target, &name, &keys.public, "ready")?;
    let wanted_devices = devices(config, target)?;
    let config_differs = wanted_config
        .iter()
        .any(|(k, v)| instance.config.get(k) != Some(v));
    // Reservations first, so a hot-plugged NIC's first DHCP request gets its address.
    if let Some(prior) = request.prior {
        unreserve_dropped(prior, Some(config), target);
    }
    reserve(config, target)?;
    // A running VM's memory grows only at boot: it is stopped for the change.
    let limits_differ = ["limits.cpu", "limits.memory"]
        .iter()
        .any(|k| wanted_config.get(*k) != instance.config.get(*k));
    if instance.kind() == Some(VM_TYPE)
        && limits_differ
        && state(client, &name)?.status == "Running"
    {
        (request.progress)("stopping the VM to change its limits");
        stop(client, &name)?;
    }
    if config_differs || instance.devices != wanted_devices {
        instance.config.extend(wanted_config);
        instance.devices = wanted_devices;
        let body = serde_json::to_value(&instance)
            .map_err(|e| ProviderError::new(format!("instance {name}: {e}")))?;
        (request.progress)("changing limits and devices");
        client
            .json("PUT", &instance_path(&name), Some(&body))
            .map_err(lx(format!("updating instance {name}")))?;
    }
    let status = state(client, &name)?.status;
    match (status.as_str(), power_wanted(config)) {
        ("Frozen", true) => change_state(client, &name, "unfreeze", false)?,
        ("Running", true) => {}
        (_, true) => change_state(client, &name, "start", false)?,
        ("Running" | "Frozen", false) => stop(client, &name)?,
        _ => {}
    }
    finish(client, request, &name, keys)
}

pub fn update(
    clients: &Clients,
    request: &ApplyRequest<'_>,
) -> Result<ApplyResponse, ProviderError> {
    let client = clients.get(request.config)?;
    let prior = request.prior.unwrap_or(&Value::Null);
    let name = instance_name(prior, request.target.address);
    let instance = get(&client, &name)?.ok_or_else(|| {
        ProviderError::new(format!(
            "instance {name} is gone from LXD at {}",
            client.label
        ))
    })?;
    converge(&client, request, instance, &Keys::of(&request.target)?)
}

/// Waits as configured and returns the instance's attributes.
fn finish(
    client: &Client,
    request: &ApplyRequest<'_>,
    name: &str,
    keys: &Keys,
) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let (what, timeout) = wait_settings(config)?;
    let guest = Guest {
        nics: nics_of(config, &request.target),
        vm: wants_vm(config),
        user: ssh_user(config),
        key: &keys.private,
    };
    timed_wait(what, request.progress, || {
        wait(client, name, &guest, what, timeout, request.cancel)
    })?;
    let instance = get(client, name)?.ok_or_else(|| {
        ProviderError::new(format!("instance {name} vanished while hive made it"))
    })?;
    let now = state(client, name)?;
    let ips = addresses(&now, &guest.nics, guest.vm);
    Ok(ApplyResponse {
        state: state_value(config, &instance, &ips),
        id: name.to_string(),
    })
}

fn state_value(config: &Value, instance: &Instance, ips: &[String]) -> Value {
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert("id".into(), Value::string(&instance.name));
    state.insert("name".into(), Value::string(&instance.name));
    state.insert(
        "macs".into(),
        Value::List(macs(instance).iter().map(Value::string).collect()),
    );
    state.insert("ip".into(), ips.first().map_or(Value::Null, Value::string));
    state.insert(
        "ips".into(),
        Value::List(ips.iter().map(Value::string).collect()),
    );
    state.insert("console_log".into(), Value::Null);
    Value::Map(state)
}

/// The MACs of the instance's NICs, in device order.
fn macs(instance: &Instance) -> Vec<String> {
    let mut nics: Vec<(&String, &BTreeMap<String, String>)> = instance
        .devices
        .iter()
        .filter(|(_, d)| d.get("type").map(String::as_str) == Some("nic"))
        .collect();
    // eth2 before eth10: by the number at the end of the name, then by name.
    let number = |name: &str| {
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
        digits.parse::<u32>().unwrap_or(u32::MAX)
    };
    nics.sort_by(|a, b| (number(a.0), a.0).cmp(&(number(b.0), b.0)));
    nics.into_iter()
        .filter_map(|(name, d)| {
            d.get("hwaddr")
                .or_else(|| instance.config.get(&format!("volatile.{name}.hwaddr")))
                .cloned()
        })
        .collect()
}

/// The MACs of hive's NICs in order, each with its Linux bridge when it is on one of hive's
/// (whose leases hive can read).
fn nics_of(config: &Value, target: &Target<'_>) -> Vec<(String, Option<String>)> {
    nic_devices(config, target)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, nic, _)| Some((nic.get("hwaddr")?.clone(), nic.get("parent").cloned())))
        .collect()
}

/// The instance's IPv4 addresses, NIC by NIC in hive's order: what LXD sees inside it on
/// those NICs (not on interfaces the guest made itself, like Docker's). A VM without LXD's
/// agent shows nothing inside, so hive's DHCP leases speak for it; a container's are always
/// seen, and a lease from its previous life would be stale.
fn addresses(state: &InstanceState, nics: &[(String, Option<String>)], vm: bool) -> Vec<String> {
    let macs: Vec<String> = nics.iter().map(|(m, _)| m.clone()).collect();
    let inside = state.ipv4_of(&macs);
    if !inside.is_empty() || !vm {
        return inside;
    }
    nics.iter()
        .filter_map(|(mac, bridge)| Some((mac, bridge.as_ref()?)))
        .flat_map(|(mac, bridge)| linux_bridge::leased_ips(bridge, std::slice::from_ref(mac)))
        .collect()
}

struct Guest<'a> {
    nics: Vec<(String, Option<String>)>,
    vm: bool,
    user: &'a str,
    key: &'a Path,
}

/// Waits until `what` holds, polling against a deadline.
fn wait(
    client: &Client,
    name: &str,
    guest: &Guest<'_>,
    what: WaitFor,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(), ProviderError> {
    if what == WaitFor::None {
        return Ok(());
    }
    // A container is up within a few hundred milliseconds, and a look is one local request.
    let first_pause = Duration::from_millis(25);
    poll(
        name,
        what,
        timeout,
        first_pause,
        cancel,
        String::new,
        |elapsed| {
            let now = state(client, name)?;
            if matches!(now.status.as_str(), "Stopped" | "Error") {
                // It was started: it stopped by itself (its init ended, or failed).
                return Err(ProviderError::new(format!(
                "{name} is {} instead of running (did its init exit? `lxc console --show-log {name}` shows its output)",
                now.status.to_lowercase()
            )));
            }
            if now.status != "Running" {
                return Ok(Look::NotYet(format!("status {}", now.status)));
            }
            if what == WaitFor::Running {
                return Ok(Look::Done(()));
            }
            let ips = addresses(&now, &guest.nics, guest.vm);
            // Cloud-init is awaited through LXD exec, after the address when there are NICs.
            if what == WaitFor::CloudInit && (guest.nics.is_empty() || !ips.is_empty()) {
                return cloud_init_look(client, name, timeout.saturating_sub(elapsed), cancel);
            }
            let Some(ip) = ips.first() else {
                return Ok(Look::NotYet("running, no IPv4 address yet".into()));
            };
            Ok(match what {
                WaitFor::Ssh => match ssh_login(ip, guest.user, guest.key) {
                    Ok(()) => Look::Done(()),
                    Err(e) => Look::NotYet(format!("address {ip}: {e}")),
                },
                _ => Look::Done(()),
            })
        },
    )
}

/// One look for `wait_for = "cloud-init"`: a VM whose agent has not started yet cannot run
/// commands, which is not yet an answer.
fn cloud_init_look(
    client: &Client,
    name: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Look<()>, ProviderError> {
    match wait_cloud_init(client, name, timeout, cancel) {
        Ok(()) => Ok(Look::Done(())),
        Err(e) if e.message.contains("VM agent isn't currently running") => {
            Ok(Look::NotYet("running, its LXD agent not yet".into()))
        }
        Err(e) => Err(e),
    }
}

/// `cloud-init status --wait` inside the instance.
fn wait_cloud_init(
    client: &Client,
    name: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(), ProviderError> {
    let (code, output) = exec(
        client,
        name,
        &["cloud-init", "status", "--wait"],
        timeout.max(Duration::from_secs(1)),
        cancel,
    )
    .map_err(|e| {
        if e.message.contains("Command not found") {
            ProviderError::new(format!(
                "{}: the image has no cloud-init (wait_for = \"cloud-init\" needs one)",
                e.message
            ))
        } else {
            e
        }
    })?;
    match cloud_init_outcome(code, &output) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(ProviderError::new(format!("{name}: {e}"))),
        None => Err(ProviderError::new(format!(
            "{name}: `cloud-init status --wait` ended with code {code}: {}",
            output.trim()
        ))),
    }
}

/// Runs a command in the instance (LXD exec, output recorded): (exit code, stdout+stderr).
pub fn exec(
    client: &Client,
    name: &str,
    command: &[&str],
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(i32, String), ProviderError> {
    let body = json!({
        "command": command,
        "environment": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        "wait-for-websocket": false,
        "interactive": false,
        "record-output": true,
    });
    let what = format!("running {} in {name}", command.join(" "));
    let metadata = client
        .send(
            "POST",
            &format!("{}/exec", instance_path(name)),
            &Body::Json(&body),
            &[],
            timeout,
            Some(cancel),
        )
        .map_err(lx(what.clone()))?;
    let code = metadata.get("return").and_then(Json::as_i64).unwrap_or(-1) as i32;
    let mut output = String::new();
    if let Some(logs) = metadata.get("output").and_then(Json::as_object) {
        for key in ["1", "2"] {
            if let Some(path) = logs.get(key).and_then(Json::as_str) {
                let bytes = client.get_raw(path).map_err(lx(what.clone()))?;
                output.push_str(&String::from_utf8_lossy(&bytes));
                // The record stays on the daemon until asked to go.
                let _ = client.delete(path);
            }
        }
    }
    Ok((code, output))
}

/// Adopts an instance made outside hive (`lxc launch`), by name: it is tagged as hive's for
/// this address, and its sizes and power are reported where they differ from the
/// configuration. Its devices become hive's at the next apply (the plan says so).
pub fn import(
    clients: &Clients,
    target: &Target<'_>,
    id: &str,
    config: &Value,
) -> Result<Value, ProviderError> {
    let client = clients.get(config)?;
    let instance = get(&client, id)?.ok_or_else(|| {
        ProviderError::new(format!(
            "LXD at {} has no instance named {id}",
            client.label
        ))
    })?;
    if let Some(tag) = Tag::of(&instance.config) {
        if tag.lineage != target.lineage || tag.address != target.address.to_string() {
            return Err(ProviderError::new(format!(
                "{id} is already hive's: made for {} of the state with lineage {}",
                tag.address, tag.lineage
            )));
        }
    }
    client
        .json(
            "PATCH",
            &instance_path(id),
            Some(&json!({"config": Tag::of_target(target, "ready").patch()})),
        )
        .map_err(lx(format!("tagging instance {id} as hive's")))?;
    let now = state(&client, id)?;
    let ips = now.ipv4_of(&[]);
    let macs: Vec<Value> = now
        .network
        .iter()
        .flatten()
        .filter(|(name, _)| name.as_str() != "lo")
        .map(|(_, nic)| Value::string(&nic.hwaddr))
        .collect();
    let mut found = BTreeMap::from([
        ("driver".to_string(), Value::string("lxd")),
        ("name".to_string(), Value::string(&instance.name)),
        ("id".to_string(), Value::string(&instance.name)),
        ("macs".to_string(), Value::List(macs)),
        (
            "ip".to_string(),
            ips.first().map_or(Value::Null, Value::string),
        ),
        (
            "ips".to_string(),
            Value::List(ips.iter().map(Value::string).collect()),
        ),
    ]);
    // Left out where they agree: the engine records what the configuration says of them.
    found.extend(differences(&instance, &now, config));
    Ok(Value::Map(found))
}

/// The memory, cpus and power the instance has where they are not what `attributes` say.
fn differences(
    instance: &Instance,
    now: &InstanceState,
    attributes: &Value,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Ok((cpus, mib)) = sizing(attributes) {
        if let Some(memory) = instance.config.get("limits.memory") {
            if parse_size(memory).ok() != Some(mib << 20) {
                out.push(("memory".into(), Value::string(memory)));
            }
        }
        if let Some(c) = instance.config.get("limits.cpu") {
            if c.parse::<u32>().ok() != Some(cpus) {
                let value = c
                    .parse::<f64>()
                    .map_or_else(|_| Value::string(c), Value::Number);
                out.push(("cpus".into(), value));
            }
        }
    }
    let running = now.status == "Running";
    if running != power_wanted(attributes) {
        let power = if running { "running" } else { "stopped" };
        out.push(("power".into(), Value::string(power)));
    }
    out
}

pub fn read(clients: &Clients, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
    let prior = request.prior;
    let client = clients.get(prior)?;
    // By name, not id: a create that failed before recording one is still found.
    let name = instance_name(prior, request.target.address);
    let Some(instance) = get(&client, &name)? else {
        return Ok(ReadResponse::Gone);
    };
    match Tag::of(&instance.config) {
        Some(tag) if tag.lineage == request.target.lineage => {}
        // The name now belongs to something else: ours is gone.
        _ => return Ok(ReadResponse::Gone),
    }
    let mut now = prior.as_map().cloned().unwrap_or_default();
    let status = state(&client, &name)?;
    now.extend(differences(&instance, &status, prior));
    now.insert(
        "macs".into(),
        Value::List(macs(&instance).iter().map(Value::string).collect()),
    );
    let wanted_devices = devices(prior, &request.target).ok();
    if wanted_devices.is_some_and(|d| d != instance.devices) {
        return Ok(ReadResponse::NeedsRepair {
            state: Value::Map(now),
            problems: vec!["its devices were changed outside hive".into()],
        });
    }
    Ok(ReadResponse::Found(Value::Map(now)))
}

/// Waits for the operations still running on an instance (a create whose hive was killed
/// goes on inside LXD), so the next request does not find it busy.
fn settle(client: &Client, name: &str) -> Result<(), ProviderError> {
    let operations: BTreeMap<String, Vec<Json>> = client
        .get("/1.0/operations?recursion=1")
        .map_err(lx(format!("listing LXD operations on instance {name}")))?;
    let path = instance_path(name);
    for op in operations.get("running").into_iter().flatten() {
        let on_it = op["resources"]
            .as_object()
            .into_iter()
            .flat_map(|r| r.values())
            .filter_map(Json::as_array)
            .flatten()
            .any(|r| r.as_str() == Some(path.as_str()));
        if let (true, Some(id)) = (on_it, op["id"].as_str()) {
            // Its outcome does not matter: only that it is over.
            let _ = client.wait(id, Duration::from_secs(300), None);
        }
    }
    Ok(())
}

/// Stops and deletes an instance.
pub(crate) fn remove(client: &Client, instance: &Instance) -> Result<(), ProviderError> {
    let name = &instance.name;
    settle(client, name)?;
    if state(client, name)?.status != "Stopped" {
        change_state(client, name, "stop", true)?;
    }
    client
        .delete(&instance_path(name))
        .map_err(lx(format!("deleting instance {name}")))
}

pub fn delete(clients: &Clients, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let prior = request.prior;
    let client = clients.get(prior)?;
    let name = instance_name(prior, request.target.address);
    if let Some(instance) = get(&client, &name)? {
        match Tag::of(&instance.config) {
            Some(tag) if tag.lineage == request.target.lineage => remove(&client, &instance)?,
            // The name now belongs to something hive did not make for this state.
            _ => {}
        }
    }
    unreserve_dropped(prior, None, &request.target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_addresses_are_valid_lxd_names() {
        let c = Value::map::<&str>([]);
        let name = |a: &str| instance_name(&c, &a.parse().unwrap());
        assert_eq!(name("instance.web_server[0]"), "web-server-0");
        assert_eq!(name("instance.node[\"1a\"]"), "node-1a");
        assert!(valid_name(&name("instance.x[\"9\"]")));
        assert!(valid_name(&name("instance.x[\"ключ\"]")));
        assert!(!valid_name("9lives"));
        assert!(!valid_name("a_b"));
        assert!(valid_name("web-1"));
    }

    fn target_a() -> Target<'static> {
        static ADDRESS: std::sync::OnceLock<InstanceAddr> = std::sync::OnceLock::new();
        Target {
            address: ADDRESS.get_or_init(|| "instance.a".parse().unwrap()),
            kind: "instance",
            lineage: "L1",
            state: "",
            expires: None,
            base_dir: std::path::Path::new("/"),
        }
    }

    #[test]
    fn limits_and_tag_in_config() {
        let config = Value::map([
            ("type", Value::string("t3.micro")),
            (
                "cloud_init",
                Value::map([(
                    "user_data",
                    Value::string("#cloud-config\nruncmd: [true]\n"),
                )]),
            ),
        ]);
        let target = target_a();
        let keys = managed_config(&config, &target, "a", "ssh-ed25519 AAAA hive", "creating")
            .expect("config");
        assert_eq!(
            keys.get("limits.memory").map(String::as_str),
            Some("1024MiB")
        );
        assert_eq!(keys.get("limits.cpu").map(String::as_str), Some("2"));
        assert_eq!(
            keys.get("user.hive.lineage").map(String::as_str),
            Some("L1")
        );
        let ud = keys
            .get("cloud-init.user-data")
            .cloned()
            .unwrap_or_default();
        assert!(
            ud.contains("ssh-ed25519 AAAA hive") && ud.contains("runcmd"),
            "{ud}"
        );
    }

    #[test]
    fn nics_on_linux_bridges_and_lxd_networks() {
        let config = Value::map([(
            "network",
            Value::List(vec![
                Value::map([
                    (
                        "bridge",
                        Value::map([
                            ("name", Value::string("br0")),
                            ("driver", Value::string("linux")),
                        ]),
                    ),
                    ("ip", Value::string("10.0.0.5")),
                ]),
                Value::map([("bridge", Value::string("lxdbr0"))]),
            ]),
        )]);
        let target = target_a();
        let nics = nic_devices(&config, &target).expect("nics");
        assert_eq!(nics[0].1.get("parent").map(String::as_str), Some("br0"));
        assert_eq!(nics[0].2, Some(("br0".to_string(), "10.0.0.5".to_string())));
        assert_eq!(nics[1].1.get("network").map(String::as_str), Some("lxdbr0"));
        assert!(nics[1]
            .1
            .get("hwaddr")
            .is_some_and(|m| m.starts_with(LXD_OUI)));
    }
}
