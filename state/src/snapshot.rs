//! A snapshot's bytes, as every backend stores them: the state's JSON with one more last
//! member, `"checksum"`, a digest of the JSON as it reads without that member. Checking it
//! needs one hash of the bytes, not a second serialisation of the state.

use crate::backend::StateError;
use crate::journal::hex;
use crate::model::{FormatError, State};
use sha2::{Digest, Sha256};

const CHECKSUM_MEMBER: &str = ",\n  \"checksum\": \"sha256:";

pub(crate) fn encode(state: &State) -> Result<String, StateError> {
    let body = state.to_json().map_err(|error| StateError::Encode {
        doing: "writing the state snapshot".into(),
        error,
    })?;
    let digest = hex(&Sha256::digest(body.as_bytes()));
    // `body` ends with the closing brace of the object.
    let open = body.strip_suffix('}').unwrap_or(&body).trim_end();
    Ok(format!("{open}{CHECKSUM_MEMBER}{digest}\"\n}}\n"))
}

/// Why a snapshot could not be read.
pub(crate) enum Unreadable {
    /// A format this build does not read (a newer hive's).
    Format(FormatError),
    /// Damaged: why.
    Damaged(String),
}

pub(crate) fn decode(text: &str) -> Result<State, Unreadable> {
    // The version is checked first so a newer format gets a clear message.
    State::from_json_version_only(text).map_err(Unreadable::Format)?;
    let damaged = |why: &str| Unreadable::Damaged(why.to_string());
    let at = text
        .rfind(CHECKSUM_MEMBER)
        .ok_or_else(|| damaged("it has no checksum"))?;
    let recorded = text[at + CHECKSUM_MEMBER.len()..]
        .split('"')
        .next()
        .unwrap_or_default();
    let body = format!("{}\n}}", &text[..at]);
    if hex(&Sha256::digest(body.as_bytes())) != recorded {
        return Err(damaged(
            "its checksum does not match its contents (edited by hand, or torn)",
        ));
    }
    serde_json::from_str(text).map_err(|e| damaged(&e.to_string()))
}
