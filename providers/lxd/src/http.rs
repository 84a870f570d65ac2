//! The HTTP/1.1 framing of hive's LXD client: a request's body written (JSON, a file,
//! multipart of files) and a response read (its status, its body into any sink, chunked or
//! sized or to the end, within a limit).

use crate::client::{Body, LxdError};
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// The largest answer read into memory: LXD's answers are JSON documents and command output;
/// nothing else hive asks for is larger (a volume's backup goes to a file instead).
pub(crate) const MAX_BODY: usize = 64 << 20;
pub(crate) const MULTIPART_BOUNDARY: &str = "hive-lxd-upload-boundary-5c1f";

/// Sends the request's head and body; the error says what could not be sent.
pub(crate) fn write_request(
    stream: &mut dyn Write,
    head: &[u8],
    body: &Body<'_>,
    json_text: &str,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    stream.write_all(head).map_err(io)?;
    match body {
        Body::Empty => {}
        Body::Json(_) => stream.write_all(json_text.as_bytes()).map_err(io)?,
        Body::File(p) => copy_file(p, stream)?,
        Body::Multipart(parts) => {
            for (field, file) in parts.iter() {
                stream
                    .write_all(multipart_part_head(field, file).as_bytes())
                    .map_err(io)?;
                copy_file(file, stream)?;
                stream.write_all(b"\r\n").map_err(io)?;
            }
            stream
                .write_all(format!("--{MULTIPART_BOUNDARY}--\r\n").as_bytes())
                .map_err(io)?;
        }
    }
    stream.flush().map_err(io)
}

pub(crate) fn copy_file(path: &Path, out: &mut dyn Write) -> Result<(), String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    std::io::copy(&mut file, out).map_err(|e| format!("sending {}: {e}", path.display()))?;
    Ok(())
}

pub(crate) fn multipart_part_head(field: &str, file: &Path) -> String {
    let name = file.file_name().map_or_else(
        || field.to_string(),
        |n| n.to_string_lossy().replace('"', ""),
    );
    format!(
        "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
}

pub(crate) fn multipart_length(parts: &[(&str, &Path)]) -> Result<u64, LxdError> {
    let mut total = format!("--{MULTIPART_BOUNDARY}--\r\n").len() as u64;
    for (field, file) in parts {
        let size = std::fs::metadata(file)
            .map_err(|e| LxdError::transport(format!("{}: {e}", file.display())))?
            .len();
        total += multipart_part_head(field, file).len() as u64 + size + 2;
    }
    Ok(total)
}

/// Reads an HTTP/1.1 response: status and body (by length, chunked, or to the end).
#[cfg(test)]
pub(crate) fn read_response(reader: &mut impl BufRead) -> std::io::Result<(u16, Vec<u8>)> {
    let mut body = Vec::new();
    let status = read_response_into(reader, &mut body, MAX_BODY as u64)?;
    Ok((status, body))
}

/// Reads an HTTP response: its status, the body written to `sink` (at most `limit` bytes).
pub(crate) fn read_response_into(
    reader: &mut impl BufRead,
    sink: &mut dyn Write,
    limit: u64,
) -> std::io::Result<u16> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let too_large = || bad("an answer larger than hive accepts from LXD");
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("not an HTTP response: {:?}", line.trim())))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<u64>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    // Exactly `n` bytes of the body to the sink.
    let mut copy_exactly = |reader: &mut dyn Read, n: u64| -> std::io::Result<()> {
        let copied = std::io::copy(&mut reader.take(n), sink)?;
        if copied == n {
            Ok(())
        } else {
            Err(std::io::ErrorKind::UnexpectedEof.into())
        }
    };
    if chunked {
        let mut total = 0u64;
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or_default();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| bad(&format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                break;
            }
            total = total
                .checked_add(size)
                .filter(|t| *t <= limit)
                .ok_or_else(too_large)?;
            copy_exactly(reader, size)?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        if n > limit {
            return Err(too_large());
        }
        copy_exactly(reader, n)?;
    } else {
        // Without a length the body ends with the connection; a TLS peer that closes without
        // close_notify still delivered everything we need.
        match std::io::copy(&mut reader.take(limit), sink) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e),
        }
    }
    Ok(status)
}
