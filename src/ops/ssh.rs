//! `hive ssh ADDR`: where and as whom to log into an instance, from the state.

use hive_sdk::value::tagged;
use hive_sdk::{identity, Value};
use hive_state::State;
use std::path::PathBuf;

pub struct Login {
    pub ip: String,
    pub user: String,
    pub key: PathBuf,
}

pub fn login(state: &State, address: &str) -> Result<Login, String> {
    let Some(record) = state.resource(address) else {
        let known: Vec<&str> = state
            .resources
            .keys()
            .map(String::as_str)
            .filter(|a| a.starts_with("instance."))
            .collect();
        let hint = crate::diag::did_you_mean(address, known.iter().copied())
            .map(|h| format!(": {h}"))
            .unwrap_or_else(|| {
                if known.is_empty() {
                    " (the state has no instances)".into()
                } else {
                    format!(" (instances: {})", known.join(", "))
                }
            });
        return Err(format!("no {address} in the state{hint}"));
    };
    if record.kind != "instance" {
        return Err(format!("{address} is a {}, not an instance", record.kind));
    }
    let attributes = tagged::from_json(&record.attributes).unmark_deep().0;
    let field = |name: &str| {
        attributes
            .as_map()
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let ip = field("ip").ok_or_else(|| {
        format!("{address} has no IP address recorded (is it running? wait_for = \"ip\" or \"ssh\" records one)")
    })?;
    let key = identity::private_key_path(&state.lineage);
    if !key.exists() {
        return Err(format!(
            "hive's key for this state is missing ({}); it is made when an instance is created",
            key.display()
        ));
    }
    Ok(Login {
        ip,
        user: field("ssh_user").unwrap_or_else(|| "root".into()),
        key,
    })
}
