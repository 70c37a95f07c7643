//! Lambda: the functions the quick path updates ([`update`]: UpdateFunctionCode in parallel,
//! paced at Lambda's quotas, waiting for each, aliases), layer versions ([`layer`], pure, and
//! [`publish`]), and whether what runs is what the template says ([`verify`], pure).
//!
//! May use: `aws`, `project`.
//! Must not: read the project from disk or touch CloudFormation.

pub mod layer;
pub mod publish;
pub mod update;
pub mod verify;
