//! The S3 side of a change: what an artifact holds ([`manifest`]), what changed against it
//! ([`diff`], pure), how each changed file travels ([`encode`], pure) and the previous content
//! a delta needs ([`bases`]), the deployed artifact read back ([`remote`]), a package
//! uploaded whole ([`upload`]), patched through the patcher ([`patch`]), and the record of hot
//! patches ([`hotpatch`]).
//!
//! May use: `aws`, `project`.
//! Must not: read the package folders from disk (that is `package`) or touch Lambda.

pub mod bases;
pub mod diff;
pub mod encode;
pub mod hotpatch;
pub mod manifest;
pub mod patch;
pub mod remote;
pub mod upload;
