//! Building a fresh archive from files, by the same rules as a patch.

use crate::change::{ChangeSet, PutFile};
use crate::error::PatchError;
use crate::patch::{Mode, PatchOptions, patch_bytes};

/// The smallest valid zip: an end record and nothing else.
pub const EMPTY_ARCHIVE: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A deterministic archive of `files`: sorted by path, fixed timestamps, 0644/0755 modes.
/// The same files always give the same bytes, hence the same CodeSha256.
pub fn build_archive(files: Vec<PutFile>) -> Result<Vec<u8>, PatchError> {
    let changes = ChangeSet {
        puts: files,
        deletes: Vec::new(),
    };
    let opts = PatchOptions {
        mode: Mode::Rewrite,
        ..PatchOptions::default()
    };
    Ok(patch_bytes(&EMPTY_ARCHIVE, &changes, &opts)?.tail)
}
