//! zipedit: patch changed files into an existing Lambda zip artifact.
//!
//! The engine is plain Rust with no AWS and no async, so the zipedit Lambda, the `quickdeploy`
//! CLI (`patch-zip`, and `deploy --local`) and the tests all run the same code.
//!
//! Two strategies:
//! - **rewrite** copies every kept entry's compressed bytes as they are into a fresh archive,
//!   compresses only the put files, and writes a new central directory. No dead bytes.
//! - **append** keeps every byte before the old central directory, then writes the put files,
//!   a new central directory (kept records copied byte for byte, at their old offsets) and a new
//!   end record. Only [`Patched::tail`] is new, so S3 can copy the kept prefix server side.
//!
//! [`Mode::Auto`] appends unless the change deletes something (a streaming reader, which walks
//! local headers in order, cannot see a deletion) or dead bytes would pass
//! [`PatchOptions::max_dead_ratio`]; then it rewrites, which compacts.
//!
//! Output is deterministic: kept entries in their old order, new ones sorted by path, a fixed
//! 1980-01-01 timestamp, Unix modes 0644, or 0755 for executables.
//!
//! ```
//! use zipedit::{ChangeSet, PatchOptions, PutFile, patch_bytes};
//! # let old = zipedit::build_archive(vec![PutFile::new("handler.py", "print(1)\n")])?;
//! let changes = ChangeSet::new().put(PutFile::new("handler.py", "print(2)\n"));
//! let patched = patch_bytes(&old, &changes, &PatchOptions::default())?;
//! assert_eq!(patched.report.modified, 1);
//! let new_archive = patched.to_vec(&old);
//! assert_eq!(patched.report.code_sha256, zipedit::code_sha256(&new_archive));
//! # Ok::<(), zipedit::PatchError>(())
//! ```
#![warn(missing_docs)]

mod build;
mod change;
pub mod delta;
mod digest;
pub mod entry;
mod error;
pub mod event;
mod format;
pub mod history;
pub mod manifest;
mod patch;
#[cfg(feature = "aws")]
pub mod records;
#[cfg(feature = "aws")]
pub mod s3;
pub mod splice;
#[cfg(feature = "aws")]
pub mod stack;

pub use build::{ArchiveWriter, Built, EMPTY_ARCHIVE, SetLen, build_archive};
pub use change::{ChangeSet, PutFile, check_path};
pub use digest::{HashCheckpoint, code_sha256};
pub use error::PatchError;
pub use patch::{
    Mode, PatchOptions, Patched, Report, Strategy, directory_offset, patch, patch_bytes,
    patch_directory,
};
