//! The one model of a project that everything below the readers reads, and which reader
//! fills it.

use std::path::{Path, PathBuf};

use super::template::Template;

/// Which reader a project needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SAM or CloudFormation template, named by `template` in `quickdeploy.toml` ([`sam`]).
    Template,
}

impl Kind {
    /// The kind of the project rooted at `root`. One kind today; a CDK app (a `cdk.json` in
    /// the root) will be the second.
    pub fn of(_root: &Path) -> Kind {
        Kind::Template
    }
}

/// What a project says, in the one form everything below the readers reads: its functions
/// (with where each one's code is and its settings), its layers and their packages, as a
/// CloudFormation template with SAM's conventions; and the folder the template's paths are
/// relative to.
#[derive(Debug, Clone)]
pub struct Model {
    /// The functions, layers and settings, as a template.
    pub template: Template,
    /// The folder its code paths are relative to.
    pub dir: PathBuf,
    /// The reader that filled it.
    pub kind: Kind,
}
