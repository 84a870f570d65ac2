//! Checks of the configuration that need providers but change nothing: each provider's own
//! validation, what it finds on the host (a name already taken), and checks across
//! resources (two bridges on one host with overlapping subnets). `hive validate` and
//! `hive plan` both run them, before anything is made.

use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use crate::engine::registry::{driver_of, Registry};
use crate::lang::walk::Evaluated;
use hive_sdk::Value;

/// `per_instance`: also each provider's `validate` (the planner runs it itself).
pub fn check_resources(
    config: &Config,
    evaluated: &Evaluated,
    registry: &Registry,
    per_instance: bool,
    diags: &mut Diagnostics,
) {
    let mut subnets: Vec<(String, String, (std::net::Ipv4Addr, u8), String)> = Vec::new();
    // (address, host, name) of bridges with an explicit name.
    let mut names: Vec<(String, String, String)> = Vec::new();
    for (addr, value) in evaluated.instances() {
        let Some(resource) = config.resources.get(&addr.resource) else {
            continue;
        };
        let kind = addr.resource.kind.as_str();
        let driver = driver_of(kind, value);
        let Some(provider) = registry.get(kind, &driver) else {
            continue;
        };
        // Plans of thousands of instances pass here: copy a value only to unmark secrets.
        let unmarked;
        let plain = if value.contains_sensitive() {
            unmarked = value.clone().unmark_deep().0;
            &unmarked
        } else {
            value
        };
        let address = addr.to_string();
        let mut problems = if per_instance {
            provider.validate(kind, plain)
        } else {
            Vec::new()
        };
        problems.extend(provider.check_environment(kind, &address, plain));
        for problem in problems {
            let at = place_of(&resource.body, &problem).unwrap_or_else(|| resource.span.clone());
            diags.push(Diagnostic::error(format!("{address}: {problem}")).at(at));
        }
        if kind == "bridge" {
            if let Some(name) = field(plain, "name") {
                let host = host_of(plain);
                if let Some((other, _, _)) = names.iter().find(|(_, h, n)| *h == host && *n == name)
                {
                    let at =
                        place_of(&resource.body, "name").unwrap_or_else(|| resource.span.clone());
                    diags.push(
                        Diagnostic::error(format!(
                            "{address}: name \"{name}\" is already {other}'s on the same host"
                        ))
                        .at(at),
                    );
                }
                names.push((address.clone(), host, name));
            }
            let cidr = field(plain, "cidr");
            if let Some(subnet) = cidr
                .as_deref()
                .and_then(hive_sdk::net::split_cidr)
                .filter(|s| s.1 <= 32)
            {
                let host = host_of(plain);
                if let Some((other, _, _, other_cidr)) = subnets
                    .iter()
                    .find(|(_, h, s, _)| *h == host && hive_sdk::net::overlap(*s, subnet))
                {
                    let at =
                        place_of(&resource.body, "cidr").unwrap_or_else(|| resource.span.clone());
                    diags.push(
                        Diagnostic::error(format!(
                            "{address}: cidr {} overlaps {other}'s {other_cidr} on the same host",
                            cidr.unwrap_or_default()
                        ))
                        .at(at)
                        .help("give each bridge on a host its own subnet"),
                    );
                }
                subnets.push((
                    address,
                    host,
                    subnet,
                    field(plain, "cidr").unwrap_or_default(),
                ));
            }
        }
    }
}

/// The attribute a provider's message is about (it starts with its name: `cidr = ...`,
/// `dhcp range ...`), where it is written.
fn place_of(body: &crate::config::Body, problem: &str) -> Option<crate::diag::Span> {
    let first = problem.split([' ', ':']).next()?;
    if let Some(attr) = body.attributes.get(first) {
        return Some(attr.expr.span());
    }
    let block = body.blocks.iter().find(|b| b.name == first)?;
    let second = problem.split([' ', ':']).nth(1).unwrap_or_default();
    Some(
        block
            .body
            .attributes
            .get(second)
            .map_or_else(|| block.span.clone(), |a| a.expr.span()),
    )
}

fn field(v: &Value, name: &str) -> Option<String> {
    v.as_map()
        .and_then(|m| m.get(name))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Which machine a resource is on: its host's address, or this one.
fn host_of(v: &Value) -> String {
    v.as_map()
        .and_then(|m| m.get("host"))
        .and_then(|h| field(h, "address"))
        .unwrap_or_else(|| "local".into())
}
