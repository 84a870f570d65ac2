//! The S3 server of these tests, and a proxy in front of it that makes it ignore conditional
//! writes, as some S3-compatible servers do.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const KEY: &str = "hivetest";
pub const SECRET: &str = "hivetestsecret";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/s3.sh")
}

fn lab(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "lab/s3.sh {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Server {
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Ten consecutive free loopback ports (the server's listeners), different for every server
/// this process starts.
fn free_ports() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let offset = (std::process::id() as usize % 40) * 200;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < 200, "no ten free loopback ports for the S3 server");
        let base = 21000 + ((offset + n * 10) % 9000) as u16;
        if (base..base + 10).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_ports();
        lab(&[
            "start",
            &dir.path().display().to_string(),
            &port.to_string(),
        ]);
        Server { port, dir }
    }

    pub fn stop(&self) {
        lab(&["stop", &self.dir.path().display().to_string()]);
    }

    pub fn restart(&self) {
        lab(&[
            "start",
            &self.dir.path().display().to_string(),
            &self.port.to_string(),
        ]);
    }

    /// Where its data is (the stored-volume demo, run by the libvirt tests, restarts it there).
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new bucket, named after `what`.
    pub fn bucket(&self, what: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{what}-{}", N.fetch_add(1, Ordering::SeqCst));
        lab(&["bucket", &self.port.to_string(), &name]);
        name
    }

    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        lab(&["list", &self.port.to_string(), bucket, prefix])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Keys under `prefix` with their sizes, as the server lists them.
    pub fn sizes(&self, bucket: &str, prefix: &str) -> std::collections::BTreeMap<String, u64> {
        lab(&["sizes", &self.port.to_string(), bucket, prefix])
            .lines()
            .filter_map(|l| {
                let (key, size) = l.rsplit_once(' ')?;
                Some((key.to_string(), size.parse().ok()?))
            })
            .collect()
    }

    /// A client of `bucket` (hive's own, for what hive's commands do not reach yet).
    pub fn client(&self, bucket: &str) -> hive_s3::Bucket {
        let mut config = hive_s3::S3Config::new(bucket);
        config.endpoint = Some(self.endpoint());
        config.access_key = Some(KEY.into());
        config.secret_key = Some(SECRET.into());
        let credentials = hive_s3::Credentials::find(&config).expect("credentials");
        hive_s3::Bucket::connect(&config, &credentials).expect("client")
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), bytes).expect("write");
        lab(&[
            "put",
            &self.port.to_string(),
            bucket,
            key,
            &file.path().display().to_string(),
        ]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.dir.path().display().to_string()])
            .output();
    }
}

/// A message as one line: the renderer wraps long ones.
pub fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│" && *w != "×")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Incompressible, reproducible test bytes (xorshift).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A `hive { state { } }` block for `key` in `bucket` on `endpoint`, with `extra` settings.
pub fn state_block(endpoint: &str, bucket: &str, key: &str, extra: &str) -> String {
    format!(
        "hive {{\n  state {{\n    backend    = \"s3\"\n    endpoint   = \"{endpoint}\"\n    bucket     = \"{bucket}\"\n    key        = \"{key}\"\n    access_key = \"{KEY}\"\n    secret_key = var.s3_secret\n{extra}  }}\n}}\nvariable \"s3_secret\" {{\n  type      = string\n  sensitive = true\n  default   = \"{SECRET}\"\n}}\n"
    )
}

/// A proxy to `upstream` that turns the server's refusal of a conditional create (412) into
/// success, as a server that ignores `If-None-Match` would answer. Requests pass unchanged
/// (their signatures stay valid); one request per connection.
pub struct IgnoringProxy {
    pub port: u16,
}

impl IgnoringProxy {
    pub fn start(upstream: u16) -> IgnoringProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = relay(client, upstream);
                });
            }
        });
        IgnoringProxy { port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

fn relay(mut client: TcpStream, upstream: u16) -> std::io::Result<()> {
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).to_string();
    let lower = text.to_ascii_lowercase();
    let length: usize = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    let conditional_create = lower.starts_with("put ") && lower.contains("\r\nif-none-match:");
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    let forwarded = text
        .trim_end_matches("\r\n\r\n")
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    server.write_all(format!("{forwarded}\r\nConnection: close\r\n\r\n").as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    if conditional_create && response.starts_with(b"HTTP/1.1 412") {
        response = b"HTTP/1.1 200 OK\r\nETag: \"overwritten\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    }
    client.write_all(&response)
}
