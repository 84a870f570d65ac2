//! The XML hive gives libvirt (domains, networks, volumes, pools) and what it reads back.
//!
//! Reading goes through a parser and compares meaning (memory in KiB, the set of MACs...),
//! never text: libvirt normalises what it is given and adds elements at run time.

use std::fmt::Write;

/// The namespace of hive's tag in a domain's `<metadata>`.
pub const METADATA_NS: &str = "urn:hive:instance:1";
const DNSMASQ_NS: &str = "http://libvirt.org/schemas/network/dnsmasq/1.0";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Who made a domain, and whether its creation finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub address: String,
    pub lineage: String,
    /// Where the state lives, and when the domain expires (`ttl`).
    pub state: String,
    pub expires: Option<u64>,
    /// `creating` until the create step finished, then `ready`.
    pub status: String,
}

impl Tag {
    pub fn of_owner(owner: &hive_sdk::tag::Tag, status: &str) -> Tag {
        Tag {
            address: owner.address.clone(),
            lineage: owner.lineage.clone(),
            state: owner.state.clone(),
            expires: owner.expires,
            status: status.to_string(),
        }
    }

    pub fn owner(&self) -> hive_sdk::tag::Tag {
        hive_sdk::tag::Tag {
            lineage: self.lineage.clone(),
            state: self.state.clone(),
            address: self.address.clone(),
            expires: self.expires,
        }
    }

    /// The fields inside the element, each prefixed with `ns` (`hive:` or nothing).
    fn fields(&self, ns: &str) -> String {
        let mut out = format!(
            "<{ns}address>{}</{ns}address><{ns}lineage>{}</{ns}lineage>",
            escape(&self.address),
            escape(&self.lineage)
        );
        if !self.state.is_empty() {
            out.push_str(&format!("<{ns}state>{}</{ns}state>", escape(&self.state)));
        }
        if let Some(e) = self.expires {
            out.push_str(&format!("<{ns}expires>{e}</{ns}expires>"));
        }
        out.push_str(&format!(
            "<{ns}status>{}</{ns}status>",
            escape(&self.status)
        ));
        out
    }

    /// The element as `virDomainSetMetadata` takes it: libvirt adds the namespace.
    pub fn bare_element(&self) -> String {
        format!("<owner>{}</owner>", self.fields(""))
    }

    /// The element inside a domain's `<metadata>`.
    pub fn element(&self) -> String {
        format!(
            "<hive:owner xmlns:hive='{METADATA_NS}'>{}</hive:owner>",
            self.fields("hive:")
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub path: String,
    /// `qcow2`, `raw`.
    pub format: String,
    /// `vda`, `vdb`...
    pub target: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nic {
    /// The libvirt network, or the Linux bridge, it joins.
    pub source: NicSource,
    pub mac: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NicSource {
    Network(String),
    Bridge(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Boot {
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub cmdline: Option<String>,
}

/// Everything hive decides about a domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainSpec {
    pub name: String,
    /// Kept when redefining an existing domain.
    pub uuid: Option<String>,
    /// `qemu` (TCG) or `kvm`.
    pub domain_type: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub boot: Boot,
    pub disks: Vec<Disk>,
    /// The NoCloud seed, on an IDE cdrom (the cloud kernel has no AHCI driver).
    pub seed: Option<String>,
    pub nics: Vec<Nic>,
    pub console_log: String,
    pub tag: Tag,
}

impl DomainSpec {
    pub fn to_xml(&self) -> String {
        let mut x = String::new();
        let _ = writeln!(x, "<domain type='{}'>", escape(&self.domain_type));
        let _ = writeln!(x, "  <name>{}</name>", escape(&self.name));
        if let Some(uuid) = &self.uuid {
            let _ = writeln!(x, "  <uuid>{}</uuid>", escape(uuid));
        }
        let _ = writeln!(x, "  <metadata>{}</metadata>", self.tag.element());
        let _ = writeln!(x, "  <memory unit='MiB'>{}</memory>", self.memory_mib);
        let _ = writeln!(
            x,
            "  <currentMemory unit='MiB'>{}</currentMemory>",
            self.memory_mib
        );
        let _ = writeln!(x, "  <vcpu>{}</vcpu>", self.vcpus);
        x.push_str("  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
        if let Some(k) = &self.boot.kernel {
            let _ = writeln!(x, "    <kernel>{}</kernel>", escape(k));
        }
        if let Some(i) = &self.boot.initrd {
            let _ = writeln!(x, "    <initrd>{}</initrd>", escape(i));
        }
        if let Some(c) = &self.boot.cmdline {
            let _ = writeln!(x, "    <cmdline>{}</cmdline>", escape(c));
        }
        if self.boot.kernel.is_none() {
            x.push_str("    <boot dev='hd'/>\n");
        }
        x.push_str("  </os>\n  <features><acpi/><apic/></features>\n");
        x.push_str("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n");
        x.push_str("  <devices>\n");
        for d in &self.disks {
            x.push_str(&disk_xml(d));
        }
        if let Some(seed) = &self.seed {
            let _ = writeln!(
                x,
                "    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{}'/><target dev='hdc' bus='ide'/><readonly/></disk>",
                escape(seed)
            );
        }
        for n in &self.nics {
            x.push_str(&nic_xml(n));
        }
        let _ = writeln!(
            x,
            "    <serial type='file'><source path='{}'/><target port='0'/></serial>",
            escape(&self.console_log)
        );
        x.push_str("    <console type='file'><target type='serial' port='0'/></console>\n");
        x.push_str("    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n");
        x.push_str("  </devices>\n</domain>\n");
        x
    }
}

pub fn disk_xml(d: &Disk) -> String {
    format!(
        "    <disk type='file' device='disk'><driver name='qemu' type='{}'/><source file='{}'/><target dev='{}' bus='virtio'/></disk>\n",
        escape(&d.format),
        escape(&d.path),
        escape(&d.target)
    )
}

pub fn nic_xml(n: &Nic) -> String {
    let source = match &n.source {
        NicSource::Network(net) => format!("<source network='{}'/>", escape(net)),
        NicSource::Bridge(br) => format!("<source bridge='{}'/>", escape(br)),
    };
    let kind = match n.source {
        NicSource::Network(_) => "network",
        NicSource::Bridge(_) => "bridge",
    };
    format!(
        "    <interface type='{kind}'>{source}<mac address='{}'/><model type='{}'/></interface>\n",
        escape(&n.mac),
        escape(&n.model)
    )
}

/// What hive compares of a defined domain: its meaning, as libvirt reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DomainFacts {
    pub name: String,
    pub uuid: String,
    pub memory_kib: u64,
    pub current_memory_kib: Option<u64>,
    pub vcpus: u32,
    pub disks: Vec<String>,
    /// (MAC, network or bridge name).
    pub nics: Vec<(String, String)>,
    pub console_log: Option<String>,
    pub tag: Option<Tag>,
}

impl DomainFacts {
    /// The memory the guest gets: the lower of the maximum and the current setting.
    pub fn effective_memory_kib(&self) -> u64 {
        self.current_memory_kib
            .map_or(self.memory_kib, |c| c.min(self.memory_kib))
    }
}

pub fn parse_domain(xml: &str) -> Result<DomainFacts, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("libvirt's domain XML: {e}"))?;
    let root = doc.root_element();
    let mut facts = DomainFacts::default();
    for child in root.children().filter(|n| n.is_element()) {
        match child.tag_name().name() {
            "name" => facts.name = child.text().unwrap_or_default().to_string(),
            "uuid" => facts.uuid = child.text().unwrap_or_default().to_string(),
            "memory" => facts.memory_kib = kib(child),
            // Lowered with `virsh setmem`: what the guest really gets.
            "currentMemory" => facts.current_memory_kib = Some(kib(child)),
            "vcpu" => {
                facts.vcpus = child
                    .text()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0)
            }
            "metadata" => facts.tag = child.children().find_map(parse_tag),
            "devices" => {
                for dev in child.children().filter(|n| n.is_element()) {
                    match dev.tag_name().name() {
                        "disk" if dev.attribute("device") == Some("disk") => {
                            if let Some(path) = child_attr(dev, "source", "file") {
                                facts.disks.push(path.to_string());
                            }
                        }
                        "interface" => {
                            let mac = child_attr(dev, "mac", "address").unwrap_or_default();
                            let source = child_attr(dev, "source", "network")
                                .or_else(|| child_attr(dev, "source", "bridge"))
                                .unwrap_or_default();
                            facts.nics.push((mac.to_lowercase(), source.to_string()));
                        }
                        "serial" if facts.console_log.is_none() => {
                            facts.console_log =
                                child_attr(dev, "source", "path").map(str::to_string);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// The target device (`vdb`) under which a domain's XML has the disk at `path`.
pub fn disk_target_of(xml: &str, path: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .filter(|n| n.tag_name().name() == "disk")
        .find(|n| child_attr(*n, "source", "file") == Some(path))
        .and_then(|n| child_attr(n, "target", "dev"))
        .map(str::to_string)
}

/// The whole `<interface>` element with this MAC in a domain's XML, as libvirt wants it to
/// detach the device.
pub fn interface_xml_of(xml: &str, mac: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .filter(|n| n.tag_name().name() == "interface")
        .find(|n| child_attr(*n, "mac", "address").is_some_and(|m| m.eq_ignore_ascii_case(mac)))
        .map(|n| xml[n.range()].to_string())
}

/// A domain's XML with its memory and vCPU count replaced, everything else untouched (for
/// domains hive did not make).
pub fn with_sizes(xml: &str, memory_mib: u64, vcpus: u32) -> Result<String, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("libvirt's domain XML: {e}"))?;
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for child in doc.root_element().children().filter(|n| n.is_element()) {
        let replacement = match child.tag_name().name() {
            "memory" => format!("<memory unit='MiB'>{memory_mib}</memory>"),
            "currentMemory" => format!("<currentMemory unit='MiB'>{memory_mib}</currentMemory>"),
            "vcpu" => format!("<vcpu>{vcpus}</vcpu>"),
            _ => continue,
        };
        edits.push((child.range(), replacement));
    }
    let mut out = xml.to_string();
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    for (range, text) in edits {
        out.replace_range(range, &text);
    }
    Ok(out)
}

/// hive's tag, from a `<metadata>` child or the string `virDomainGetMetadata` returns.
pub fn parse_tag(node: roxmltree::Node<'_, '_>) -> Option<Tag> {
    if node.tag_name().namespace() != Some(METADATA_NS) {
        return None;
    }
    tag_fields(node)
}

/// The fields of an `<owner>` element, whatever its namespace (libvirt's metadata API
/// returns it without one).
fn tag_fields(node: roxmltree::Node<'_, '_>) -> Option<Tag> {
    if node.tag_name().name() != "owner" {
        return None;
    }
    let text = |name: &str| {
        node.children()
            .find(|c| c.tag_name().name() == name)
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_string()
    };
    Some(Tag {
        address: text("address"),
        lineage: text("lineage"),
        state: text("state"),
        expires: text("expires").parse().ok(),
        status: text("status"),
    })
}

pub fn parse_tag_text(xml: &str) -> Option<Tag> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    tag_fields(doc.root_element())
}

fn child_attr<'a>(node: roxmltree::Node<'a, '_>, child: &str, attr: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.tag_name().name() == child)
        .and_then(|c| c.attribute(attr))
}

/// A libvirt size element in KiB, whatever unit it was written in.
fn kib(node: roxmltree::Node<'_, '_>) -> u64 {
    let n: u64 = node.text().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    let factor: u64 = match node.attribute("unit").unwrap_or("KiB") {
        "b" | "bytes" => return n / 1024,
        "KiB" | "k" | "K" => 1,
        "MiB" | "M" => 1024,
        "GiB" | "G" => 1024 * 1024,
        _ => 1,
    };
    n * factor
}

/// A NAT network with DHCP, on a bridge device libvirt creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    pub name: String,
    pub bridge: String,
    pub nat: bool,
    pub mtu: Option<u32>,
    pub gateway: String,
    pub netmask: String,
    pub dhcp: Option<(String, String)>,
    /// (MAC, IP, hostname) reservations.
    pub hosts: Vec<(String, String, Option<String>)>,
}

impl NetworkSpec {
    pub fn to_xml(&self) -> String {
        let mut x = format!("<network xmlns:dnsmasq='{DNSMASQ_NS}'>\n");
        let _ = writeln!(x, "  <name>{}</name>", escape(&self.name));
        let _ = writeln!(
            x,
            "  <bridge name='{}' stp='on' delay='0'/>",
            escape(&self.bridge)
        );
        if self.nat {
            x.push_str("  <forward mode='nat'/>\n");
        }
        if let Some(mtu) = self.mtu {
            let _ = writeln!(x, "  <mtu size='{mtu}'/>");
        }
        let _ = writeln!(
            x,
            "  <ip address='{}' netmask='{}'>",
            escape(&self.gateway),
            escape(&self.netmask)
        );
        if let Some((start, end)) = &self.dhcp {
            x.push_str("    <dhcp>\n");
            let _ = writeln!(
                x,
                "      <range start='{}' end='{}'/>",
                escape(start),
                escape(end)
            );
            for h in &self.hosts {
                x.push_str("      ");
                x.push_str(&dhcp_host_xml(&h.0, &h.1, h.2.as_deref()));
                x.push('\n');
            }
            x.push_str("    </dhcp>\n");
        }
        x.push_str("  </ip>\n");
        // libvirt's dnsmasq pings each address for 3 s before offering it, serving nobody
        // meanwhile: guests booted together would time out (LAB.md).
        x.push_str("  <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>\n");
        x.push_str("</network>\n");
        x
    }
}

pub fn dhcp_host_xml(mac: &str, ip: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!(
            "<host mac='{}' name='{}' ip='{}'/>",
            escape(mac),
            escape(n),
            escape(ip)
        ),
        None => format!("<host mac='{}' ip='{}'/>", escape(mac), escape(ip)),
    }
}

/// What hive compares of a network.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkFacts {
    pub bridge: String,
    pub nat: bool,
    pub gateway: String,
    pub netmask: String,
    pub hosts: Vec<(String, String)>,
}

pub fn parse_network(xml: &str) -> Result<NetworkFacts, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("libvirt's network XML: {e}"))?;
    let mut facts = NetworkFacts::default();
    for node in doc.root_element().descendants().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "bridge" => facts.bridge = node.attribute("name").unwrap_or_default().to_string(),
            "forward" => facts.nat = node.attribute("mode") == Some("nat"),
            "ip" if facts.gateway.is_empty() => {
                facts.gateway = node.attribute("address").unwrap_or_default().to_string();
                facts.netmask = node.attribute("netmask").unwrap_or_default().to_string();
                if let Some(prefix) = node.attribute("prefix").and_then(|p| p.parse().ok()) {
                    facts.netmask = hive_sdk::net::netmask(prefix).to_string();
                }
            }
            "host" if node.parent().is_some_and(|p| p.tag_name().name() == "dhcp") => {
                facts.hosts.push((
                    node.attribute("mac").unwrap_or_default().to_lowercase(),
                    node.attribute("ip").unwrap_or_default().to_string(),
                ));
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// A qcow2 volume: blank, or an overlay whose reads fall through to `backing`.
pub fn volume_xml(name: &str, capacity: u64, backing: Option<(&str, &str)>) -> String {
    let mut x = String::from("<volume>\n");
    let _ = writeln!(x, "  <name>{}</name>", escape(name));
    let _ = writeln!(x, "  <capacity unit='bytes'>{capacity}</capacity>");
    // compat 1.1 (libvirt 9.0 writes 0.10 unless told): lazy refcounts, cheap overlays.
    x.push_str("  <target><format type='qcow2'/><compat>1.1</compat></target>\n");
    if let Some((path, format)) = backing {
        let _ = writeln!(
            x,
            "  <backingStore><path>{}</path><format type='{}'/></backingStore>",
            escape(path),
            escape(format)
        );
    }
    x.push_str("</volume>\n");
    x
}

pub fn pool_xml(name: &str, path: &str) -> String {
    format!(
        "<pool type='dir'><name>{}</name><target><path>{}</path></target></pool>",
        escape(name),
        escape(path)
    )
}

/// The backing file of a volume, from its XML.
pub fn backing_path(volume_xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(volume_xml).ok()?;
    let backing = doc
        .root_element()
        .children()
        .find(|c| c.tag_name().name() == "backingStore")?;
    backing
        .children()
        .find(|c| c.tag_name().name() == "path")
        .and_then(|p| p.text())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DomainSpec {
        DomainSpec {
            name: "node-0".into(),
            uuid: None,
            domain_type: "qemu".into(),
            memory_mib: 512,
            vcpus: 2,
            boot: Boot {
                kernel: Some("/pool/kernel-ab".into()),
                initrd: Some("/pool/initrd-cd".into()),
                cmdline: Some("console=ttyS0 a<b".into()),
            },
            disks: vec![Disk {
                path: "/pool/node-0-root.qcow2".into(),
                format: "qcow2".into(),
                target: "vda".into(),
            }],
            seed: Some("/pool/node-0-seed-1234.iso".into()),
            nics: vec![Nic {
                source: NicSource::Network("lan".into()),
                mac: "52:54:00:AA:bb:01".into(),
                model: "virtio".into(),
            }],
            console_log: "/var/log/hive/node-0.log".into(),
            tag: Tag {
                address: "instance.node[0]".into(),
                lineage: "L1".into(),
                state: "/w/.hive/state.json".into(),
                expires: Some(1_800_000_000),
                status: "creating".into(),
            },
        }
    }

    #[test]
    fn domain_xml_reads_back_as_what_was_meant() {
        let xml = spec().to_xml();
        let facts = parse_domain(&xml).expect("parses");
        assert_eq!(facts.name, "node-0");
        assert_eq!(facts.memory_kib, 512 * 1024);
        assert_eq!(facts.vcpus, 2);
        assert_eq!(facts.disks, vec!["/pool/node-0-root.qcow2".to_string()]);
        assert_eq!(
            facts.nics,
            vec![("52:54:00:aa:bb:01".to_string(), "lan".to_string())]
        );
        assert_eq!(
            facts.console_log.as_deref(),
            Some("/var/log/hive/node-0.log")
        );
        assert_eq!(facts.tag, Some(spec().tag));
        assert!(xml.contains("a&lt;b"), "cmdline is escaped: {xml}");
    }

    #[test]
    fn sizes_are_replaced_and_nothing_else() {
        let xml = "<domain type='kvm'><name>x</name><memory unit='KiB'>262144</memory><currentMemory unit='KiB'>262144</currentMemory><vcpu placement='static'>1</vcpu><devices><disk device='disk'><source file='/a'/></disk></devices></domain>";
        let edited = with_sizes(xml, 512, 2).expect("edits");
        let facts = parse_domain(&edited).expect("parses");
        assert_eq!((facts.memory_kib, facts.vcpus), (512 * 1024, 2));
        assert_eq!(facts.disks, vec!["/a".to_string()]);
        assert!(edited.contains("<currentMemory unit='MiB'>512</currentMemory>"));
    }

    #[test]
    fn sizes_in_any_unit_compare_equal() {
        for (xml, kib_expected) in [
            (
                "<domain><memory unit='KiB'>524288</memory></domain>",
                524288,
            ),
            ("<domain><memory unit='MiB'>512</memory></domain>", 524288),
            ("<domain><memory>524288</memory></domain>", 524288),
            (
                "<domain><memory unit='bytes'>536870912</memory></domain>",
                524288,
            ),
        ] {
            assert_eq!(
                parse_domain(xml).map(|f| f.memory_kib),
                Ok(kib_expected),
                "{xml}"
            );
        }
    }

    #[test]
    fn network_xml_has_no_ping_and_reservations() {
        let net = NetworkSpec {
            name: "lan".into(),
            bridge: "hv-lan".into(),
            nat: true,
            mtu: Some(1400),
            gateway: "10.77.0.1".into(),
            netmask: hive_sdk::net::netmask(24).to_string(),
            dhcp: Some(("10.77.0.100".into(), "10.77.0.200".into())),
            hosts: vec![("52:54:00:00:00:01".into(), "10.77.0.10".into(), None)],
        };
        let xml = net.to_xml();
        assert!(xml.contains("no-ping"));
        let facts = parse_network(&xml).expect("parses");
        assert_eq!(facts.netmask, "255.255.255.0");
        assert!(facts.nat);
        assert_eq!(
            facts.hosts,
            vec![("52:54:00:00:00:01".to_string(), "10.77.0.10".to_string())]
        );
    }

    #[test]
    fn overlay_volume_names_its_backing_file() {
        let xml = volume_xml("v.qcow2", 1 << 30, Some(("/pool/img-ab.qcow2", "qcow2")));
        assert_eq!(backing_path(&xml).as_deref(), Some("/pool/img-ab.qcow2"));
        assert!(xml.contains("<compat>1.1</compat>"));
        assert_eq!(backing_path(&volume_xml("b", 1, None)), None);
    }
}
