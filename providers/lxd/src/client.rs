//! A small client of the LXD REST API: HTTP/1.1 over the daemon's unix socket, or over TLS
//! with a client certificate and a pinned server certificate for a remote daemon.
//!
//! One connection per request (`Connection: close`): a unix socket connects in microseconds
//! and LXD's answers are small, so there is no pool to get wrong. Asynchronous operations are
//! waited on with `/1.0/operations/<id>/wait`. LXD's own error text is kept in [`LxdError`].

use hive_sdk::provider::Cancel;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value as Json;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{
    multipart_length, read_response_into, write_request, MAX_BODY, MULTIPART_BOUNDARY,
};

/// A failed request: the HTTP status LXD answered (0 when it could not be asked) and its
/// message.
#[derive(Debug, Clone, PartialEq)]
pub struct LxdError {
    pub status: u16,
    pub message: String,
}

impl LxdError {
    pub(crate) fn transport(message: String) -> LxdError {
        LxdError { status: 0, message }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

impl std::fmt::Display for LxdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where the daemon listens.
#[derive(Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Https {
        /// `host:port`.
        authority: String,
        tls: Arc<rustls::ClientConfig>,
    },
}

/// What a request sends.
pub enum Body<'a> {
    Empty,
    Json(&'a Json),
    /// A file, streamed (images are hundreds of MiB).
    File(&'a Path),
    /// `multipart/form-data` of files, as LXD takes split images (`metadata`, `rootfs`).
    Multipart(&'a [(&'a str, &'a Path)]),
}

/// LXD's response envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_code: u16,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    metadata: Json,
}

/// A background operation, as `/1.0/operations/<id>` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_code: u16,
    #[serde(default)]
    pub err: String,
    #[serde(default)]
    pub metadata: Json,
}

/// Operations longer than this are waited on in steps, so cancellation and progress get a
/// look in.
const WAIT_STEP: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub struct Client {
    endpoint: Endpoint,
    /// Where the daemon is, for messages: the socket path or the URL.
    pub label: String,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        let label = match &endpoint {
            Endpoint::Unix(path) => path.display().to_string(),
            Endpoint::Https { authority, .. } => format!("https://{authority}"),
        };
        Client { endpoint, label }
    }

    fn connect(&self, read_timeout: Duration) -> Result<Box<dyn Stream>, LxdError> {
        let unreachable = |e: std::io::Error| {
            LxdError::transport(format!(
                "LXD is not reachable at {}: {e} (is the daemon running? `lxc info` checks)",
                self.label
            ))
        };
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path).map_err(unreachable)?;
                let _ = s.set_read_timeout(Some(read_timeout));
                let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                Ok(Box::new(s))
            }
            Endpoint::Https { authority, tls } => {
                // Each address the name has, in turn (an IPv6 one may not be routed here).
                let mut last =
                    std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
                let mut connected = None;
                for addr in std::net::ToSocketAddrs::to_socket_addrs(authority.as_str())
                    .map_err(unreachable)?
                {
                    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                        Ok(tcp) => {
                            connected = Some(tcp);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let tcp = connected.ok_or_else(|| unreachable(last))?;
                let _ = tcp.set_read_timeout(Some(read_timeout));
                let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
                let host = authority
                    .rsplit_once(':')
                    .map_or(authority.as_str(), |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                let name = rustls_pki_types::ServerName::try_from(host)
                    .map_err(|e| LxdError::transport(format!("{}: {e}", self.label)))?;
                let conn = rustls::ClientConnection::new(tls.clone(), name)
                    .map_err(|e| LxdError::transport(format!("TLS to {}: {e}", self.label)))?;
                Ok(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        }
    }

    /// One HTTP exchange: (status, body).
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        read_timeout: Duration,
    ) -> Result<(u16, Vec<u8>), LxdError> {
        let mut answer = Vec::new();
        let status = self.exchange_into(
            method,
            path,
            headers,
            body,
            read_timeout,
            &mut answer,
            MAX_BODY as u64,
        )?;
        Ok((status, answer))
    }

    /// One HTTP exchange, the answer's body written to `sink`: its status.
    #[allow(clippy::too_many_arguments)]
    fn exchange_into(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        read_timeout: Duration,
        sink: &mut dyn Write,
        limit: u64,
    ) -> Result<u16, LxdError> {
        let io = |e: std::io::Error| {
            LxdError::transport(format!("{method} {path} at {}: {e}", self.label))
        };
        let mut stream = self.connect(read_timeout)?;
        // Serialised once: for its length, then to send.
        let json_text = match body {
            Body::Json(j) => j.to_string(),
            _ => String::new(),
        };
        let (content_type, length) = match body {
            Body::Empty => (None, 0),
            Body::Json(_) => (Some("application/json".to_string()), json_text.len() as u64),
            Body::File(p) => (
                Some("application/octet-stream".to_string()),
                std::fs::metadata(p)
                    .map_err(|e| LxdError::transport(format!("{}: {e}", p.display())))?
                    .len(),
            ),
            Body::Multipart(parts) => (
                Some(format!(
                    "multipart/form-data; boundary={MULTIPART_BOUNDARY}"
                )),
                multipart_length(parts)?,
            ),
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: lxd\r\nUser-Agent: hive\r\nConnection: close\r\nContent-Length: {length}\r\n"
        );
        if let Some(t) = content_type {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let sent = write_request(&mut stream, head.as_bytes(), body, &json_text);
        // LXD may answer (and close) before taking the whole body, e.g. refusing an upload:
        // its answer says more than the broken pipe.
        match (
            read_response_into(&mut BufReader::new(stream), sink, limit),
            sent,
        ) {
            (Ok(answer), _) => Ok(answer),
            (Err(_), Err(e)) => Err(LxdError::transport(format!(
                "{method} {path} at {}: {e}",
                self.label
            ))),
            (Err(e), Ok(())) => Err(io(e)),
        }
    }

    /// A request whose answer is LXD's envelope; returns it, or LXD's error.
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &Body<'_>,
        read_timeout: Duration,
    ) -> Result<Envelope, LxdError> {
        let (status, bytes) = self.exchange(method, path, headers, body, read_timeout)?;
        envelope_of(method, path, status, &bytes)
    }

    /// `GET` of a synchronous resource, decoded.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, LxdError> {
        let envelope = self.call("GET", path, &[], &Body::Empty, IO_TIMEOUT)?;
        serde_json::from_value(envelope.metadata).map_err(|e| LxdError {
            status: 200,
            message: format!("GET {path}: unexpected answer from LXD: {e}"),
        })
    }

    /// A request that may be synchronous or start an operation; an operation is waited for
    /// (up to `timeout`) and its metadata returned.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: &Body<'_>,
        headers: &[(&str, String)],
        timeout: Duration,
        cancel: Option<&Cancel>,
    ) -> Result<Json, LxdError> {
        let envelope = self.call(method, path, headers, body, IO_TIMEOUT.max(timeout))?;
        if envelope.kind != "async" {
            return Ok(envelope.metadata);
        }
        let id = envelope
            .operation
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let op = self.wait(&id, timeout, cancel)?;
        Ok(op.metadata)
    }

    /// Sends JSON (or nothing, for `DELETE`) and waits for the outcome.
    pub fn json(&self, method: &str, path: &str, body: Option<&Json>) -> Result<Json, LxdError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.send(method, path, &body, &[], Duration::from_secs(600), None)
    }

    /// Waits for an operation to end; a failed one is an error with LXD's message. Stops
    /// early when `cancel` is set.
    pub fn wait(
        &self,
        id: &str,
        timeout: Duration,
        cancel: Option<&Cancel>,
    ) -> Result<Operation, LxdError> {
        let start = std::time::Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let step = left.min(WAIT_STEP).as_secs().max(1);
            let path = format!("/1.0/operations/{id}/wait?timeout={step}");
            let waited = self.call(
                "GET",
                &path,
                &[],
                &Body::Empty,
                Duration::from_secs(step) + IO_TIMEOUT,
            );
            let metadata = match waited {
                Ok(envelope) => envelope.metadata,
                Err(e) if e.status == 0 => return Err(e),
                // Newer daemons answer a wait that timed out with an error: ask for the
                // operation itself.
                Err(_) => match self.get::<Json>(&format!("/1.0/operations/{id}")) {
                    Ok(op) => op,
                    Err(e) if e.is_not_found() => {
                        return Err(LxdError::transport(format!(
                            "LXD operation {id} is gone before it ended (did the daemon restart?)"
                        )))
                    }
                    Err(e) => return Err(e),
                },
            };
            let op: Operation = serde_json::from_value(metadata).map_err(|e| LxdError {
                status: 200,
                message: format!("operation {id}: unexpected answer from LXD: {e}"),
            })?;
            match op.status_code {
                200 => return Ok(op),
                400 | 401 => {
                    return Err(LxdError {
                        status: op.status_code,
                        message: format!(
                            "LXD: {}",
                            if op.err.is_empty() {
                                &op.status
                            } else {
                                &op.err
                            }
                        ),
                    })
                }
                _ if cancel.is_some_and(Cancel::is_cancelled) => {
                    return Err(LxdError::transport(format!(
                        "stopped waiting for LXD operation {id} ({}): cancelled",
                        op.status.to_lowercase()
                    )))
                }
                _ if left.is_zero() => {
                    return Err(LxdError::transport(format!(
                        "LXD operation {id} still {} after {} s",
                        op.status.to_lowercase(),
                        timeout.as_secs()
                    )))
                }
                _ => {}
            }
        }
    }

    /// `GET` of something that may not exist: `None` when LXD says 404.
    pub fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, LxdError> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE`, waiting for it; something already gone is deleted.
    pub fn delete(&self, path: &str) -> Result<(), LxdError> {
        match self.json("DELETE", path, None) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// A file-like resource of any size (a volume's backup) written to `dest`.
    pub fn get_to_file(&self, path: &str, dest: &std::path::Path) -> Result<u64, LxdError> {
        let local = |e: std::io::Error| LxdError::transport(format!("{}: {e}", dest.display()));
        let mut file = std::fs::File::create(dest).map_err(local)?;
        let status = self.exchange_into(
            "GET",
            path,
            &[],
            &Body::Empty,
            Duration::from_secs(600),
            &mut file,
            u64::MAX,
        )?;
        file.sync_all().map_err(local)?;
        drop(file);
        if status >= 400 {
            let bytes = std::fs::read(dest).unwrap_or_default();
            let _ = std::fs::remove_file(dest);
            return Err(match envelope_of("GET", path, status, &bytes) {
                Err(e) => e,
                Ok(_) => LxdError {
                    status,
                    message: format!("GET {path}: HTTP {status}"),
                },
            });
        }
        std::fs::metadata(dest).map(|m| m.len()).map_err(local)
    }

    /// The raw bytes of a file-like resource (an exec's recorded output).
    pub fn get_raw(&self, path: &str) -> Result<Vec<u8>, LxdError> {
        let (status, bytes) = self.exchange("GET", path, &[], &Body::Empty, IO_TIMEOUT)?;
        if status >= 400 {
            // LXD's own error, from its JSON envelope when it sent one.
            return Err(match envelope_of("GET", path, status, &bytes) {
                Err(e) => e,
                Ok(_) => LxdError {
                    status,
                    message: format!("GET {path}: HTTP {status}"),
                },
            });
        }
        Ok(bytes)
    }
}

/// LXD's answer, decoded; an error status or error envelope is an error with LXD's own text.
fn envelope_of(method: &str, path: &str, status: u16, bytes: &[u8]) -> Result<Envelope, LxdError> {
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| LxdError {
        status,
        message: format!(
            "{method} {path}: LXD answered HTTP {status} with something that is not its JSON ({e}): {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ),
    })?;
    if envelope.kind == "error" || status >= 400 {
        let code = if envelope.error_code != 0 {
            envelope.error_code
        } else {
            status
        };
        return Err(LxdError {
            status: code,
            message: format!("LXD: {}", envelope.error),
        });
    }
    Ok(envelope)
}

/// Percent-encodes a URL path segment or query value.
pub fn url_part(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A TLS configuration that presents the client certificate and accepts exactly the pinned
/// server certificate (LXD's are self-signed: there is no authority to check them against).
pub fn tls_config(
    client_cert_pem: &str,
    client_key_pem: &str,
    server_cert_pem: &str,
) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(client_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("client_cert: not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("client_cert: no certificate in it".into());
    }
    let key = PrivateKeyDer::from_pem_slice(client_key_pem.as_bytes())
        .map_err(|e| format!("client_key: not a PEM private key: {e}"))?;
    let pinned = CertificateDer::from_pem_slice(server_cert_pem.as_bytes())
        .map_err(|e| format!("server_cert: not a PEM certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedServer {
        pinned: pinned.as_ref().to_vec(),
        provider: provider.clone(),
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("client_cert/client_key: {e}"))
}

#[derive(Debug)]
struct PinnedServer {
    pinned: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the pinned server_cert".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{multipart_part_head, read_response};
    use std::io::BufRead;

    #[test]
    fn responses_by_length_chunks_and_close() {
        let fixed = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(
            read_response(&mut &fixed[..]).ok(),
            Some((200, b"hello".to_vec()))
        );
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            read_response(&mut &chunked[..]).ok(),
            Some((404, b"abcde".to_vec()))
        );
        let closed = b"HTTP/1.0 200 OK\r\n\r\nall of it";
        assert_eq!(
            read_response(&mut &closed[..]).ok(),
            Some((200, b"all of it".to_vec()))
        );
        assert!(read_response(&mut &b"SSH-2.0-OpenSSH\r\n"[..]).is_err());
    }

    #[test]
    fn multipart_length_matches_what_is_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (
            dir.path().join("meta.tar"),
            dir.path().join("rootfs.squashfs"),
        );
        std::fs::write(&a, b"metadata").expect("write");
        std::fs::write(&b, vec![7u8; 1000]).expect("write");
        let parts = [("metadata", a.as_path()), ("rootfs", b.as_path())];
        let mut sent = Vec::new();
        for (field, file) in parts.iter() {
            sent.extend_from_slice(multipart_part_head(field, file).as_bytes());
            sent.extend_from_slice(&std::fs::read(file).expect("read"));
            sent.extend_from_slice(b"\r\n");
        }
        sent.extend_from_slice(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes());
        assert_eq!(multipart_length(&parts).ok(), Some(sent.len() as u64));
    }

    #[test]
    fn bad_pem_is_named() {
        let e = tls_config("nope", "nope", "nope").err().unwrap_or_default();
        assert!(e.contains("client_cert"), "{e}");
    }

    /// A daemon on a temporary socket answering each connection with the next canned
    /// response; returns the client and the requests it saw.
    fn fake_daemon(
        answers: Vec<(u16, Json)>,
    ) -> (
        Client,
        std::thread::JoinHandle<Vec<String>>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lxd.socket");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let Ok((stream, _)) = listener.accept() else {
                    break;
                };
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                seen.push(line.trim().to_string());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                }
                let text = body.to_string();
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
            }
            seen
        });
        (Client::new(Endpoint::Unix(path)), server, dir)
    }

    #[test]
    fn a_wait_that_times_out_as_an_error_keeps_waiting() {
        let running = serde_json::json!({"type": "sync", "metadata": {"id": "op1", "status": "Running", "status_code": 103}});
        let (client, server, _dir) = fake_daemon(vec![
            (
                500,
                serde_json::json!({"type": "error", "error": "context deadline exceeded", "error_code": 500}),
            ),
            (200, running),
            (
                200,
                serde_json::json!({"type": "sync", "metadata": {"id": "op1", "status": "Success", "status_code": 200, "metadata": {"return": 0}}}),
            ),
        ]);
        let op = client.wait("op1", Duration::from_secs(120), None);
        assert_eq!(
            op.map(|o| o.metadata["return"].clone()).ok(),
            Some(serde_json::json!(0))
        );
        let seen = server.join().expect("server");
        assert_eq!(seen[1], "GET /1.0/operations/op1 HTTP/1.1");
    }

    #[test]
    fn a_failed_operation_carries_lxd_s_message() {
        let (client, _server, _dir) = fake_daemon(vec![
            (
                202,
                serde_json::json!({"type": "async", "operation": "/1.0/operations/op2", "metadata": {}}),
            ),
            (
                200,
                serde_json::json!({"type": "sync", "metadata": {"id": "op2", "status": "Failure", "status_code": 400, "err": "Failed creating instance: no space"}}),
            ),
        ]);
        let e = client
            .json("POST", "/1.0/instances", Some(&serde_json::json!({})))
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert_eq!(e, "LXD: Failed creating instance: no space");
    }

    #[test]
    fn a_raw_read_that_fails_keeps_lxds_error() {
        let (client, _server, _dir) = fake_daemon(vec![(
            404,
            serde_json::json!({"type": "error", "error": "Operation not found", "error_code": 404}),
        )]);
        let e = client
            .get_raw("/1.0/instances/x/logs/exec-output/1.stdout")
            .err();
        assert_eq!(
            e.map(|e| (e.status, e.message)),
            Some((404, "LXD: Operation not found".to_string()))
        );
    }

    #[test]
    fn an_error_envelope_is_not_found_only_when_lxd_says_404() {
        let (client, _server, _dir) = fake_daemon(vec![
            (
                404,
                serde_json::json!({"type": "error", "error": "Instance not found", "error_code": 404}),
            ),
            (
                500,
                serde_json::json!({"type": "error", "error": "boom", "error_code": 500}),
            ),
        ]);
        assert_eq!(client.get_opt::<Json>("/1.0/instances/x").ok(), Some(None));
        let e = client.get_opt::<Json>("/1.0/instances/y").err();
        assert_eq!(
            e.map(|e| (e.status, e.message)),
            Some((500, "LXD: boom".to_string()))
        );
    }

    #[test]
    fn unreachable_daemon_says_where() {
        let client = Client::new(Endpoint::Unix("/nonexistent/lxd.socket".into()));
        let e = client
            .get::<Json>("/1.0")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(
            e.contains("/nonexistent/lxd.socket") && e.contains("not reachable"),
            "{e}"
        );
    }
}
