//! `quickdeploy`: deploy a code change to AWS Lambda in seconds.
//!
//! The layers, from the top (ARCHITECTURE.md is the map): `commands` parse arguments and
//! render reports (`render`); `ops` do the work and print nothing; `report` holds the typed
//! results; below them the concept folders, each one job: `plan` (the situation and what to
//! do), `history`, `build`, `package` (a package on disk), `artifact` (its S3 side), `stack`
//! (CloudFormation), `lambda`, `project` (what the user's files say) and `aws` (clients).
//! `error` is the one error type and its exit codes. `tests/layers.rs` checks the rules.

pub mod artifact;
pub mod aws;
pub mod build;
pub mod commands;
pub mod error;
pub mod history;
pub mod lambda;
pub mod ops;
pub mod package;
pub mod plan;
pub mod project;
pub mod render;
pub mod report;
pub mod stack;
