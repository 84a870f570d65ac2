//! `hive scan` on an LXD daemon: instances and custom volumes by their `user.hive.*` keys,
//! images by their `hive.*` properties; reaping and re-tagging them.

use crate::api::{Image, Instance, StorageVolume};
use crate::client::{url_part, Client};
use crate::host::{self, Clients};
use crate::{image, instance, lx, volume, Tag};
use hive_sdk::provider::{Found, ProviderError, ReapRequest, RetagRequest, ScanRequest};
use hive_sdk::Value;
use serde_json::json;
use std::collections::BTreeMap;

const INSTANCE: &str = "lxd instance";
const VOLUME: &str = "lxd volume";
const IMAGE: &str = "lxd image";

/// Whether the host has an LXD daemon hive reaches: a local one whose socket exists, or one
/// its `lxd { endpoint }` names. A remote host without one has nothing of LXD's to scan.
fn has_daemon(host: &Value) -> bool {
    let h = host.attr("host");
    let lxd = h.and_then(|h| h.attr("lxd"));
    if lxd.and_then(|l| l.attr_str("endpoint")).is_some() {
        return true;
    }
    if h.and_then(|h| h.attr_str("address")).is_some() {
        return false;
    }
    match lxd.and_then(|l| l.attr_str("socket")) {
        Some(socket) => std::path::Path::new(socket).exists(),
        None => host::default_socket().exists(),
    }
}

pub fn scan(clients: &Clients, request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
    if !has_daemon(request.host) {
        return Ok(Vec::new());
    }
    let client = clients.get(request.host)?;
    let mut found = Vec::new();
    let instances: Vec<Instance> = client
        .get("/1.0/instances?recursion=1")
        .map_err(lx("listing the instances".into()))?;
    for i in instances {
        if let Some(tag) = Tag::of(&i.config) {
            found.push(Found {
                kind: INSTANCE.into(),
                name: i.name.clone(),
                tag: tag.owner(),
                id: i.name,
                order: 0,
                outlives_state: false,
            });
        }
    }
    let pools: Vec<String> = client
        .get("/1.0/storage-pools")
        .map_err(lx("listing the storage pools".into()))?;
    for pool_url in pools {
        let pool = pool_url.rsplit('/').next().unwrap_or_default().to_string();
        let volumes: Vec<StorageVolume> = client
            .get(&format!(
                "/1.0/storage-pools/{}/volumes/custom?recursion=1",
                url_part(&pool)
            ))
            .map_err(lx(format!("listing the volumes of pool {pool}")))?;
        for v in volumes {
            if let Some(tag) = Tag::of(&v.config) {
                found.push(Found {
                    kind: VOLUME.into(),
                    name: format!("{pool}/{}", v.name),
                    tag: tag.owner(),
                    id: format!("{pool}/{}", v.name),
                    order: 1,
                    outlives_state: false,
                });
            }
        }
    }
    let images: Vec<Image> = client
        .get("/1.0/images?recursion=1")
        .map_err(lx("listing the images".into()))?;
    for i in images {
        if let Some(tag) = image_tag(&i.properties) {
            found.push(Found {
                kind: IMAGE.into(),
                name: i.fingerprint.chars().take(12).collect(),
                tag,
                id: i.fingerprint,
                order: 2,
                outlives_state: false,
            });
        }
    }
    Ok(found)
}

/// hive's tag in an image's properties.
pub fn image_tag(properties: &BTreeMap<String, String>) -> Option<hive_sdk::tag::Tag> {
    Some(hive_sdk::tag::Tag {
        lineage: properties.get("hive.lineage")?.clone(),
        state: properties.get("hive.state").cloned().unwrap_or_default(),
        address: properties.get("hive.address")?.clone(),
        expires: hive_sdk::tag::Tag::parse_expires(
            properties.get("hive.expires").map(String::as_str),
        ),
    })
}

/// The image properties of a tag: `None` removes hive's.
fn image_properties(
    mut properties: BTreeMap<String, String>,
    tag: Option<&hive_sdk::tag::Tag>,
) -> BTreeMap<String, String> {
    properties.retain(|k, _| !k.starts_with("hive."));
    if let Some(t) = tag {
        properties.insert("hive.lineage".into(), t.lineage.clone());
        properties.insert("hive.address".into(), t.address.clone());
        if !t.state.is_empty() {
            properties.insert("hive.state".into(), t.state.clone());
        }
        if let Some(e) = t.expires {
            properties.insert("hive.expires".into(), e.to_string());
        }
    }
    properties
}

pub fn reap(clients: &Clients, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
    let client = clients.get(request.host)?;
    let found = request.found;
    // Only what still carries the tag the scan saw: the name may have been taken since.
    match found.kind.as_str() {
        INSTANCE => match instance::get(&client, &found.name)? {
            Some(i) if Tag::of(&i.config).map(|t| t.owner()) == Some(found.tag.clone()) => {
                instance::remove(&client, &i)
            }
            _ => Ok(()),
        },
        VOLUME => {
            let (pool, name) = found.id.split_once('/').unwrap_or(("default", &found.id));
            match client
                .get_opt::<StorageVolume>(&volume::path(pool, name))
                .map_err(lx(format!("reading volume {name} in pool {pool}")))?
            {
                Some(v) if Tag::of(&v.config).map(|t| t.owner()) == Some(found.tag.clone()) => {
                    client
                        .delete(&volume::path(pool, name))
                        .map_err(lx(format!("deleting volume {name} in pool {pool}")))
                }
                _ => Ok(()),
            }
        }
        IMAGE => match image_of(&client, &found.id)? {
            Some(i) if image_tag(&i.properties).as_ref() == Some(&found.tag) => {
                // An image is shared by content: another state's containers may use it.
                let instances: Vec<Instance> = client
                    .get("/1.0/instances?recursion=1")
                    .map_err(lx("listing the instances that may use the image".into()))?;
                let users: Vec<&str> = instances
                    .iter()
                    .filter(|c| c.config.get("volatile.base_image") == Some(&i.fingerprint))
                    .map(|c| c.name.as_str())
                    .collect();
                if !users.is_empty() {
                    return Err(ProviderError::new(format!(
                        "image {} is still used by {}: left",
                        found.name,
                        users.join(", ")
                    )));
                }
                image::remove_unused(&client, vec![i])
            }
            _ => Ok(()),
        },
        other => Err(ProviderError::new(format!("the lxd driver has no {other}"))),
    }
}

fn image_of(client: &Client, fingerprint: &str) -> Result<Option<Image>, ProviderError> {
    client
        .get_opt::<Image>(&format!("/1.0/images/{}", url_part(fingerprint)))
        .map_err(lx(format!("reading image {fingerprint}")))
}

/// Puts the new tag (or none) on a recorded instance, volume or image.
pub fn retag(clients: &Clients, request: &RetagRequest<'_>) -> Result<(), ProviderError> {
    let client = clients.get(request.attributes)?;
    let keys = match request.tag {
        Some(t) => Tag::of_owner(t, "ready").patch(),
        None => Tag::cleared(),
    };
    let id = request.id;
    match request.target.kind {
        "instance" => client
            .json(
                "PATCH",
                &instance::instance_path(id),
                Some(&json!({ "config": keys })),
            )
            .map(|_| ())
            .map_err(lx(format!("re-tagging instance {id}"))),
        "volume" => {
            let Some((pool, name)) = id.split_once('/') else {
                return Ok(());
            };
            client
                .json(
                    "PATCH",
                    &volume::path(pool, name),
                    Some(&json!({ "config": keys })),
                )
                .map(|_| ())
                .map_err(lx(format!("re-tagging volume {name} in pool {pool}")))
        }
        "image" => {
            let Some(i) = image_of(&client, id)? else {
                return Ok(());
            };
            let properties = image_properties(i.properties, request.tag);
            let path = format!("/1.0/images/{}", url_part(id));
            // PATCH merges properties, so a removed one would stay: the whole of what may be
            // put, as it is, with the new properties.
            let now = client
                .json("GET", &path, None)
                .map_err(lx(format!("reading image {id}")))?;
            let mut body = serde_json::Map::new();
            for key in ["auto_update", "public", "expires_at", "profiles"] {
                if let Some(v) = now.get(key) {
                    body.insert(key.into(), v.clone());
                }
            }
            body.insert("properties".into(), json!(properties));
            client
                .json("PUT", &path, Some(&serde_json::Value::Object(body)))
                .map(|_| ())
                .map_err(lx(format!("re-tagging image {id}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_properties_carry_the_tag_and_lose_it() {
        let tag = hive_sdk::tag::Tag {
            lineage: "L".into(),
            state: "/s.json".into(),
            address: "image.debian".into(),
            expires: Some(7),
        };
        let base = BTreeMap::from([("os".to_string(), "Debian".to_string())]);
        let tagged = image_properties(base.clone(), Some(&tag));
        assert_eq!(image_tag(&tagged), Some(tag));
        assert_eq!(tagged.get("os").map(String::as_str), Some("Debian"));
        assert_eq!(image_properties(tagged, None), base);
    }
}
