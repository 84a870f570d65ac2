//! Keeping backend tags true when objects change hands without being made anew: `hive
//! state mv` (another address), `hive state migrate` (another state location), `hive state
//! rm` (no longer hive's: untagged, so `hive scan` never reaps what was released).

use crate::engine::registry::Registry;
use hive_sdk::provider::{ErrorKind, RetagRequest, Target};
use hive_sdk::tag::Tag;
use hive_sdk::value::tagged;
use hive_state::{ResourceState, State};
use std::path::Path;

/// One recorded object and the tag it is to carry (`None`: none).
pub struct Retag<'a> {
    pub record: &'a ResourceState,
    pub tag: Option<Tag>,
}

/// The tag a recorded object of `state` (kept at `location`) carries at `address`.
pub fn tag_for(state: &State, location: &str, address: &hive_sdk::addr::InstanceAddr) -> Tag {
    Tag {
        lineage: state.lineage.clone(),
        state: location.to_string(),
        address: address.to_string(),
        expires: state.expires,
    }
}

/// Asks each object's provider, all at once; returns what failed, one line each. An object
/// the backend no longer has needs no tag.
pub fn retag(
    registry: &Registry,
    dir: &Path,
    lineage: &str,
    old_location: &str,
    items: &[Retag<'_>],
) -> Vec<String> {
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .iter()
            .map(|item| {
                scope.spawn(move || {
                    let r = item.record;
                    let Some(provider) = registry.get(&r.kind, &r.driver) else {
                        return Ok(());
                    };
                    let attributes = tagged::from_json(&r.attributes).unmark_deep().0;
                    let request = RetagRequest {
                        target: Target {
                            address: &r.address,
                            kind: &r.kind,
                            lineage,
                            state: old_location,
                            expires: None,
                            base_dir: dir,
                        },
                        id: r.id.as_deref().unwrap_or_default(),
                        attributes: &attributes,
                        tag: item.tag.as_ref(),
                    };
                    match provider.retag(&request) {
                        Err(e) if e.kind != ErrorKind::NotFound => {
                            Err(format!("{}: {}", r.address, e.message))
                        }
                        _ => Ok(()),
                    }
                })
            })
            .collect();
        running
            .into_iter()
            .filter_map(|r| match r.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("a provider failed while re-tagging".into()),
            })
            .collect()
    })
}
