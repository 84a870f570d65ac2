//! hive's multipass provider: `instance` with `driver = "multipass"`, through the `multipass`
//! CLI a host names (`host { multipass { path } }`, default `multipass` on PATH), with
//! `--format json` wherever it has it.
//!
//! multipass keeps no metadata of its own: hive recognises its instances by a file its
//! cloud-init part writes, `/etc/hive/instance` (the state's lineage and the address), read
//! with `multipass exec`. An instance of the name without that file, or with another state's,
//! is not hive's and is never touched. What hive cannot know: an instance whose cloud-init
//! never ran (the file is missing) is treated as someone else's.
//!
//! Tested against a stand-in of the CLI on LXD (`tests/support/multipass`): multipass
//! installs only as a snap, which the test machines cannot run.

pub mod cli;

use cli::{binary, info, must, Info};
use hive_sdk::problem::Problem;
use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, KindSpec, Login, LoginRequest, PlanRequest,
    PlanResponse, Provider, ProviderError, ReadRequest, ReadResponse, Target,
};
use hive_sdk::schema::{block, optional, schema, Nesting, Schema};
use hive_sdk::{Type, Value};

/// Where an instance's tag is.
const TAG_FILE: &str = "/etc/hive/instance";

pub struct MultipassProvider;

/// The instance's name: `name`, else made from its address.
fn name_from(config: &Value, address: &hive_sdk::addr::InstanceAddr) -> String {
    config
        .attr_str("name")
        .map_or_else(|| hive_sdk::addr::backend_name(address), str::to_string)
}

fn name_of(config: &Value, target: &Target<'_>) -> String {
    name_from(config, target.address)
}

fn tag(target: &Target<'_>) -> String {
    format!("{} {}\n", target.lineage, target.address)
}

/// Whether the instance `name` carries this target's tag. cloud-init writes it: while
/// cloud-init still runs (a launch that timed out, or is still going), it is waited for
/// (bounded) before the answer is taken.
fn is_ours(binary: &str, name: &str, target: &Target<'_>) -> bool {
    let read = || {
        cli::run(binary, &["exec", name, "--", "cat", TAG_FILE])
            .is_ok_and(|ran| ran.code == 0 && ran.stdout == tag(target))
    };
    if read() {
        return true;
    }
    let waited = cli::run(
        binary,
        &[
            "exec",
            name,
            "--",
            "timeout",
            "300",
            "cloud-init",
            "status",
            "--wait",
        ],
    );
    waited.is_ok() && read()
}

/// multipass's sizes (`1024M`): from the configuration's.
fn megabytes(bytes: u64) -> String {
    format!("{}M", bytes >> 20)
}

fn disk_of(config: &Value) -> Result<Option<u64>, ProviderError> {
    config
        .attr("disk")
        .and_then(|d| d.attr_str("size"))
        .map(hive_sdk::units::parse_size)
        .transpose()
        .map_err(|e| ProviderError::new(format!("disk size: {e}")))
}

/// The configuration with what multipass says of the instance.
fn state_of(config: &Value, name: &str, info: &Info) -> ApplyResponse {
    let mut state = config.as_map().cloned().unwrap_or_default();
    state.insert("id".into(), Value::string(name));
    state.insert("name".into(), Value::string(name));
    state.insert(
        "ip".into(),
        info.ipv4.first().map_or(Value::Null, Value::string),
    );
    state.insert(
        "ips".into(),
        Value::List(info.ipv4.iter().map(Value::string).collect()),
    );
    ApplyResponse {
        state: Value::Map(state),
        id: name.to_string(),
    }
}

fn create(request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let target = &request.target;
    let bin = binary(config);
    let name = name_of(config, target);
    if let Some(found) = settled(request, &bin, &name)? {
        // Left by an apply that crashed, or deleted (not purged) or stopped outside hive: its
        // tag is read from the running guest (recovering keeps what its disk holds). One that
        // is not this one's is put back as it was.
        let deleted = found.state == "Deleted";
        if deleted {
            must(&bin, &["recover", &name], &format!("recovering {name}"))?;
        }
        let stopped = info(&bin, &name)?.is_some_and(|i| i.state != "Running");
        if stopped {
            must(
                &bin,
                &["start", &name],
                &format!("starting {name} to read its tag"),
            )?;
        }
        if !is_ours(&bin, &name, target) {
            if stopped {
                let _ = cli::run(&bin, &["stop", &name]);
            }
            if deleted {
                let _ = cli::run(&bin, &["delete", &name]);
            }
            return Err(ProviderError::new(format!(
                "a multipass instance named {name} already exists and is not this one's (it has no hive tag of this state at {TAG_FILE}); give the instance another name, or hive import it"
            )));
        }
        return update(request);
    }
    let (_, public_key) = hive_sdk::identity::ensure(target.lineage).map_err(ProviderError::new)?;
    let mut user_data =
        hive_sdk::cloud_init::UserData::from_config(config.attr("cloud_init"), &name, &public_key);
    user_data.files.push((TAG_FILE.to_string(), tag(target)));
    let dir = hive_sdk::identity::data_dir().join("multipass");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ProviderError::new(format!("creating {}: {e}", dir.display())))?;
    let seed = dir.join(format!("{name}-{}.yaml", std::process::id()));
    std::fs::write(&seed, user_data.render())
        .map_err(|e| ProviderError::new(format!("writing {}: {e}", seed.display())))?;
    let (cpus, mib) = hive_sdk::guest::sizing(config).map_err(|p| ProviderError::new(p.message))?;
    let (_, timeout) = hive_sdk::guest::wait_settings(config)?;
    let mut args: Vec<String> = vec!["launch".into()];
    if let Some(image) = config.attr_str("image") {
        args.push(image.to_string());
    }
    args.extend([
        "-n".into(),
        name.clone(),
        "-c".into(),
        cpus.to_string(),
        "-m".into(),
        format!("{mib}M"),
        "--cloud-init".into(),
        seed.display().to_string(),
        "--timeout".into(),
        timeout.as_secs().max(1).to_string(),
    ]);
    if let Some(disk) = disk_of(config)? {
        args.extend(["-d".into(), megabytes(disk)]);
    }
    for nic in config
        .attr("network")
        .and_then(Value::as_items)
        .unwrap_or_default()
    {
        let bridge = nic
            .attr("bridge")
            .and_then(|b| b.attr_str("name").or(b.as_str()));
        if let Some(bridge) = bridge {
            args.extend(["--network".into(), format!("name={bridge}")]);
        }
    }
    (request.progress)("launching (multipass waits for cloud-init)");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let launched = must(&bin, &argv, &format!("launching {name}"));
    let _ = std::fs::remove_file(&seed);
    launched?;
    if !hive_sdk::guest::power_wanted(config) {
        must(&bin, &["stop", &name], &format!("stopping {name}"))?;
    }
    let now = wait(request, &bin, &name)?;
    Ok(state_of(config, &name, &now))
}

/// The instance `name` once no launch is making it: multipassd finishes a launch whose client
/// went away (an apply killed mid-launch), and only then does its tag say whose it is.
fn settled(
    request: &ApplyRequest<'_>,
    bin: &str,
    name: &str,
) -> Result<Option<Info>, ProviderError> {
    let (_, timeout) = hive_sdk::guest::wait_settings(request.config)?;
    let deadline = std::time::Instant::now() + timeout;
    let mut said = false;
    loop {
        let found = info(bin, name)?;
        if found.as_ref().is_none_or(|i| i.state != "Starting") {
            return Ok(found);
        }
        if request.cancel.is_cancelled() || std::time::Instant::now() >= deadline {
            return Err(ProviderError::new(format!(
                "{name} is still Starting after {} s: another launch of it has not finished",
                timeout.as_secs()
            )));
        }
        if !said {
            (request.progress)("an earlier launch of this name is still running: waiting for it");
            said = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// What `wait_for` asks beyond what `launch` waited for (cloud-init): an address, an SSH
/// login with hive's key, or cloud-init's own word through `multipass exec`.
fn wait(request: &ApplyRequest<'_>, bin: &str, name: &str) -> Result<Info, ProviderError> {
    use hive_sdk::guest::{poll, timed_wait, wait_settings, Look, WaitFor};
    let (what, timeout) = wait_settings(request.config)?;
    let (key, _) =
        hive_sdk::identity::ensure(request.target.lineage).map_err(ProviderError::new)?;
    let user = hive_sdk::guest::ssh_user(request.config).to_string();
    timed_wait(what, request.progress, || {
        poll(
            name,
            what,
            timeout,
            std::time::Duration::from_millis(200),
            request.cancel,
            String::new,
            |_| {
                let now = info(bin, name)?.ok_or_else(|| {
                    ProviderError::new(format!("multipass launched {name} but does not show it"))
                })?;
                let ip = now.ipv4.first().cloned();
                Ok(match (what, ip) {
                    (WaitFor::Ip | WaitFor::Ssh, None) => {
                        Look::NotYet(format!("{} without an address", now.state))
                    }
                    (WaitFor::Ssh, Some(ip)) => {
                        match hive_sdk::guest::ssh_login(&ip, &user, &key) {
                            Ok(()) => Look::Done(now),
                            Err(e) => Look::NotYet(format!("SSH to {ip}: {e}")),
                        }
                    }
                    // launch waits for cloud-init, but an adopted or restarted instance
                    // may still be running it.
                    (WaitFor::CloudInit, _) if now.state != "Running" => {
                        Look::NotYet(now.state.clone())
                    }
                    (WaitFor::CloudInit, _) => {
                        let ran = cli::run(bin, &["exec", name, "--", "cloud-init", "status"])?;
                        let said = format!("{}{}", ran.stdout, ran.stderr);
                        match hive_sdk::guest::cloud_init_outcome(ran.code, &said) {
                            Some(Ok(())) => Look::Done(now),
                            Some(Err(e)) => return Err(ProviderError::new(format!("{name}: {e}"))),
                            None => Look::NotYet(format!("cloud-init: {}", said.trim())),
                        }
                    }
                    _ => Look::Done(now),
                })
            },
        )
    })
}

/// Sizes multipass changes on a stopped instance (`set local.NAME.*`, the disk only
/// growing), and the power state.
fn update(request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
    let config = request.config;
    let bin = binary(config);
    let name = request
        .prior
        .and_then(|p| p.attr_str("id"))
        .map(str::to_string)
        .unwrap_or_else(|| name_of(config, &request.target));
    let now = info(&bin, &name)?
        .ok_or_else(|| ProviderError::not_found(format!("multipass instance {name} is gone")))?;
    let (cpus, mib) = hive_sdk::guest::sizing(config).map_err(|p| ProviderError::new(p.message))?;
    // What the instance has: as recorded (multipass shows no sizes of a stopped instance),
    // else as multipass shows them (an instance adopted after a crash).
    let recorded = request.prior.and_then(|p| hive_sdk::guest::sizing(p).ok());
    let (have_cpus, have_mib) = match recorded {
        Some((c, m)) => (Some(u64::from(c)), Some(m)),
        None => (now.cpus, now.memory.map(|m| m >> 20)),
    };
    let have_disk = match request.prior {
        Some(p) => disk_of(p)?,
        None => now.disk,
    };
    let mut settings: Vec<(&str, String)> = Vec::new();
    if have_cpus.is_some_and(|c| c != u64::from(cpus)) {
        settings.push(("cpus", cpus.to_string()));
    }
    if have_mib.is_some_and(|m| m != mib) {
        settings.push(("memory", format!("{mib}M")));
    }
    if let (Some(want), Some(have)) = (disk_of(config)?, have_disk) {
        if want > have {
            settings.push(("disk", megabytes(want)));
        }
    }
    if !settings.is_empty() && now.state == "Running" {
        must(
            &bin,
            &["stop", &name],
            &format!("stopping {name} to resize it"),
        )?;
    }
    for (key, value) in &settings {
        let setting = format!("local.{name}.{key}");
        must(
            &bin,
            &["set", &setting, value],
            &format!("setting {setting}"),
        )?;
    }
    let running = info(&bin, &name)?.is_some_and(|i| i.state == "Running");
    if hive_sdk::guest::power_wanted(config) && !running {
        must(&bin, &["start", &name], &format!("starting {name}"))?;
    } else if !hive_sdk::guest::power_wanted(config) && running {
        must(&bin, &["stop", &name], &format!("stopping {name}"))?;
    }
    let now = wait(request, &bin, &name)?;
    Ok(state_of(config, &name, &now))
}

fn read(request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
    let prior = request.prior;
    let bin = binary(prior);
    let name = if request.id.is_empty() {
        name_of(prior, &request.target)
    } else {
        request.id.to_string()
    };
    let Some(now) = info(&bin, &name)? else {
        return Ok(ReadResponse::Gone);
    };
    if now.state == "Deleted" {
        return Ok(ReadResponse::Gone);
    }
    // A create that failed before recording the name: the instance of that name is this one
    // only if it has this tag (else it is someone else's, and this one does not exist).
    if request.id.is_empty() && !is_ours(&bin, &name, &request.target) {
        return Ok(ReadResponse::Gone);
    }
    let mut state = state_of(prior, &name, &now).state;
    if let Value::Map(entries) = &mut state {
        let running = now.state == "Running";
        if running != hive_sdk::guest::power_wanted(prior) {
            entries.insert(
                "power".into(),
                Value::string(if running { "running" } else { "stopped" }),
            );
        }
        if running {
            if let (Some(cpus), Ok((want, _))) = (now.cpus, hive_sdk::guest::sizing(prior)) {
                if cpus != u64::from(want) {
                    entries.insert("cpus".into(), Value::Number(cpus as f64));
                }
            }
        }
    }
    Ok(ReadResponse::Found(state))
}

fn delete(request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
    let bin = binary(request.prior);
    let name = if request.id.is_empty() {
        name_of(request.prior, &request.target)
    } else {
        request.id.to_string()
    };
    if info(&bin, &name)?.is_none() {
        return Ok(());
    }
    // A create that failed before recording the name: only an instance with this tag.
    if request.id.is_empty() && !is_ours(&bin, &name, &request.target) {
        return Ok(());
    }
    must(
        &bin,
        &["delete", "--purge", &name],
        &format!("deleting {name}"),
    )
    .map(|_| ())
}

fn login(request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
    let attributes = request.attributes;
    let why = match attributes.attr_str("ip") {
        Some(ip) if hive_sdk::guest::ssh_port_open(ip) => {
            return hive_sdk::guest::ssh_login_to(request, true)
        }
        Some(ip) => format!("nothing answers on port 22 of {ip}"),
        None => "it has no IP address recorded".to_string(),
    };
    let name = attributes.attr_str("id").ok_or_else(|| {
        ProviderError::new(format!(
            "{} has no multipass name recorded",
            request.target.address
        ))
    })?;
    Ok(Login::Exec {
        program: binary(attributes),
        args: vec!["exec".into(), name.to_string(), "--".into()],
        env: Vec::new(),
        shell: vec!["sh".into(), "-l".into()],
        why: format!("{why}; using multipass exec"),
    })
}

/// The binary answers and its daemon too: `multipass version --format json` names both.
fn check_binary(config: &Value) -> Result<(), String> {
    let bin = binary(config);
    let ran = cli::run(&bin, &["version", "--format", "json"]).map_err(|e| e.message)?;
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_default();
    if ran.code != 0 || json.get("multipassd").is_none() {
        return Err(format!(
            "the multipass daemon does not answer ({bin} version: {})",
            if ran.stderr.is_empty() {
                "no multipassd version"
            } else {
                &ran.stderr
            }
        ));
    }
    Ok(())
}

/// The image is one multipass can launch, where that can be known before launching: a file
/// must be there, a release or alias must be one `multipass find` knows. A URL is known only
/// when multipass fetches it.
fn check_image(config: &Value) -> Option<Problem> {
    let image = config.attr_str("image")?;
    if let Some(path) = image.strip_prefix("file://") {
        return (!std::path::Path::new(path).is_file()).then(|| {
            Problem::at(
                "image",
                format!("image = \"{image}\": no such file on the host"),
            )
        });
    }
    if image.starts_with("http://") || image.starts_with("https://") {
        return None;
    }
    let bin = binary(config);
    let ran = match cli::run(&bin, &["find", image, "--format", "json"]) {
        Ok(ran) => ran,
        Err(e) => return Some(Problem::at("host", e.message)),
    };
    let known = ran.code == 0
        && serde_json::from_str::<serde_json::Value>(&ran.stdout)
            .ok()
            .and_then(|j| {
                j.get("images")
                    .and_then(|i| i.as_object())
                    .map(|i| !i.is_empty())
            })
            .unwrap_or(false);
    (!known).then(|| {
        Problem::at(
            "image",
            format!(
                "image = \"{image}\": multipass has no such image ({}); `multipass find` lists those it has",
                if ran.stderr.is_empty() { "find found none" } else { &ran.stderr }
            ),
        )
    })
}

impl Provider for MultipassProvider {
    fn driver(&self) -> &'static str {
        "multipass"
    }

    fn kinds(&self) -> Vec<KindSpec> {
        vec![KindSpec {
            kind: "instance",
            schema: hive_sdk::guest::instance_schema(),
            default_driver: false,
        }]
    }

    fn host_settings(&self) -> Schema {
        schema(
            vec![],
            vec![block(
                "multipass",
                Nesting::Single,
                schema(
                    vec![optional("path", Type::String)
                        .about("the multipass binary (default: multipass on PATH)")],
                    vec![],
                ),
            )],
        )
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<Problem> {
        // multipass gives every instance a NIC of its own: a wait for an address needs no
        // network block.
        let mut with_nic = config.clone();
        if let Value::Map(entries) = &mut with_nic {
            let none = entries
                .get("network")
                .is_none_or(|n| n.is_null() || n.as_items().is_some_and(<[Value]>::is_empty));
            if none {
                entries.insert(
                    "network".into(),
                    Value::List(vec![Value::map([("bridge", Value::Null)])]),
                );
            }
        }
        let mut problems = hive_sdk::guest::validate(&with_nic, false);
        if let Ok((_, mib)) = hive_sdk::guest::sizing(config) {
            if mib < 128 {
                problems.push(Problem::at(
                    "memory",
                    format!("memory = {mib}MiB: multipass needs at least 128M"),
                ));
            }
        }
        if let Ok(Some(disk)) = disk_of(config) {
            if disk < 512 << 20 {
                problems.push(
                    Problem::at("disk", "disk size: multipass needs at least 512M").then("size"),
                );
            }
        }
        if let Some(name) = config.attr_str("name") {
            let fine = name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !name.ends_with('-');
            if !fine {
                problems.push(Problem::at(
                    "name",
                    format!("name = \"{name}\": multipass takes letters, digits and '-', beginning with a letter, at most 63"),
                ));
            }
        }
        if config
            .attr("attach")
            .and_then(Value::as_items)
            .is_some_and(|a| !a.is_empty())
        {
            problems.push(Problem::at("attach", "multipass instances take no volumes"));
        }
        problems
    }

    fn check_environment(&self, _target: &Target<'_>, config: &Value) -> Vec<Problem> {
        match check_binary(config) {
            Ok(()) => check_image(config).into_iter().collect(),
            Err(e) => vec![Problem::at("host", e)],
        }
    }

    fn plan(
        &self,
        request: &PlanRequest<'_>,
        mut proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        let Some(prior) = request.prior else {
            return Ok(proposal);
        };
        let sizes = |v: &Value| hive_sdk::guest::sizing(v).ok();
        if sizes(prior) != sizes(request.config) {
            proposal
                .notes
                .push("restarts the instance (multipass resizes it stopped)".into());
        }
        let disk = |v: &Value| disk_of(v).ok().flatten();
        if let (Some(before), Some(after)) = (disk(prior), disk(request.config)) {
            if after < before && !proposal.requires_replace.iter().any(|a| a == "disk") {
                proposal.requires_replace.push("disk".into());
            }
        }
        Ok(proposal)
    }

    fn backend_name(
        &self,
        _kind: &str,
        address: &hive_sdk::addr::InstanceAddr,
        config: &Value,
    ) -> Option<String> {
        Some(name_from(config, address))
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        create(request)
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        update(request)
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        read(request)
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        delete(request)
    }

    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        login(request)
    }

    /// Adopts an instance made with `multipass launch`: tagged now, so a later create after
    /// a crash recognises it.
    fn import(
        &self,
        target: &Target<'_>,
        id: &str,
        config: &Value,
    ) -> Result<Value, ProviderError> {
        let bin = binary(config);
        let found = info(&bin, id)?
            .ok_or_else(|| ProviderError::not_found(format!("multipass has no instance {id}")))?;
        if found.state == "Running" {
            let script = format!(
                "mkdir -p /etc/hive && printf '%s' '{}' > {TAG_FILE}",
                tag(target).replace('\'', "")
            );
            must(
                &bin,
                &["exec", id, "--", "sh", "-c", &script],
                &format!("tagging {id}"),
            )?;
        }
        let mut state = state_of(config, id, &found).state;
        if let Value::Map(entries) = &mut state {
            if let Some(cpus) = found.cpus {
                entries.insert("cpus".into(), Value::Number(cpus as f64));
            }
        }
        Ok(state)
    }
}
