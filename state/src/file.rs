//! The local state backend: `state.json` (a snapshot), `state.json.journal` (what happened
//! since), `state.json.backup` (the snapshot before the last one), `state.json.lock`.
//!
//! Recording a step appends one checksummed line to the journal: its cost is the size of that
//! step. Lines reach the kernel at once (a killed hive loses nothing); they are fsynced in
//! groups, always before the next backend call starts (what a power loss may take back is
//! only the record of steps whose effects the next refresh finds anyway). Room for the results
//! of running steps is reserved in the journal before they start, so a disk that fills up
//! meanwhile cannot lose a finished step. At the end of a command the journal is folded into
//! a new snapshot (written to a temporary file, fsynced, renamed; the temporary file is
//! removed if that fails). Every file is 0600. A damaged snapshot or a damaged journal line is
//! reported, never used; only a torn *last* journal line (a write cut off by a crash) is
//! dropped, and the caller is told.

use crate::backend::{Loaded, Recorder, StateBackend, StateError};
use crate::journal::{decode_line, encode_line, Entry};
use crate::lock::{FileLock, LockError, LockInfo, Locked};
use crate::model::State;
use crate::snapshot::Unreadable;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Room reserved in the journal for the result of each running step. A step's record is its
/// attributes: a command's output is capped at 1 MiB per stream, and JSON escaping can
/// double it.
const RESERVE_PER_STEP: u64 = 5 << 20;

pub struct FileBackend {
    path: PathBuf,
    lock: Option<FileLock>,
}

fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> StateError {
    let doing = doing.into();
    move |error| StateError::Io { doing, error }
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        FileBackend {
            path: path.into(),
            lock: None,
        }
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

    fn temp_path(&self) -> PathBuf {
        with_suffix(&self.path, ".tmp")
    }

    fn corrupt(&self, file: &Path, why: String) -> StateError {
        let backup = self.backup_path();
        StateError::Corrupt {
            what: format!("file {}", file.display()),
            why,
            restore: backup.exists().then(|| {
                format!(
                    "the previous snapshot is in {}: to go back to it, move the damaged files aside and copy it to {}",
                    backup.display(),
                    self.path.display()
                )
            }),
        }
    }

    /// Reads the snapshot and replays the journal over it; also returns the length of the
    /// journal's whole lines.
    fn load(&self) -> Result<(Loaded, u64), StateError> {
        let mut state = match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(self.decode_snapshot(&text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(format!("reading {}", self.path.display()))(e)),
        };
        let journal = self.journal_path();
        let file = match File::open(&journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let loaded = Loaded {
                    state,
                    replayed: 0,
                    torn_tail: false,
                    moved_to: None,
                };
                return Ok((loaded, 0));
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
            let (serial, entry) = match decode_line(&line) {
                Ok(entry) => entry,
                // A crash can cut off only the write in progress: the last line.
                Err(_) if i + 1 == count => {
                    torn_tail = true;
                    break;
                }
                Err(why) => return Err(self.corrupt(&journal, format!("line {}: {why}", i + 1))),
            };
            let Some(target) = state.as_mut() else {
                return Err(self.corrupt(
                    &journal,
                    "a journal without a snapshot to apply it to".into(),
                ));
            };
            entry.apply(target);
            target.serial = serial;
            replayed += 1;
            good_len += line_len;
        }
        let loaded = Loaded {
            state,
            replayed,
            torn_tail,
            moved_to: None,
        };
        Ok((loaded, good_len))
    }

    fn decode_snapshot(&self, text: &str) -> Result<State, StateError> {
        crate::snapshot::decode(text).map_err(|why| match why {
            Unreadable::Format(error) => StateError::Format {
                what: self.path.display().to_string(),
                error,
            },
            Unreadable::Damaged(why) => self.corrupt(&self.path, why),
        })
    }

    /// Cuts a torn last line off the journal (the caller holds the lock).
    fn truncate_journal(&self, len: u64) -> Result<(), StateError> {
        let path = self.journal_path();
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(io(format!("cutting the torn line off {}", path.display())))
    }

    fn write_snapshot(&self, state: &State) -> Result<(), StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(format!(
                "creating the state directory {}",
                dir.display()
            )))?;
        }
        let text = crate::snapshot::encode(state)?;
        let tmp = self.temp_path();
        let written = create_private(&tmp, true).and_then(|mut file| {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io(format!("writing {}", tmp.display())))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if self.path.exists() {
            if let Err(e) = std::fs::copy(&self.path, self.backup_path()) {
                let _ = std::fs::remove_file(&tmp);
                return Err(io("keeping the previous state as a backup")(e));
            }
        }
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(format!("replacing {}", self.path.display()))(e));
        }
        sync_dir(&self.path);
        match std::fs::remove_file(self.journal_path()) {
            Ok(()) => sync_dir(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing the folded journal")(e)),
        }
        Ok(())
    }
}

impl StateBackend for FileBackend {
    fn location(&self) -> String {
        location_of(&self.path)
    }

    fn lock(&mut self, command: &str, timeout: Duration) -> Result<Locked, LockError> {
        let (lock, locked) = FileLock::acquire(&self.lock_path(), command, timeout)?;
        self.lock = Some(lock);
        Ok(locked)
    }

    fn unlock(&mut self, id: &str) -> Result<(), LockError> {
        match &self.lock {
            Some(lock) if lock.info.id == id => {
                self.lock = None;
                Ok(())
            }
            Some(lock) => Err(LockError::Io(format!(
                "this command holds lock {}, not {id}",
                lock.info.id
            ))),
            None => Err(LockError::Io("this command holds no lock".into())),
        }
    }

    fn force_unlock(&mut self, id: &str) -> Result<LockInfo, LockError> {
        crate::lock::force_unlock(&self.lock_path(), id)
    }

    fn read(&mut self) -> Result<Loaded, StateError> {
        let (loaded, good_len) = self.load()?;
        // A writer cuts a torn last line off first, so what it appends follows whole lines.
        if loaded.torn_tail && self.lock.is_some() {
            self.truncate_journal(good_len)?;
        }
        Ok(loaded)
    }

    fn recorder(&mut self, serial: u64) -> Result<Box<dyn Recorder>, StateError> {
        let path = self.journal_path();
        let file = create_private(&path, false)?;
        Ok(Box::new(Journal {
            file,
            path,
            serial,
            unsynced: false,
            reserved_to: 0,
        }))
    }

    fn write(&mut self, state: &State) -> Result<(), StateError> {
        self.write_snapshot(state)
    }

    fn backup_location(&self) -> Option<String> {
        let backup = self.backup_path();
        backup.exists().then(|| backup.display().to_string())
    }

    fn retire(&mut self, state: &State, _moved_to: &str) -> Result<String, StateError> {
        // Folded first, so the copy kept is one whole file.
        self.write_snapshot(state)?;
        let kept = with_suffix(&self.path, &format!(".migrated-{}", state.serial));
        std::fs::rename(&self.path, &kept).map_err(io(format!(
            "moving {} aside to {}",
            self.path.display(),
            kept.display()
        )))?;
        sync_dir(&self.path);
        Ok(kept.display().to_string())
    }
}

/// The append-only record of steps since the last snapshot.
struct Journal {
    file: File,
    path: PathBuf,
    serial: u64,
    unsynced: bool,
    /// The journal's allocated length, as far as reservations made it.
    reserved_to: u64,
}

impl Recorder for Journal {
    /// The line reaches the kernel at once, so a killed process loses nothing;
    /// [`Recorder::sync`] makes it survive a power loss too.
    fn append(&mut self, entry: &Entry) -> Result<u64, StateError> {
        let line = encode_line(self.serial + 1, entry)?;
        self.file
            .write_all(line.as_bytes())
            .map_err(io(format!("recording a step in {}", self.path.display())))?;
        self.serial += 1;
        self.unsynced = true;
        Ok(self.serial)
    }

    fn sync(&mut self) -> Result<(), StateError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(io(format!("syncing {}", self.path.display())))?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn reserve(&mut self, steps: usize) -> Result<(), StateError> {
        let len = self
            .file
            .metadata()
            .map_err(io(format!("reading {}", self.path.display())))?
            .len();
        let wanted = len + RESERVE_PER_STEP * steps as u64;
        if wanted <= self.reserved_to {
            return Ok(());
        }
        // Blocks allocated past the end (the size stays): appends fill them without asking
        // the file system for more.
        // SAFETY: fallocate on a file descriptor this struct owns, with no pointers.
        let done = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                len as libc::off_t,
                (wanted - len) as libc::off_t,
            )
        };
        if done == 0 {
            self.reserved_to = wanted;
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            // A file system that cannot reserve: appends take their chance, as before.
            Some(libc::EOPNOTSUPP) => Ok(()),
            _ => Err(StateError::Io {
                doing: format!(
                    "reserving room to record {steps} step(s) in {}",
                    self.path.display()
                ),
                error,
            }),
        }
    }

    fn serial(&self) -> u64 {
        self.serial
    }
}

/// A state file's location: its absolute path where its directory exists.
pub fn location_of(path: &Path) -> String {
    std::fs::canonicalize(path.parent().unwrap_or(Path::new(".")))
        .map(|dir| dir.join(path.file_name().unwrap_or_default()))
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectAddr, ResourceState, Status};
    use std::os::unix::fs::PermissionsExt;

    fn resource(address: &str) -> ResourceState {
        ResourceState {
            address: address.parse().unwrap(),
            deposed: None,
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

    fn put(address: &str) -> Entry {
        Entry::Put {
            resource: resource(address),
        }
    }

    #[test]
    fn journal_replays_over_the_snapshot_and_compaction_folds_it() {
        let (_dir, mut b) = backend();
        let state = State::new("l".into());
        b.write(&state).unwrap();
        let mut j = b.recorder(state.serial).unwrap();
        j.append(&put("command.a")).unwrap();
        j.append(&put("command.b")).unwrap();
        j.append(&Entry::remove(&ObjectAddr::current(
            "command.a".parse().unwrap(),
        )))
        .unwrap();
        let loaded = b.read().unwrap();
        assert_eq!(loaded.replayed, 3);
        let replayed = loaded.state.unwrap();
        assert_eq!(replayed.serial, 3);
        let addresses: Vec<String> = replayed.resources.keys().map(|k| k.to_string()).collect();
        assert_eq!(addresses, ["command.b"]);
        b.write(&replayed).unwrap();
        assert!(!b.journal_path().exists());
        assert!(b.backup_path().exists());
        assert_eq!(
            b.backup_location(),
            Some(b.backup_path().display().to_string())
        );
        let mode = std::fs::metadata(b.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(b.read().unwrap().state.unwrap(), replayed);
    }

    #[test]
    fn a_torn_last_line_is_dropped_reported_and_cut_by_a_lock_holder() {
        let (_dir, mut b) = backend();
        b.write(&State::new("l".into())).unwrap();
        let mut j = b.recorder(0).unwrap();
        j.append(&put("command.a")).unwrap();
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(b.journal_path())
            .unwrap();
        f.write_all(b"3f2a 2 {\"op\":\"put\",\"reso").unwrap();
        let loaded = b.read().unwrap();
        assert!(loaded.torn_tail);
        assert_eq!(loaded.replayed, 1);
        // Without the lock the journal is left as it is; with it, the torn line is cut.
        assert!(b.read().unwrap().torn_tail);
        let locked = b.lock("test", Duration::ZERO).unwrap();
        assert!(b.read().unwrap().torn_tail);
        let mut j = b.recorder(1).unwrap();
        j.append(&put("command.b")).unwrap();
        let again = b.read().unwrap();
        assert!(!again.torn_tail);
        assert_eq!(again.replayed, 2);
        assert_eq!(again.state.unwrap().resources.len(), 2);
        b.unlock(&locked.info.id).unwrap();
    }

    #[test]
    fn damage_in_the_middle_or_in_the_snapshot_is_refused_naming_the_backup() {
        let (_dir, mut b) = backend();
        b.write(&State::new("l".into())).unwrap();
        b.write(&State::new("l".into())).unwrap();
        let mut j = b.recorder(0).unwrap();
        j.append(&put("command.a")).unwrap();
        j.append(&put("command.b")).unwrap();
        let text = std::fs::read_to_string(b.journal_path()).unwrap();
        std::fs::write(b.journal_path(), text.replacen("command.a", "command.z", 1)).unwrap();
        let err = b.read().unwrap_err().to_string();
        assert!(err.contains("line 1: checksum mismatch"), "{err}");
        assert!(err.contains(".backup"), "{err}");

        std::fs::remove_file(b.journal_path()).unwrap();
        let snap = std::fs::read_to_string(b.path()).unwrap();
        std::fs::write(b.path(), snap.replace("\"serial\": 0", "\"serial\": 7")).unwrap();
        let err = b.read().unwrap_err().to_string();
        assert!(err.contains("checksum does not match"), "{err}");
        assert!(err.contains("copy it to"), "{err}");
    }

    #[test]
    fn a_failed_snapshot_leaves_no_temporary_file_and_the_journal_whole() {
        let (dir, mut b) = backend();
        b.write(&State::new("l".into())).unwrap();
        let mut j = b.recorder(0).unwrap();
        j.append(&put("command.a")).unwrap();
        // The rename cannot replace a directory: the write fails after the temporary file.
        std::fs::remove_file(b.path()).unwrap();
        std::fs::create_dir(b.path()).unwrap();
        std::fs::write(b.path().join("x"), "keeps the directory non-empty").unwrap();
        let state = State::new("l".into());
        assert!(b.write(&state).is_err());
        assert!(!b.temp_path().exists());
        assert!(b.journal_path().exists());
        drop(dir);
    }

    #[test]
    fn reservations_grow_the_journal_allocation_not_its_size() {
        let (_dir, mut b) = backend();
        b.write(&State::new("l".into())).unwrap();
        let mut j = b.recorder(0).unwrap();
        j.reserve(2).unwrap();
        let meta = std::fs::metadata(b.journal_path()).unwrap();
        assert_eq!(meta.len(), 0);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 >= 2 * RESERVE_PER_STEP,
            "{}",
            meta.blocks()
        );
        j.append(&put("command.a")).unwrap();
        assert_eq!(b.read().unwrap().replayed, 1);
    }
}
