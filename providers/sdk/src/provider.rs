//! The provider interface: the one narrow door between the engine and a backend.
//!
//! A provider implements some resource kinds for one driver (`command`/`local`,
//! `instance`/`libvirt`...). It sees evaluated values only, never HCL or the state file. Its
//! methods block (backends like libvirt have blocking APIs); the engine runs them on worker
//! threads and passes a [`Cancel`] token so long waits can stop when the user insists.

use crate::addr::InstanceAddr;
use crate::problem::Problem;
use crate::schema::Schema;
use crate::value::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set when the user asked a second time to stop: in-flight operations should give up.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The object a request is about.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Its address, `instance.node[0]`, for messages, backend tags and names.
    pub address: &'a InstanceAddr,
    pub kind: &'a str,
    /// The state's lineage, for backend tags: objects hive made for this state carry it.
    pub lineage: &'a str,
    /// Where the state lives (a file's path, an S3 URL), for backend tags; empty where no
    /// object is made (checks).
    pub state: &'a str,
    /// When what is made expires (`ttl`), seconds since the Unix epoch, for backend tags.
    pub expires: Option<u64>,
    /// The configuration directory: relative paths in attributes resolve against it.
    pub base_dir: &'a std::path::Path,
}

/// A proposed change, for the provider to refine.
pub struct PlanRequest<'a> {
    pub target: Target<'a>,
    /// The evaluated configuration (may hold unknown values).
    pub config: &'a Value,
    /// What is recorded, when the object exists.
    pub prior: Option<&'a Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanResponse {
    /// The attributes the object will have: the configuration's, and for computed ones the
    /// recorded value where the provider knows it will not change, unknown otherwise.
    pub planned: Value,
    /// Attributes whose change cannot be made in place.
    pub requires_replace: Vec<String>,
    /// What the change will do that the attributes do not show ("restarts the guest").
    pub notes: Vec<String>,
}

pub struct ApplyRequest<'a> {
    pub target: Target<'a>,
    /// The configuration, now fully known.
    pub config: &'a Value,
    /// The recorded attributes: `None` for a create.
    pub prior: Option<&'a Value>,
    pub cancel: &'a Cancel,
    /// The top-level attributes whose configured values hold sensitive values: what a
    /// backend echoes of them (a command's output) must not show.
    pub sensitive: &'a [String],
    /// Tells the user how a long step goes ("downloading: 40% of 300 MiB"); shown next to
    /// the step's address.
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// A progress reporter that shows nothing.
pub fn no_progress(_: &str) {}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyResponse {
    /// The object's attributes as the backend now has them.
    pub state: Value,
    /// The backend's own id for it.
    pub id: String,
}

pub struct ReadRequest<'a> {
    pub target: Target<'a>,
    pub id: &'a str,
    pub prior: &'a Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReadResponse {
    /// The object no longer exists.
    Gone,
    /// The object as it is now.
    Found(Value),
    /// The object exists with these attributes, but parts of it that its attributes do not
    /// show are broken (a bridge's DHCP server died): an update must repair it. Each problem
    /// is a short phrase ("dnsmasq is not running").
    NeedsRepair { state: Value, problems: Vec<String> },
}

pub struct DeleteRequest<'a> {
    pub target: Target<'a>,
    pub id: &'a str,
    pub prior: &'a Value,
    pub cancel: &'a Cancel,
    /// As [`ApplyRequest::sensitive`], of the recorded attributes.
    pub sensitive: &'a [String],
}

/// `hive snapshot ADDR`: copy an object's data into where it is kept (a volume into its
/// store).
pub struct SnapshotRequest<'a> {
    pub target: Target<'a>,
    pub id: &'a str,
    /// What the state records of it, with the credentials of what it refers to lent from the
    /// configuration.
    pub attributes: &'a Value,
    pub cancel: &'a Cancel,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

/// What `hive checkpoint` asks of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointAction {
    Save,
    Restore,
    Delete,
}

/// `hive checkpoint save|restore|delete NAME` for one instance of the state.
pub struct CheckpointRequest<'a> {
    pub target: Target<'a>,
    pub id: &'a str,
    /// What the state records of it.
    pub attributes: &'a Value,
    /// The checkpoint's name (letters, digits and `-`).
    pub name: &'a str,
    pub action: CheckpointAction,
}

/// `hive scan` on one host: the objects this provider made there, whatever state made them.
pub struct ScanRequest<'a> {
    /// A configuration holding only `host`: the host's record (absent for this machine).
    pub host: &'a Value,
}

/// A hive-made object found by a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// What it is, in the backend's words (`libvirt domain`, `nft table`).
    pub kind: String,
    /// Its name in the backend.
    pub name: String,
    /// Who it belongs to, as its tag says.
    pub tag: crate::tag::Tag,
    /// The id a state records for the resource it is (part of): a state that records this
    /// id at the tag's address, or at any address of the same kind, still holds it.
    pub id: String,
    /// Reaped in rising order, so what uses an object goes first: instances 0, their disks
    /// 1, networks and images 2, claims 3, what a store keeps 4.
    pub order: u8,
    /// It outlives its state on purpose (a snapshot in a store): with its state gone it is
    /// kept, unless its tag's expiry passed.
    pub outlives_state: bool,
}

/// `hive scan -reap`: remove an object no state holds.
pub struct ReapRequest<'a> {
    /// Where it was found: a configuration holding only `host` (the host's record), or,
    /// for what a store keeps, the store's block.
    pub host: &'a Value,
    pub found: &'a Found,
}

/// Re-tag one recorded object: it moved to another address or state (`tag` is its new
/// one), or it is no longer hive's (`None`: `hive state rm`, `removed { destroy = false }`).
pub struct RetagRequest<'a> {
    /// The object as recorded, under its old address.
    pub target: Target<'a>,
    pub id: &'a str,
    pub attributes: &'a Value,
    pub tag: Option<&'a crate::tag::Tag>,
}

/// What a snapshot wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshotted {
    /// Where the snapshot is (its manifest's URL).
    pub location: String,
    /// The bytes it holds, and in how many chunks.
    pub size: u64,
    pub chunks: usize,
    /// What was sent: the chunks the store did not have yet.
    pub chunks_sent: usize,
    pub bytes_sent: u64,
    /// Older snapshots removed to keep `keep_snapshots`.
    pub pruned: usize,
    /// How the data was kept still while it was read ("guest paused", "not in use").
    pub consistency: String,
    /// What went wrong after the snapshot was safely written (pruning old ones).
    pub warnings: Vec<String>,
}

/// Whether a failed call found nothing to act on, or failed doing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object (or what it needs) does not exist in the backend.
    NotFound,
    /// The backend was asked and refused or failed.
    Failed,
}

/// A backend failure: what hive was doing, in the backend's own words.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProviderError {
    /// A failed call; `message` says what hive was doing and what the backend said.
    pub fn new(message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind: ErrorKind::Failed,
            message: message.into(),
        }
    }

    /// The object was not found.
    pub fn not_found(message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind: ErrorKind::NotFound,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == ErrorKind::NotFound {
            f.write_str("not found: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProviderError {}

/// A fresh random identifier (32 hex digits) for objects whose backend has no id of its own.
pub fn random_id() -> Result<String, ProviderError> {
    crate::random::hex_id(16).map_err(|e| ProviderError::new(format!("making a random id: {e}")))
}

/// A resource kind a provider serves, for its one driver.
#[derive(Debug, Clone)]
pub struct KindSpec {
    pub kind: &'static str,
    /// What a block of this kind holds for this driver.
    pub schema: Schema,
    /// This driver serves blocks of the kind that name none.
    pub default_driver: bool,
}

/// One configured object, for checks across objects.
#[derive(Debug, Clone)]
pub struct Object<'a> {
    pub address: &'a InstanceAddr,
    pub kind: &'a str,
    pub driver: &'a str,
    /// Its evaluated configuration (unknown where not known yet).
    pub config: &'a Value,
}

/// A host `hive ssh` logs into on the way to a guest (ssh's `ProxyCommand ssh -W`), with
/// the host key hive checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub user: String,
    pub address: String,
    pub port: u16,
    /// None: the SSH agent.
    pub key: Option<PathBuf>,
    pub known_hosts: PathBuf,
}

/// How `hive ssh` reaches an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Login {
    /// The system's ssh, with hive's key.
    Ssh {
        ip: String,
        user: String,
        key: PathBuf,
        /// Say that SSH was chosen (the instance could have been reached another way).
        announce: bool,
        /// The remote host whose private bridge the guest is on, to go through.
        jump: Option<Jump>,
    },
    /// A program that runs a command in the guest (LXD exec): `program args... -- COMMAND`,
    /// or `shell` when there is no command. `why` says why not SSH.
    Exec {
        program: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        shell: Vec<String>,
        why: String,
    },
}

pub struct LoginRequest<'a> {
    pub target: Target<'a>,
    pub id: &'a str,
    /// What the state records of it.
    pub attributes: &'a Value,
}

pub trait Provider: Send + Sync {
    /// The driver name (`local`, `libvirt`, `lxd`...).
    fn driver(&self) -> &'static str;

    /// The resource kinds it implements, with their schemas.
    fn kinds(&self) -> Vec<KindSpec>;

    /// What it adds to a `host` block: settings of this backend on a host (`lxd { }`,
    /// libvirt's `uri`).
    fn host_settings(&self) -> Schema {
        Schema::default()
    }

    /// Whether a block of `kind` that names no driver is this provider's anyway, by what it
    /// holds (an image in LXD's format). Asked before the kind's default driver.
    fn claims(&self, _kind: &str, _config: &Value) -> bool {
        false
    }

    /// Problems with a configuration that the schema cannot express (a bad combination of
    /// attributes); checked before planning, each at its attribute.
    fn validate(&self, _kind: &str, _config: &Value) -> Vec<Problem> {
        Vec::new()
    }

    /// Problems with the host this object would live on, found by looking without changing
    /// anything (a bridge name taken by an interface hive does not own). Checked by
    /// `hive validate` and `hive plan`, before anything is made.
    fn check_environment(&self, _target: &Target<'_>, _config: &Value) -> Vec<Problem> {
        Vec::new()
    }

    /// Problems between objects (two bridges on one host with overlapping subnets): given
    /// every configured object of the kinds this provider serves, whatever their driver;
    /// each problem is returned with the index of the object it is about. Two providers
    /// finding the same problem report it once.
    fn check_together(&self, _objects: &[Object<'_>]) -> Vec<(usize, Problem)> {
        Vec::new()
    }

    /// The name the object gets in the backend (its `name`, or one made from its address),
    /// where the backend names objects so that two of them on one host cannot share it.
    /// `None` when unknown yet, or when its names are of another kind (digests).
    fn backend_name(
        &self,
        _kind: &str,
        _address: &InstanceAddr,
        _config: &Value,
    ) -> Option<String> {
        None
    }

    /// Refines the engine's proposal; the default accepts it.
    fn plan(
        &self,
        _request: &PlanRequest<'_>,
        proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        Ok(proposal)
    }

    /// Whether a replacement may make the new object while the old one still exists
    /// (`create_before_destroy`); `Err` says why not, for the plan to report. Backends whose
    /// objects are named after their address cannot hold both at once.
    fn check_create_before_destroy(&self, _kind: &str, _config: &Value) -> Result<(), String> {
        Ok(())
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError>;

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError>;

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError>;

    /// Whether its objects exist outside hive, so refresh must ask about them. A provider
    /// whose objects live only in the state (a command's record) says no, and saves the
    /// asking.
    fn refreshes(&self) -> bool {
        true
    }

    fn delete(&self, request: &DeleteRequest<'_>) -> Result<(), ProviderError>;

    /// Adopts an object made elsewhere, by the backend's id, for `target` (a backend that
    /// tags its objects tags it now). `config` is the configuration of the address it is
    /// imported into (where to look: its host); attributes the backend cannot tell are left
    /// out, and the engine records them as configured.
    fn import(
        &self,
        target: &Target<'_>,
        id: &str,
        config: &Value,
    ) -> Result<Value, ProviderError> {
        let _ = (id, config);
        Err(ProviderError::new(format!(
            "the {} driver cannot import {} resources",
            self.driver(),
            target.kind
        )))
    }

    /// Copies one of its objects' data to where the configuration keeps it (`hive snapshot`).
    fn snapshot(&self, request: &SnapshotRequest<'_>) -> Result<Snapshotted, ProviderError> {
        Err(ProviderError::new(format!(
            "{} is a {} of the {} driver, which keeps no snapshots",
            request.target.address,
            request.target.kind,
            self.driver()
        )))
    }

    /// Saves, restores or deletes a checkpoint of one of its instances (`hive checkpoint`):
    /// what was kept (`"disk"`, `"disk and memory"`).
    fn checkpoint(&self, request: &CheckpointRequest<'_>) -> Result<String, ProviderError> {
        Err(ProviderError::new(format!(
            "{} is a {} of the {} driver, which keeps no checkpoints",
            request.target.address,
            request.target.kind,
            self.driver()
        )))
    }

    /// Every object it made on a host (`hive scan`), by the tags they carry.
    fn scan(&self, _request: &ScanRequest<'_>) -> Result<Vec<Found>, ProviderError> {
        Ok(Vec::new())
    }

    /// What it keeps in the configuration's stores (each a `store` block, credentials
    /// included), by the tags kept with it.
    fn scan_store(&self, _store: &Value) -> Result<Vec<Found>, ProviderError> {
        Ok(Vec::new())
    }

    /// Removes an object a scan found, which no state holds.
    fn reap(&self, request: &ReapRequest<'_>) -> Result<(), ProviderError> {
        Err(ProviderError::new(format!(
            "the {} driver cannot remove {} {}",
            self.driver(),
            request.found.kind,
            request.found.name
        )))
    }

    /// Changes the tag an object carries; a provider whose objects carry none has nothing
    /// to do.
    fn retag(&self, _request: &RetagRequest<'_>) -> Result<(), ProviderError> {
        Ok(())
    }

    /// How `hive ssh` logs into one of its objects.
    fn login(&self, request: &LoginRequest<'_>) -> Result<Login, ProviderError> {
        Err(ProviderError::new(format!(
            "{} is a {}: there is nothing to log into",
            request.target.address, request.target.kind
        )))
    }
}
