//! The deploy history of a stack: its entries ([`entry`], pure: appending with a bound, the
//! timeline, the last change of each function), which earlier state a rollback picks
//! ([`pick`], pure), and its reads and conditional writes in S3 ([`store`]).
//!
//! May use: `aws`, `project`, `artifact`.
//! Must not: know the reports (a report's entry is made in `report::record`).

pub mod entry;
#[cfg(test)]
mod fixtures;
pub mod pick;
pub mod store;
