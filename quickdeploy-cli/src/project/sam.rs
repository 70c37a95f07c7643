//! The reader of SAM and CloudFormation projects: the template `quickdeploy.toml` names, read
//! and parsed (SAM's `Globals` are merged when its functions are asked for). Its model is the
//! template itself: functions with their code locations and settings, layers, and the folder
//! their paths are relative to.

use std::path::{Path, PathBuf};

use super::config::{BadConfig, Config};
use super::model::{Kind, Model};
use super::template::Template;

/// The template `config` names (relative to the project's `root`), read and parsed; its
/// folder (the template's paths are relative to it).
pub fn read(root: &Path, config: &Config) -> Result<Model, BadConfig> {
    if config.template.as_os_str().is_empty() {
        return Err(BadConfig(
            "quickdeploy.toml names no `template`, and there is no cdk.json here: give the template's path (`template = \"template.yaml\"`)".into(),
        ));
    }
    let path = root.join(&config.template);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        BadConfig(format!(
            "cannot read the template {}: {e}: fix `template` in quickdeploy.toml",
            path.display()
        ))
    })?;
    let template = Template::parse(&text)
        .map_err(|e| BadConfig(format!("template {}: {e}", path.display())))?;
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Model {
        template,
        dir,
        kind: Kind::Template,
    })
}
