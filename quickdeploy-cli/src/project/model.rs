//! The one model of a project that everything below the readers reads, and which reader
//! fills it.

use std::path::{Path, PathBuf};

use super::template::Template;

/// The file that makes a folder a CDK app.
pub const CDK_JSON: &str = "cdk.json";

/// Which reader a project needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SAM or CloudFormation template, named by `template` in `quickdeploy.toml` ([`sam`]).
    Template,
    /// A CDK app: a `cdk.json` in the root and no `template` in `quickdeploy.toml`; its
    /// cloud assembly is read ([`cdk`]).
    Cdk,
}

impl Kind {
    /// The kind of the project rooted at `root`: a CDK app when `config` names no template
    /// and the root holds a `cdk.json`; else a template (whose absence `sam::read` reports).
    pub fn of(root: &Path, config: &super::config::Config) -> Kind {
        match config.template.as_os_str().is_empty() && root.join(CDK_JSON).is_file() {
            true => Kind::Cdk,
            false => Kind::Template,
        }
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
