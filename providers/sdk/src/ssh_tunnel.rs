//! Reaching a guest on a remote host's private bridge through that host's SSH server (a
//! `direct-tcpip` channel, as `ssh -J` does), without setting anything up on the host.
//!
//! ssh2 sessions want a socket, so the channel is joined to one end of a socket pair by a
//! small pump thread, and the caller gets the other end.

use crate::ssh::SshTarget;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How long the pump rests when neither side had anything.
const IDLE: Duration = Duration::from_millis(2);

/// A stream to `ip:port` as the host `via` sees it. The tunnel lasts until either end
/// closes.
pub fn connect_via(via: &SshTarget, ip: &str, port: u16) -> Result<UnixStream, String> {
    let session = via.connect()?;
    let channel = session.channel_direct_tcpip(ip, port, None).map_err(|e| {
        format!(
            "through {}: connecting to {ip}:{port} from there: {e}",
            via.describe()
        )
    })?;
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| format!("making a socket pair for a tunnel: {e}"))?;
    ours.set_nonblocking(true)
        .map_err(|e| format!("tunnel socket: {e}"))?;
    session.set_blocking(false);
    std::thread::Builder::new()
        .name(format!("tunnel-{ip}"))
        .spawn(move || pump(session, channel, ours))
        .map_err(|e| format!("starting a tunnel: {e}"))?;
    Ok(theirs)
}

/// Copies both ways until one side ends. The session is non-blocking, so one thread serves
/// both directions without holding libssh2's lock across a wait.
fn pump(session: ssh2::Session, mut channel: ssh2::Channel, mut local: UnixStream) {
    let mut buf = vec![0u8; 1 << 15];
    loop {
        let mut moved = false;
        match channel.read(&mut buf) {
            Ok(0) if channel.eof() => break,
            Ok(0) => {}
            Ok(n) => {
                if write_all_retrying(&mut local, &buf[..n]).is_err() {
                    break;
                }
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        match local.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if write_all_retrying(&mut channel, &buf[..n]).is_err() {
                    break;
                }
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        if !moved {
            std::thread::sleep(IDLE);
        }
    }
    let _ = channel.send_eof();
    let _ = channel.close();
    drop(session);
}

/// Writes everything to a non-blocking writer, waiting out `WouldBlock` (bounded: a side
/// that takes nothing for a minute is gone).
fn write_all_retrying(to: &mut impl Write, mut bytes: &[u8]) -> std::io::Result<()> {
    let mut waited = Duration::ZERO;
    while !bytes.is_empty() {
        match to.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                waited = Duration::ZERO;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if waited > Duration::from_secs(60) {
                    return Err(ErrorKind::TimedOut.into());
                }
                std::thread::sleep(IDLE);
                waited += IDLE;
            }
            Err(e) => return Err(e),
        }
    }
    let _ = to.flush();
    Ok(())
}
