//! What a domain is made of: its NICs (with their reservations), disks and the domain XML
//! built from an instance's configuration.

use super::{console_path, root_disk_name, QEMU_OUI};
use crate::host::{Host, Site};
use crate::lv;
use crate::pool::Pool;
use crate::seed::Seed;
use crate::xml::{self, Boot, Disk, DomainSpec, Nic, NicSource, Tag};
use hive_sdk::addr::InstanceAddr;
use hive_sdk::cloud_init::UserData;
use hive_sdk::guest::{sizing, stable_mac};
use hive_sdk::provider::{ApplyRequest, ProviderError};
use hive_sdk::units::parse_size;
use hive_sdk::Value;
use std::path::Path;

/// The NICs of the configuration: (NIC, fixed IP, libvirt network for the reservation).
fn nics(
    site: &Site,
    config: &Value,
    lineage: &str,
    address: &InstanceAddr,
) -> Result<Vec<(Nic, Option<String>)>, ProviderError> {
    let blocks = config
        .attr("network")
        .and_then(Value::as_items)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let bridge = block.attr("bridge");
        let source = match bridge {
            Some(b) if b.as_map().is_some() => {
                let name = b.attr_str("name").unwrap_or_default().to_string();
                match b.attr_str("driver") {
                    Some("libvirt") => NicSource::Network(name),
                    _ => NicSource::Bridge(name),
                }
            }
            // A name: a libvirt network, else a bridge device, that exists on the host.
            Some(b) => {
                let name = b.as_str().unwrap_or_default().to_string();
                if site.conn.lookup_network_by_name(&name).is_ok() {
                    NicSource::Network(name)
                } else if site
                    .files
                    .exists(&Path::new("/sys/class/net").join(&name).join("bridge"))
                {
                    NicSource::Bridge(name)
                } else {
                    return Err(ProviderError::new(format!(
                        "network {i}: no libvirt network or bridge named {name:?} on {}",
                        site.uri
                    )));
                }
            }
            None => NicSource::Network("default".into()),
        };
        let mac = block
            .attr_str("mac")
            .map(str::to_lowercase)
            .unwrap_or_else(|| stable_mac(QEMU_OUI, lineage, &address.to_string(), i));
        let model = block.attr_str("model").unwrap_or("virtio").to_string();
        let ip = block.attr_str("ip").map(str::to_string);
        out.push((Nic { source, mac, model }, ip));
    }
    Ok(out)
}

/// Everything needed to define the domain, with the files it uses made in the pool.
pub(super) struct Built {
    pub spec: DomainSpec,
    pub reservations: Vec<(String, String, String)>,
}

/// `image`: the instance's image as its host has it ([`crate::image::on_host`]).
pub(super) fn build(
    site: &Site,
    pool: &Pool<'_>,
    image: &Value,
    request: &ApplyRequest<'_>,
    name: &str,
    host: &Host,
    public_key: &str,
) -> Result<Built, ProviderError> {
    let config = request.config;
    let (vcpus, memory_mib) = sizing(config).map_err(ProviderError::new)?;
    let disk_size = config
        .attr("disk")
        .and_then(|d| d.attr_str("size"))
        .map(parse_size)
        .transpose()
        .map_err(|e| ProviderError::new(format!("disk size: {e}")))?;
    let mut disks = Vec::new();
    let mut boot = Boot {
        kernel: None,
        initrd: None,
        cmdline: None,
    };
    let root = root_disk_name(name);
    // Direct kernel boot when the image brings a kernel; the root disk is an overlay of the
    // image's disk, or blank when the image is only a kernel and a disk size is asked for.
    boot.kernel = image.attr_str("kernel_path").map(str::to_string);
    boot.initrd = image.attr_str("initrd_path").map(str::to_string);
    boot.cmdline = image.attr_str("cmdline").map(str::to_string);
    if image.attr_str("format") == Some("kernel") {
        if let Some(size) = disk_size {
            ensure_volume(site, pool, &root, size, None)?;
            disks.push(root_disk(pool, &root));
        }
    } else {
        let path = image.attr_str("path").unwrap_or_default();
        let format = crate::image::detect_format(&*site.files, Path::new(path));
        let image_size = image.attr("size").and_then(Value::as_number).unwrap_or(0.0) as u64;
        let size = disk_size.unwrap_or(0).max(image_size);
        ensure_volume(site, pool, &root, size, Some((path, format)))?;
        disks.push(root_disk(pool, &root));
    }
    for (i, volume) in config
        .attr("attach")
        .and_then(Value::as_items)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = volume.attr_str("path").ok_or_else(|| {
            ProviderError::new(format!("attach[{i}] is not a volume with a path"))
        })?;
        disks.push(Disk {
            path: path.to_string(),
            format: "qcow2".into(),
            target: String::new(),
        });
    }
    for (i, d) in disks.iter_mut().enumerate() {
        d.target = disk_target(i);
    }
    let cloud = config.attr("cloud_init");
    let seed = Seed {
        instance_id: name.to_string(),
        cloud: UserData::from_config(cloud, name, public_key),
        network_config: cloud
            .and_then(|c| c.attr_str("network_config"))
            .map(str::to_string),
    };
    let seed_path = seed.write(pool, name)?;
    crate::scan::record_file(site, &seed.volume_name(name), &request.target)?;
    crate::scan::record_file(site, &super::root_disk_name(name), &request.target)?;
    let mut reservations = Vec::new();
    let mut nic_list = Vec::new();
    for (nic, ip) in nics(site, config, request.target.lineage, request.target.address)? {
        let (NicSource::Network(net) | NicSource::Bridge(net)) = &nic.source;
        if let Some(ip) = ip {
            reservations.push((net.clone(), nic.mac.clone(), ip));
        }
        nic_list.push(nic);
    }
    let console = console_path(site, name);
    Ok(Built {
        spec: DomainSpec {
            name: name.to_string(),
            uuid: None,
            domain_type: host.accel.domain_type().to_string(),
            memory_mib,
            vcpus,
            boot,
            disks,
            seed: Some(seed_path.to_string_lossy().into_owned()),
            nics: nic_list,
            console_log: console.to_string_lossy().into_owned(),
            tag: Tag::of_owner(&hive_sdk::tag::Tag::of(&request.target), "creating"),
        },
        reservations,
    })
}

fn disk_target(i: usize) -> String {
    let letter = (b'a' + (i % 26) as u8) as char;
    format!("vd{letter}")
}

fn root_disk(pool: &Pool<'_>, name: &str) -> Disk {
    Disk {
        path: pool.path_of(name).to_string_lossy().into_owned(),
        format: "qcow2".into(),
        target: String::new(),
    }
}

/// The root disk: kept if it exists (an adopted or updated domain), and grown if a larger
/// size is asked for; made otherwise.
fn ensure_volume(
    site: &Site,
    pool: &Pool<'_>,
    name: &str,
    size: u64,
    backing: Option<(&str, &str)>,
) -> Result<(), ProviderError> {
    if let Some(vol) = pool.lookup(name) {
        let capacity = vol
            .info()
            .map_err(lv(format!("reading the size of {name}")))?
            .capacity;
        if size > capacity && !crate::volume::capacity_matches(size, capacity) {
            let path = pool.path_of(name).to_string_lossy().into_owned();
            crate::volume::grow(site, &vol, &path, size)?;
        }
        return Ok(());
    }
    let xml = xml::volume_xml(name, size.max(1 << 20), backing);
    pool.create_volume(&xml, &format!("root disk {name}"))?;
    Ok(())
}
