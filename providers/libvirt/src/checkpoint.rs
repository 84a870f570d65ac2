//! `hive checkpoint` for libvirt guests. libvirt 9.0 cannot revert external snapshots and
//! internal ones need qcow2 disks throughout, so a checkpoint is hive's own: a running guest's
//! memory saved by libvirt's managed save (the guest stops, its memory goes to a file) and
//! copied, copies of its disks (reflinks where the file system has them), and the guest
//! started again from its memory; a restore puts the disks back and restores the memory, so
//! the guest runs on from the moment it was saved. All of it under hive's directory on the
//! guest's host.

use crate::host::{Connections, Host, Site};
use crate::{lv, xml};
use hive_sdk::provider::{CheckpointAction, CheckpointRequest, ProviderError};
use std::path::{Path, PathBuf};

/// virDomainXMLFlags: the definition, not the running guest's.
const XML_INACTIVE: u32 = 2;

/// Where libvirt keeps a domain's managed save image (qemu:///system).
fn managed_image(domain: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/libvirt/qemu/save/{domain}.save"))
}

fn copy(site: &Site, from: &Path, to: &Path) -> Result<(), ProviderError> {
    site.exec()
        .check(
            &[
                "cp",
                "--reflink=auto",
                "--sparse=always",
                "--",
                &from.to_string_lossy(),
                &to.to_string_lossy(),
            ],
            None,
        )
        .map(drop)
        .map_err(|e| {
            ProviderError::new(format!(
                "copying {} to {}: {e}",
                from.display(),
                to.display()
            ))
        })
}

/// Waits until a guest that runs on from its saved memory answers on its SSH port again (its
/// tap is new on the bridge, which takes a moment), so the command returns a usable cluster.
/// Only a guest on this machine is looked at: a remote host's bridge is not reachable here.
fn wait_for_guest(
    site: &Site,
    attributes: &hive_sdk::Value,
    name: &str,
) -> Result<(), ProviderError> {
    let Some(ip) = attributes.attr_str("ip").filter(|_| site.ssh.is_none()) else {
        return Ok(());
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !hive_sdk::guest::ssh_port_open(ip) {
        if std::time::Instant::now() >= deadline {
            return Err(ProviderError::new(format!(
                "{name} runs again but does not answer on {ip}:22 after 60 s"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

pub fn checkpoint(
    connections: &Connections,
    request: &CheckpointRequest<'_>,
) -> Result<String, ProviderError> {
    let attributes = request.attributes;
    let site = connections.get(&Host::of(attributes))?;
    let name = attributes.attr_str("name").ok_or_else(|| {
        ProviderError::new(format!(
            "{} has no domain name recorded",
            request.target.address
        ))
    })?;
    let dir = site
        .data_dir
        .join("checkpoints")
        .join(request.name)
        .join(name);
    let memory = dir.join("memory.save");
    let failed = |e: String| ProviderError::new(e);
    if request.action == CheckpointAction::Delete {
        return site
            .exec()
            .check(&["rm", "-rf", "--", &dir.to_string_lossy()], None)
            .map(|_| "removed".to_string())
            .map_err(failed);
    }
    let domain = site
        .conn
        .lookup_domain_by_name(name)
        .map_err(lv(format!("looking up domain {name}")))?;
    let facts = domain
        .xml_desc(XML_INACTIVE)
        .map_err(lv(format!("reading domain {name}")))
        .and_then(|x| xml::parse_domain(&x).map_err(ProviderError::new))?;
    // Each disk's copy, by its place in the definition (two disks may share a file name).
    let copies: Vec<(PathBuf, PathBuf)> = facts
        .disks
        .iter()
        .enumerate()
        .map(|(i, disk)| {
            let file = Path::new(disk)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            (PathBuf::from(disk), dir.join(format!("disk{i}-{file}")))
        })
        .collect();
    let running = domain.is_active().unwrap_or(false);
    match request.action {
        CheckpointAction::Save => {
            site.files.create_dir_all(&dir).map_err(failed)?;
            if running {
                domain
                    .managed_save(0)
                    .map_err(lv(format!("saving the memory of {name}")))?;
            }
            let copied = copies
                .iter()
                .try_for_each(|(disk, copy_to)| copy(&site, disk, copy_to))
                .and_then(|()| {
                    if running {
                        copy(&site, &managed_image(name), &memory)
                    } else {
                        Ok(())
                    }
                });
            // The guest runs on from its memory, whatever the copies did.
            if running {
                domain
                    .create()
                    .map_err(lv(format!("starting {name} again from its saved memory")))?;
            }
            copied?;
            if running {
                wait_for_guest(&site, attributes, name)?;
            }
            Ok(if running {
                "disks and memory".into()
            } else {
                "disks (it was not running)".into()
            })
        }
        CheckpointAction::Restore => {
            if running {
                domain
                    .destroy()
                    .map_err(lv(format!("stopping {name} to restore it")))?;
            }
            let _ = domain.managed_save_remove(0);
            for (disk, saved) in &copies {
                copy(&site, saved, disk)?;
            }
            if site.files.exists(&memory) {
                site.conn
                    .restore_domain(&memory.to_string_lossy())
                    .map_err(lv(format!("restoring the memory of {name}")))?;
                wait_for_guest(&site, attributes, name)?;
                Ok("disks and memory".into())
            } else {
                Ok("disks".into())
            }
        }
        CheckpointAction::Delete => Ok("removed".into()),
    }
}
