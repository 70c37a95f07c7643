//! A package on disk: which paths belong to it ([`spec`], [`filter`], with `.gitignore`
//! files), reading it ([`scan`]), Lambda's size limits ([`limits`]), packaging it into a
//! deterministic zip ([`zip`]), and which file events matter to `watch` ([`watch`]).
//!
//! May use: `project`, `artifact` (the manifest's file entries and the diff's local files).
//! Must not: talk to AWS.

pub mod filter;
pub mod limits;
pub mod scan;
pub mod spec;
pub mod watch;
pub mod zip;
