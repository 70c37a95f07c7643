//! CloudFormation: the deployed stack read back ([`deployed`]), a change set made, shown,
//! executed and waited on ([`changeset`]), one line of it ([`change`], pure), and whether it
//! may run ([`consent`], pure).
//!
//! May use: `aws`, `project`.
//! Must not: touch S3 artifacts or Lambda functions directly.

pub mod change;
pub mod changeset;
pub mod consent;
pub mod deployed;
