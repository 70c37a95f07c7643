//! CodeSha256, and a checkpoint that lets the next append resume the hash where it stopped.
//!
//! Lambda's CodeSha256 is the base64 of the SHA-256 of the whole zip. After an append the kept
//! prefix is unchanged, so the hash state after the prefix can be saved and resumed: the S3 side
//! then reports CodeSha256 without reading the prefix it copied server side.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest, Sha256};

use crate::error::PatchError;

/// Base64 SHA-256, as Lambda reports CodeSha256.
pub fn code_sha256(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// The SHA-256 state after hashing the first `offset` bytes of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashCheckpoint {
    /// How many bytes from the start were hashed: the archive's central directory offset.
    pub offset: u64,
    /// The serialized hash state, base64.
    pub state: String,
}

impl HashCheckpoint {
    pub(crate) fn capture(hasher: &Sha256, offset: u64) -> Self {
        Self {
            offset,
            state: STANDARD.encode(hasher.serialize()),
        }
    }

    pub(crate) fn resume(&self) -> Result<Sha256, PatchError> {
        let bad = |what: &str| PatchError::Checkpoint(format!("its state {what}"));
        let bytes = STANDARD
            .decode(&self.state)
            .map_err(|_| bad("is not base64"))?;
        let state = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad("has the wrong length"))?;
        Sha256::deserialize(state).map_err(|_| bad("is not a SHA-256 state"))
    }
}

pub(crate) fn finish(hasher: Sha256) -> String {
    STANDARD.encode(hasher.finalize())
}
