//! What the user's project says: `quickdeploy.toml` ([`config`]), the CloudFormation or SAM
//! template with SAM's `Globals` merged ([`template`]), and the functions, layers, packages
//! and settings they name. Everything below the commands reads a project through one model,
//! [`Model`] ([`model`]), filled by the reader of its [`Kind`]: [`sam`] for SAM and
//! CloudFormation templates, [`cdk`] for CDK apps (their cloud assembly); [`Project::model`]
//! picks the reader.
//!
//! May use: nothing else in the crate (it is the bottom layer with `aws`).
//! Must not: talk to AWS, or decide what to deploy (that is `plan`).

pub mod cdk;
pub mod config;
pub mod model;
pub mod names;
pub mod sam;
pub mod targets;
pub mod template;

use std::path::{Path, PathBuf};

use config::{BadConfig, Config, ConfigError, FILE_NAME};
pub use model::{Kind, Model};

/// `a/./b/../c` as `a/c`, without touching the disk (the folder may not exist yet).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A loaded config and the folder its paths are relative to.
#[derive(Debug, Clone)]
pub struct Project {
    /// The config.
    pub config: Config,
    /// The folder holding `quickdeploy.toml`.
    pub root: PathBuf,
}

impl Project {
    /// What the project says, read by the reader of its kind (a SAM or CloudFormation
    /// template today). Errors are [`BadConfig`]: exit 2.
    pub fn model(&self) -> Result<Model, BadConfig> {
        match Kind::of(&self.root, &self.config) {
            Kind::Template => sam::read(&self.root, &self.config),
            Kind::Cdk => cdk::read(&self.root, &self.config),
        }
    }

    /// The logical id a function named `name` on a command line has: a CDK app's function
    /// may be named by its construct path ([`cdk::paths`]); any other name is kept as given
    /// (a logical id, a physical name). A short path that names several is an error.
    pub fn function_id(&self, name: &str) -> Result<String, BadConfig> {
        let paths = self
            .model()
            .map(|m| cdk::paths::construct_paths(&m.template))
            .unwrap_or_default();
        Ok(cdk::paths::resolve(name, &paths)
            .map_err(|e| BadConfig(format!("--function {e}")))?
            .unwrap_or_else(|| name.to_owned()))
    }

    /// Loads `path`, or finds `quickdeploy.toml` in `start` or a folder above it.
    pub fn load(path: Option<&Path>, start: &Path) -> Result<Self, ConfigError> {
        let file = match path {
            Some(p) => p.to_owned(),
            None => start
                .ancestors()
                .map(|d| d.join(FILE_NAME))
                .find(|f| f.is_file())
                .ok_or_else(|| ConfigError::NotFound(start.to_owned()))?,
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            path: file.clone(),
            source,
        })?;
        let config = Config::parse(&text, &file)?;
        let root = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Self { config, root })
    }

    /// A path from the config, made absolute against the project root.
    pub fn path(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }

    /// Where quickdeploy keeps its local state (manifests); ignored by git by itself.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".quickdeploy")
    }
}
