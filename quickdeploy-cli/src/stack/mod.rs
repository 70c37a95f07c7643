//! CloudFormation: the deployed stack read back ([`deployed`], with its template and physical
//! ids kept on disk and confirmed by one DescribeStacks: [`cache`]), a change set made, shown,
//! executed and waited on ([`changeset`]), one line of it ([`change`], pure), and whether it
//! may run ([`consent`], pure).
//!
//! May use: `aws`, `project`.
//! Must not: touch S3 artifacts or Lambda functions directly.

pub mod cache;
pub mod change;
pub mod changeset;
pub mod consent;
pub mod deployed;
