//! The local state backend: `state.json` (a snapshot), `state.json.journal` (what happened
//! since), `state.json.backup` (the snapshot before the last one).
//!
//! Recording a step appends one checksummed line to the journal: its cost is the size of that
//! step. Lines reach the kernel at once (a killed hive loses nothing); they are fsynced in
//! groups, always before the next backend call starts (what a power loss may take back is
//! only the record of steps whose effects the next refresh finds anyway). At the end of a command the journal is folded into a new snapshot
//! (written to a temporary file, fsynced, renamed). Every file is 0600. A damaged snapshot or a
//! damaged journal line is reported, never used; only a torn *last* journal line (a write cut
//! off by a crash) is dropped, and the caller is told.

use crate::model::{FormatError, OutputState, ResourceState, State};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Entry {
    Put {
        resource: ResourceState,
    },
    Remove {
        address: String,
    },
    Outputs {
        outputs: BTreeMap<String, OutputState>,
    },
}

#[derive(Debug)]
pub enum StateError {
    Io {
        doing: String,
        error: std::io::Error,
    },
    Corrupt {
        file: PathBuf,
        why: String,
    },
    Format {
        file: PathBuf,
        error: FormatError,
    },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Io { doing, error } => write!(f, "{doing}: {error}"),
            StateError::Corrupt { file, why } => {
                write!(
                    f,
                    "the state file {} is damaged: {why}; hive will not use it",
                    file.display()
                )?;
                let backup = PathBuf::from(format!("{}.backup", strip_journal(file).display()));
                if backup.exists() {
                    write!(f, " (the previous snapshot is in {})", backup.display())?;
                }
                Ok(())
            }
            StateError::Format { file, error } => write!(f, "{}: {error}", file.display()),
        }
    }
}

impl std::error::Error for StateError {}

fn strip_journal(file: &Path) -> PathBuf {
    let s = file.to_string_lossy();
    PathBuf::from(s.strip_suffix(".journal").unwrap_or(&s).to_string())
}

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> StateError {
    let doing = doing.into();
    move |error| StateError::Io { doing, error }
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    /// `None` when there is no state yet.
    pub state: Option<State>,
    /// Journal entries replayed on top of the snapshot (a previous command did not finish).
    pub replayed: usize,
    /// The journal's last line was cut off by a crash and was dropped.
    pub torn_tail: bool,
    /// Bytes of the journal that hold whole lines: a writer truncates it to this before
    /// appending, so a torn line never ends up in the middle.
    pub journal_good_len: u64,
}

pub struct FileBackend {
    path: PathBuf,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        FileBackend { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn journal_path(&self) -> PathBuf {
        with_suffix(&self.path, ".journal")
    }

    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    /// Reads the snapshot and replays the journal over it.
    pub fn load(&self) -> Result<Loaded, StateError> {
        let mut state = match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(decode_snapshot(&self.path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("reading {}", self.path.display()))(e)),
        };
        let journal = self.journal_path();
        let file = match File::open(&journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    state,
                    replayed: 0,
                    torn_tail: false,
                    journal_good_len: 0,
                })
            }
            Err(e) => return Err(io(format!("reading {}", journal.display()))(e)),
        };
        let lines: Vec<Vec<u8>> = BufReader::new(file)
            .split(b'\n')
            .collect::<Result<_, _>>()
            .map_err(io(format!("reading {}", journal.display())))?;
        let mut replayed = 0;
        let mut torn_tail = false;
        let mut good_len = 0u64;
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let line_len = line.len() as u64 + 1;
            let entry = match decode_line(&line) {
                Ok(entry) => entry,
                // A crash can cut off only the write in progress: the last line.
                Err(_) if i + 1 == count => {
                    torn_tail = true;
                    break;
                }
                Err(why) => {
                    return Err(StateError::Corrupt {
                        file: journal.clone(),
                        why: format!("line {}: {why}", i + 1),
                    })
                }
            };
            let target = state.as_mut().ok_or_else(|| StateError::Corrupt {
                file: journal.clone(),
                why: "a journal without a snapshot to apply it to".into(),
            })?;
            (entry.1).apply(target);
            target.serial = entry.0;
            replayed += 1;
            good_len += line_len;
        }
        Ok(Loaded {
            state,
            replayed,
            torn_tail,
            journal_good_len: good_len,
        })
    }

    /// Writes `state` as the new snapshot: temporary file, fsync, rename, directory fsync. The
    /// previous snapshot becomes the backup and the journal is removed.
    pub fn write_snapshot(&self, state: &State) -> Result<(), StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(format!(
                "creating the state directory {}",
                dir.display()
            )))?;
        }
        let text = encode_snapshot(state);
        let tmp = with_suffix(&self.path, ".tmp");
        let mut file = create_private(&tmp, true)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(format!("writing {}", tmp.display())))?;
        if self.path.exists() {
            std::fs::copy(&self.path, self.backup_path())
                .map_err(io("keeping the previous state as a backup"))?;
        }
        std::fs::rename(&tmp, &self.path)
            .map_err(io(format!("replacing {}", self.path.display())))?;
        sync_dir(&self.path);
        match std::fs::remove_file(self.journal_path()) {
            Ok(()) => sync_dir(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing the folded journal")(e)),
        }
        Ok(())
    }

    /// Cuts a torn last line off the journal (the caller holds the lock).
    pub fn truncate_journal(&self, len: u64) -> Result<(), StateError> {
        let path = self.journal_path();
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(io(format!("cutting the torn line off {}", path.display())))
    }

    /// Opens the journal for appending; `serial` is the state's serial now.
    pub fn open_journal(&self, serial: u64) -> Result<Journal, StateError> {
        let path = self.journal_path();
        let file = create_private(&path, false)?;
        Ok(Journal {
            file,
            path,
            serial,
            unsynced: false,
        })
    }
}

/// The append-only record of steps since the last snapshot.
pub struct Journal {
    file: File,
    path: PathBuf,
    serial: u64,
    unsynced: bool,
}

impl Journal {
    /// Records one change; returns the state's new serial. The line reaches the kernel at
    /// once, so a killed process loses nothing; [`Journal::sync`] makes it survive a power
    /// loss too.
    pub fn append(&mut self, entry: &Entry) -> Result<u64, StateError> {
        self.serial += 1;
        let line = encode_line(self.serial, entry);
        self.file
            .write_all(line.as_bytes())
            .map_err(io(format!("recording a step in {}", self.path.display())))?;
        self.unsynced = true;
        Ok(self.serial)
    }

    /// Forces what was appended to disk (one fsync however many entries wait).
    pub fn sync(&mut self) -> Result<(), StateError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(io(format!("syncing {}", self.path.display())))?;
            self.unsynced = false;
        }
        Ok(())
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }
}

impl Entry {
    pub fn apply(self, state: &mut State) {
        match self {
            Entry::Put { resource } => state.put(resource),
            Entry::Remove { address } => {
                state.remove(&address);
            }
            Entry::Outputs { outputs } => state.outputs = outputs,
        }
    }
}

/// A journal line: `SHA256HEX SERIAL JSON\n`, the digest covering `SERIAL JSON`.
fn encode_line(serial: u64, entry: &Entry) -> String {
    let payload = format!(
        "{serial} {}",
        serde_json::to_string(entry).unwrap_or_default()
    );
    format!("{} {payload}\n", hex(&Sha256::digest(payload.as_bytes())))
}

fn decode_line(line: &[u8]) -> Result<(u64, Entry), String> {
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let (digest, payload) = line.split_once(' ').ok_or("no checksum")?;
    if hex(&Sha256::digest(payload.as_bytes())) != digest {
        return Err("checksum mismatch".into());
    }
    let (serial, json) = payload.split_once(' ').ok_or("no serial")?;
    let serial = serial.parse().map_err(|_| "bad serial".to_string())?;
    let entry = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Ok((serial, entry))
}

/// The snapshot is the state's JSON with one more last member, `"checksum"`, a digest of the
/// JSON as it reads without that member. Checking it needs one hash of the file's bytes, not a
/// second serialisation of the state.
const CHECKSUM_MEMBER: &str = ",\n  \"checksum\": \"sha256:";

fn encode_snapshot(state: &State) -> String {
    let body = serde_json::to_string_pretty(state).unwrap_or_default();
    let digest = hex(&Sha256::digest(body.as_bytes()));
    // `body` ends with the closing brace of the object.
    let open = body.strip_suffix('}').unwrap_or(&body).trim_end();
    format!("{open}{CHECKSUM_MEMBER}{digest}\"\n}}\n")
}

fn decode_snapshot(path: &Path, text: &str) -> Result<State, StateError> {
    let corrupt = |why: &str| StateError::Corrupt {
        file: path.to_path_buf(),
        why: why.to_string(),
    };
    // The version is checked first so a newer format gets a clear message.
    State::from_json_version_only(text).map_err(|error| StateError::Format {
        file: path.to_path_buf(),
        error,
    })?;
    let at = text
        .rfind(CHECKSUM_MEMBER)
        .ok_or_else(|| corrupt("it has no checksum"))?;
    let recorded = text[at + CHECKSUM_MEMBER.len()..]
        .split('"')
        .next()
        .unwrap_or_default();
    let body = format!("{}\n}}", &text[..at]);
    if hex(&Sha256::digest(body.as_bytes())) != recorded {
        return Err(corrupt(
            "its checksum does not match its contents (edited by hand, or torn)",
        ));
    }
    serde_json::from_str(text).map_err(|e| corrupt(&e.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens a file readable only by its owner; `truncate` for a fresh file, else append.
fn create_private(path: &Path, truncate: bool) -> Result<File, StateError> {
    let mut options = OpenOptions::new();
    options.create(true).mode(0o600);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options
        .open(path)
        .map_err(io(format!("opening {}", path.display())))
}

/// Makes a rename or removal in the state's directory durable.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A new lineage: 16 random bytes from the kernel, as hex.
pub fn new_lineage() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use std::os::unix::fs::PermissionsExt;

    fn resource(address: &str) -> ResourceState {
        ResourceState {
            address: address.into(),
            kind: "command".into(),
            driver: "local".into(),
            id: Some(address.into()),
            attributes: serde_json::json!({ "x": 1.5, "s": "a\"b" }),
            dependencies: vec![],
            status: Status::Ready,
        }
    }

    fn backend() -> (tempfile::TempDir, FileBackend) {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBackend::new(dir.path().join("state.json"));
        (dir, b)
    }

    #[test]
    fn journal_replays_over_the_snapshot_and_compaction_folds_it() {
        let (_dir, b) = backend();
        let mut state = State::new(new_lineage());
        b.write_snapshot(&state).unwrap();
        let mut j = b.open_journal(state.serial).unwrap();
        j.append(&Entry::Put {
            resource: resource("command.a"),
        })
        .unwrap();
        j.append(&Entry::Put {
            resource: resource("command.b"),
        })
        .unwrap();
        j.append(&Entry::Remove {
            address: "command.a".into(),
        })
        .unwrap();
        let loaded = b.load().unwrap();
        assert_eq!(loaded.replayed, 3);
        let replayed = loaded.state.unwrap();
        assert_eq!(replayed.serial, 3);
        assert_eq!(replayed.resources.keys().collect::<Vec<_>>(), ["command.b"]);
        state = replayed;
        b.write_snapshot(&state).unwrap();
        assert!(!b.journal_path().exists());
        assert!(b.backup_path().exists());
        let mode = std::fs::metadata(b.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(b.load().unwrap().state.unwrap(), state);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_reported() {
        let (_dir, b) = backend();
        b.write_snapshot(&State::new("l".into())).unwrap();
        let mut j = b.open_journal(0).unwrap();
        j.append(&Entry::Put {
            resource: resource("command.a"),
        })
        .unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(b.journal_path())
            .unwrap();
        f.write_all(b"3f2a 2 {\"op\":\"put\",\"reso").unwrap();
        let loaded = b.load().unwrap();
        assert!(loaded.torn_tail);
        assert_eq!(loaded.replayed, 1);
    }

    #[test]
    fn a_writer_cuts_a_torn_tail_before_appending() {
        let (_dir, b) = backend();
        b.write_snapshot(&State::new("l".into())).unwrap();
        let mut j = b.open_journal(0).unwrap();
        j.append(&Entry::Put {
            resource: resource("command.a"),
        })
        .unwrap();
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(b.journal_path())
            .unwrap();
        f.write_all(b"3f2a 2 {\"op\":\"put\",\"reso").unwrap();
        let loaded = b.load().unwrap();
        assert!(loaded.torn_tail);
        b.truncate_journal(loaded.journal_good_len).unwrap();
        let mut j = b.open_journal(1).unwrap();
        j.append(&Entry::Put {
            resource: resource("command.b"),
        })
        .unwrap();
        let again = b.load().unwrap();
        assert!(!again.torn_tail);
        assert_eq!(again.replayed, 2);
        assert_eq!(again.state.unwrap().resources.len(), 2);
    }

    #[test]
    fn damage_in_the_middle_or_in_the_snapshot_is_refused() {
        let (_dir, b) = backend();
        b.write_snapshot(&State::new("l".into())).unwrap();
        let mut j = b.open_journal(0).unwrap();
        j.append(&Entry::Put {
            resource: resource("command.a"),
        })
        .unwrap();
        j.append(&Entry::Put {
            resource: resource("command.b"),
        })
        .unwrap();
        let text = std::fs::read_to_string(b.journal_path()).unwrap();
        std::fs::write(b.journal_path(), text.replacen("command.a", "command.z", 1)).unwrap();
        let err = b.load().unwrap_err().to_string();
        assert!(err.contains("line 1: checksum mismatch"), "{err}");

        std::fs::remove_file(b.journal_path()).unwrap();
        let snap = std::fs::read_to_string(b.path()).unwrap();
        std::fs::write(b.path(), snap.replace("\"serial\": 0", "\"serial\": 7")).unwrap();
        let err = b.load().unwrap_err().to_string();
        assert!(err.contains("checksum does not match"), "{err}");
    }
}
