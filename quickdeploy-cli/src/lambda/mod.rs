//! Lambda: the functions the quick path updates ([`update`]: UpdateFunctionCode in parallel,
//! waiting for each to settle, versions and aliases), Lambda's control-plane quotas kept by
//! the client ([`pace`]), what each function runs now ([`current`]), layer versions
//! ([`layer`], pure, and [`publish`]), and whether what runs is what the template says
//! ([`verify`], pure).
//!
//! May use: `aws`, `project`.
//! Must not: read the project from disk or touch CloudFormation.

pub mod current;
pub mod layer;
pub mod pace;
pub mod publish;
pub mod update;
pub mod verify;
