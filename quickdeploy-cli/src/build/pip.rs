//! Running pip's install for the target ([`super::python`] decides its flags), with what SAM
//! also does for a package published as source only: pip cannot take it for another
//! platform, so it is built into a wheel here, and when that wheel is pure Python (it runs
//! wherever its Python runs) the install is tried again with it at hand. A package whose
//! build here makes a wheel for this machine only stops the install, as pip said.

use std::collections::BTreeSet;
use std::path::Path;

use super::python;
use super::tool::{BuildError, Output, io, run_command};
use crate::build::method::{Build, Command};

/// How many packages published as source only one install builds here before it gives up.
const SOURCE_BUILDS: usize = 16;

/// Runs `install` (pip into `dir`) for `b`; builds the pure-Python packages pip found no
/// wheel of, then runs it again, until it succeeds or fails for another reason.
pub fn install(
    mut install: Command,
    b: &Build,
    dir: &Path,
    out: &dyn Output,
) -> Result<(), BuildError> {
    let ids = b.ids.join(", ");
    let wheels = dir.join("wheels-built-here");
    let mut built: Vec<String> = Vec::new();
    loop {
        let err = match run_command(&install, b, out) {
            Ok(()) => break,
            Err(e) => e,
        };
        let BuildError::Failed(failure) = &err else {
            return Err(err);
        };
        let said: Vec<String> = failure.first.iter().chain(&failure.last).cloned().collect();
        let Some(requirement) = python::missing_wheel(&said) else {
            return Err(err);
        };
        if built.contains(&requirement) || built.len() >= SOURCE_BUILDS {
            return Err(err);
        }
        let Some(wheel) = pure_wheel(&requirement, b, dir, &wheels, out)? else {
            return Err(err);
        };
        out.line(&format!(
            "{ids}: {requirement} is published as source only: built here into {wheel}, pure Python, so it runs on the function too"
        ));
        if built.is_empty() {
            install.args.push("--find-links".into());
            install.args.push(wheels.display().to_string());
        }
        built.push(requirement);
    }
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels).map_err(|e| io(&ids, "remove", &wheels, e))?;
    }
    Ok(())
}

/// Builds `requirement` into a wheel in `wheels` on this machine (`pip wheel --no-deps`, with
/// the project's index options); the wheel's file name when it is pure Python. `None` when
/// the build failed or made a wheel for this machine only (which is then removed).
fn pure_wheel(
    requirement: &str,
    b: &Build,
    dir: &Path,
    wheels: &Path,
    out: &dyn Output,
) -> Result<Option<String>, BuildError> {
    let ids = b.ids.join(", ");
    std::fs::create_dir_all(wheels).map_err(|e| io(&ids, "create", wheels, e))?;
    let listed = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = listed(wheels);
    let requirements = std::fs::read_to_string(dir.join("requirements.txt")).unwrap_or_default();
    let file = dir.join("requirements-built-here.txt");
    std::fs::write(
        &file,
        python::source_build_requirements(&requirements, requirement),
    )
    .map_err(|e| io(&ids, "write", &file, e))?;
    let build = Command {
        program: "python3".into(),
        args: [
            "-m",
            "pip",
            "wheel",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "-w",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([
            wheels.display().to_string(),
            "-r".into(),
            file.display().to_string(),
        ])
        .collect(),
        cwd: dir.to_owned(),
        env: Vec::new(),
    };
    out.line(&format!(
        "{ids}: building {requirement} from source: {build}"
    ));
    let ran = run_command(&build, b, out);
    let _ = std::fs::remove_file(&file);
    if ran.is_err() {
        return Ok(None);
    }
    let new: Vec<String> = listed(wheels).difference(&before).cloned().collect();
    match new.iter().find(|w| python::is_pure_wheel(w)) {
        Some(w) => Ok(Some(w.clone())),
        None => {
            for w in &new {
                let _ = std::fs::remove_file(wheels.join(w));
            }
            Ok(None)
        }
    }
}
