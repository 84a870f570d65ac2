//! Files on a host: this machine's file system, or a remote host's over SFTP on the SSH
//! session hive already holds to it. Providers keep their pools, caches, consoles and lease
//! files behind this, so the same code serves a local and a remote host.

use crate::exec::Exec;
use crate::ssh::SshExec;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a directory listing or a look at one file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub len: u64,
    pub modified: SystemTime,
    pub is_file: bool,
}

/// Copy progress: bytes done, bytes in all.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

pub trait HostFiles: Send + Sync {
    /// "this machine", or the host's `user@address:port`, for messages.
    fn describe(&self) -> String;
    fn is_local(&self) -> bool;
    /// The file's bytes; `None` when there is no such file.
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, String>;
    /// Up to `len` bytes from the start of the file (a disk image's header); `None` when
    /// there is no such file.
    fn read_head(&self, path: &Path, len: usize) -> Result<Option<Vec<u8>>, String>;
    /// Writes the file whole, creating its directory: readers see the old content or the
    /// new, never half of it.
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), String>;
    /// Removes a file; one already gone is no error.
    fn remove(&self, path: &Path) -> Result<(), String>;
    /// Removes a directory if it is empty; one already gone is no error.
    fn remove_empty_dir(&self, path: &Path) -> Result<(), String>;
    fn create_dir_all(&self, path: &Path) -> Result<(), String>;
    /// Renames within one file system, replacing the target.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), String>;
    fn info(&self, path: &Path) -> Result<Option<FileInfo>, String>;
    /// A directory's entries; a missing directory has none.
    fn list(&self, dir: &Path) -> Result<Vec<FileInfo>, String>;
    /// Sets the modification time to now (an image cache's "last used").
    fn touch(&self, path: &Path) -> Result<(), String>;
    /// Copies a file of this machine to `to` on the host, picking up where an interrupted
    /// copy stopped (a hidden `.NAME.part` beside it), then checks the copy's SHA-256
    /// against `digest` before it takes its name.
    fn put(
        &self,
        from: &Path,
        to: &Path,
        digest: &str,
        progress: Progress<'_>,
    ) -> Result<(), String>;
    /// Copies a file of the host to `to` on this machine (a volume to snapshot, an image to
    /// upload), synced before it returns.
    fn get(&self, from: &Path, to: &Path) -> Result<(), String>;
    /// The hex SHA-256 of a file on the host.
    fn sha256(&self, path: &Path) -> Result<String, String>;

    fn exists(&self, path: &Path) -> bool {
        matches!(self.info(path), Ok(Some(_)))
    }

    /// The file as text (lossy), or `None`.
    fn read_text(&self, path: &Path) -> Option<String> {
        self.read(path)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Where a partial copy of `to` waits to be finished.
pub fn part_path(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    to.with_file_name(format!(".{name}.part"))
}

/// This machine's files.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFiles;

fn io_err<'a>(what: &'a str, path: &'a Path) -> impl Fn(std::io::Error) -> String + 'a {
    let what = what.to_string();
    move |e| format!("{what} {}: {e}", path.display())
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl HostFiles for LocalFiles {
    fn describe(&self) -> String {
        "this machine".into()
    }

    fn is_local(&self) -> bool {
        true
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io_err("reading", path)(e)),
        }
    }

    fn read_head(&self, path: &Path, len: usize) -> Result<Option<Vec<u8>>, String> {
        match std::fs::File::open(path) {
            Ok(file) => {
                let mut head = Vec::with_capacity(len);
                file.take(len as u64)
                    .read_to_end(&mut head)
                    .map_err(io_err("reading", path))?;
                Ok(Some(head))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io_err("reading", path)(e)),
        }
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            self.create_dir_all(dir)?;
        }
        let temp = part_path(path);
        std::fs::write(&temp, bytes)
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(io_err("writing", path))
    }

    fn remove(&self, path: &Path) -> Result<(), String> {
        match std::fs::remove_file(path) {
            Err(e) if !not_found(&e) => Err(io_err("removing", path)(e)),
            _ => Ok(()),
        }
    }

    fn remove_empty_dir(&self, path: &Path) -> Result<(), String> {
        let _ = std::fs::remove_dir(path);
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> Result<(), String> {
        std::fs::create_dir_all(path).map_err(io_err("creating", path))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), String> {
        std::fs::rename(from, to)
            .map_err(|e| format!("moving {} to {}: {e}", from.display(), to.display()))
    }

    fn info(&self, path: &Path) -> Result<Option<FileInfo>, String> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(local_info(path, &m))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io_err("looking at", path)(e)),
        }
    }

    fn list(&self, dir: &Path) -> Result<Vec<FileInfo>, String> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing", dir)(e)),
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                Some(local_info(&entry.path(), &meta))
            })
            .collect())
    }

    fn touch(&self, path: &Path) -> Result<(), String> {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(io_err("touching", path))
    }

    fn put(
        &self,
        from: &Path,
        to: &Path,
        digest: &str,
        progress: Progress<'_>,
    ) -> Result<(), String> {
        let total = std::fs::metadata(from).map_or(0, |m| m.len());
        let part = part_path(to);
        std::fs::copy(from, &part).map_err(io_err("copying to", &part))?;
        progress(total, total);
        finish_copy(self, &part, to, digest)
    }

    fn get(&self, from: &Path, to: &Path) -> Result<(), String> {
        std::fs::copy(from, to)
            .and_then(|_| std::fs::File::open(to)?.sync_all())
            .map_err(io_err("copying to", to))
    }

    fn sha256(&self, path: &Path) -> Result<String, String> {
        let mut file = std::fs::File::open(path).map_err(io_err("reading", path))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(io_err("reading", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(format!("{:x}", hasher.finalize()))
    }
}

fn local_info(path: &Path, meta: &std::fs::Metadata) -> FileInfo {
    FileInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        is_file: meta.is_file(),
    }
}

/// The copy checked, then named: a copy that does not match is removed, so the next try
/// starts over instead of resuming garbage.
fn finish_copy(files: &dyn HostFiles, part: &Path, to: &Path, digest: &str) -> Result<(), String> {
    let got = files.sha256(part)?;
    if !got.eq_ignore_ascii_case(digest) {
        let _ = files.remove(part);
        return Err(format!(
            "the copy at {} on {} has sha256 {got}, not {digest}; it was removed, try again",
            part.display(),
            files.describe()
        ));
    }
    files.rename(part, to)
}

/// A remote host's files, over SFTP on its [`SshExec`] session; commands (`mkdir -p`,
/// `mv -f`, `sha256sum`) where SFTP has nothing as good.
pub struct RemoteFiles {
    pub ssh: Arc<SshExec>,
}

/// How much is sent per write, and how much may be copied between progress reports.
const CHUNK: usize = 1 << 18;

fn sftp_missing(e: &ssh2::Error) -> bool {
    // SSH_FX_NO_SUCH_FILE
    matches!(e.code(), ssh2::ErrorCode::SFTP(2))
}

impl RemoteFiles {
    pub fn new(ssh: Arc<SshExec>) -> RemoteFiles {
        RemoteFiles { ssh }
    }

    fn at(&self) -> String {
        self.ssh.target.describe()
    }

    fn sftp<T>(
        &self,
        what: &str,
        path: &Path,
        mut work: impl FnMut(&ssh2::Sftp) -> std::io::Result<T>,
    ) -> Result<T, String> {
        let at = self.at();
        self.ssh.on_session(|session| {
            let sftp = session
                .sftp()
                .map_err(|e| format!("{at}: opening SFTP: {e}"))?;
            work(&sftp).map_err(|e| format!("{at}: {what} {}: {e}", path.display()))
        })
    }

    fn command(&self, argv: &[&str]) -> Result<String, String> {
        self.ssh
            .check(argv, None)
            .map_err(|e| format!("{}: {e}", self.at()))
    }
}

fn remote_info(path: &Path, stat: &ssh2::FileStat) -> FileInfo {
    FileInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        len: stat.size.unwrap_or(0),
        modified: SystemTime::UNIX_EPOCH + Duration::from_secs(stat.mtime.unwrap_or(0)),
        is_file: stat.is_file(),
    }
}

impl HostFiles for RemoteFiles {
    fn describe(&self) -> String {
        self.at()
    }

    fn is_local(&self) -> bool {
        false
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        self.sftp("reading", path, |sftp| match sftp.open(path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                Ok(Some(bytes))
            }
            Err(e) if sftp_missing(&e) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    fn read_head(&self, path: &Path, len: usize) -> Result<Option<Vec<u8>>, String> {
        self.sftp("reading", path, |sftp| match sftp.open(path) {
            Ok(file) => {
                let mut head = Vec::with_capacity(len);
                file.take(len as u64).read_to_end(&mut head)?;
                Ok(Some(head))
            }
            Err(e) if sftp_missing(&e) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            self.create_dir_all(dir)?;
        }
        let temp = part_path(path);
        self.sftp("writing", &temp, |sftp| {
            let mut file = sftp.create(&temp)?;
            file.write_all(bytes)?;
            Ok(())
        })?;
        self.rename(&temp, path)
    }

    fn remove(&self, path: &Path) -> Result<(), String> {
        self.sftp("removing", path, |sftp| match sftp.unlink(path) {
            Err(e) if !sftp_missing(&e) => Err(e.into()),
            _ => Ok(()),
        })
    }

    fn remove_empty_dir(&self, path: &Path) -> Result<(), String> {
        self.sftp("removing", path, |sftp| {
            let _ = sftp.rmdir(path);
            Ok(())
        })
    }

    fn create_dir_all(&self, path: &Path) -> Result<(), String> {
        self.command(&["mkdir", "-p", &path.to_string_lossy()])
            .map(drop)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), String> {
        // SFTP's rename refuses to replace a file on OpenSSH's server.
        self.command(&["mv", "-f", &from.to_string_lossy(), &to.to_string_lossy()])
            .map(drop)
    }

    fn info(&self, path: &Path) -> Result<Option<FileInfo>, String> {
        self.sftp("looking at", path, |sftp| match sftp.stat(path) {
            Ok(stat) => Ok(Some(remote_info(path, &stat))),
            Err(e) if sftp_missing(&e) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    fn list(&self, dir: &Path) -> Result<Vec<FileInfo>, String> {
        self.sftp("listing", dir, |sftp| match sftp.readdir(dir) {
            Ok(entries) => Ok(entries
                .iter()
                .map(|(path, stat)| remote_info(path, stat))
                .collect()),
            Err(e) if sftp_missing(&e) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        })
    }

    fn touch(&self, path: &Path) -> Result<(), String> {
        self.command(&["touch", "-c", &path.to_string_lossy()])
            .map(drop)
    }

    fn put(
        &self,
        from: &Path,
        to: &Path,
        digest: &str,
        progress: Progress<'_>,
    ) -> Result<(), String> {
        let mut input = std::fs::File::open(from).map_err(io_err("reading", from))?;
        let total = input.metadata().map_or(0, |m| m.len());
        let part = part_path(to);
        if let Some(dir) = to.parent() {
            self.create_dir_all(dir)?;
        }
        // Resumed where the last copy stopped; retried after a broken session, from
        // wherever that one got.
        self.sftp("copying to", &part, |sftp| {
            let have = match sftp.stat(&part) {
                Ok(stat) => stat.size.unwrap_or(0),
                Err(_) => 0,
            };
            let start = if have <= total { have } else { 0 };
            let mut file = sftp.open_mode(
                &part,
                ssh2::OpenFlags::WRITE | ssh2::OpenFlags::CREATE,
                0o644,
                ssh2::OpenType::File,
            )?;
            if start == 0 && have > 0 {
                // Longer than the source: not a prefix of it, start again.
                let mut stat = sftp.stat(&part)?;
                stat.size = Some(0);
                sftp.setstat(&part, stat)?;
            }
            file.seek(SeekFrom::Start(start))?;
            input.seek(SeekFrom::Start(start))?;
            let mut done = start;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])?;
                done += n as u64;
                progress(done, total);
            }
            file.fsync()?;
            Ok(())
        })?;
        finish_copy(self, &part, to, digest)
    }

    fn get(&self, from: &Path, to: &Path) -> Result<(), String> {
        // Started over after a broken session: the local copy is truncated each try.
        self.sftp("copying from", from, |sftp| {
            let mut input = sftp.open(from)?;
            let mut out = std::fs::File::create(to)?;
            std::io::copy(&mut input, &mut out)?;
            out.sync_all()
        })
    }

    fn sha256(&self, path: &Path) -> Result<String, String> {
        let out = self.command(&["sha256sum", "--", &path.to_string_lossy()])?;
        out.split_whitespace()
            .next()
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "{}: sha256sum printed nothing for {}",
                    self.at(),
                    path.display()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_write_whole_list_and_copy_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = LocalFiles;
        let a = dir.path().join("sub/a");
        files.write(&a, b"hello").expect("write");
        assert_eq!(files.read(&a).expect("read"), Some(b"hello".to_vec()));
        assert_eq!(files.read(&dir.path().join("none")).expect("read"), None);
        let listed = files.list(&dir.path().join("sub")).expect("list");
        assert_eq!(listed.len(), 1, "no temporary left: {listed:?}");
        assert_eq!((listed[0].name.as_str(), listed[0].len), ("a", 5));
        let digest = files.sha256(&a).expect("digest");
        let b = dir.path().join("b");
        let mut seen = 0;
        files
            .put(&a, &b, &digest, &mut |done, _| seen = done)
            .expect("copy");
        assert_eq!(
            (files.read(&b).expect("read"), seen),
            (Some(b"hello".to_vec()), 5)
        );
        let wrong = files
            .put(&a, &dir.path().join("c"), &"0".repeat(64), &mut |_, _| {})
            .expect_err("a wrong digest");
        assert!(wrong.contains("not 0000"), "{wrong}");
        assert!(
            !part_path(&dir.path().join("c")).exists(),
            "bad copy removed"
        );
        let back = dir.path().join("back");
        files.get(&b, &back).expect("get");
        assert_eq!(std::fs::read(&back).expect("read back"), b"hello");
        assert!(files.get(&dir.path().join("none"), &back).is_err());
        assert!(files
            .list(&dir.path().join("missing"))
            .expect("list")
            .is_empty());
    }
}
