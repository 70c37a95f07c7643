//! What only a CDK app needs: its synth, run with a recording wrapper around the esbuild the
//! CDK calls, and the record of what it showed ([`record`]); the check before a quick deploy
//! that no file but an asset's source changed since ([`prepare`]); and the CDK's own deploy
//! for `full` ([`deploy`]).

pub mod deploy;
pub mod record;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::aws::clock::ms;
use crate::build::method::{Build, Command, Method};
use crate::build::tool::{BuildError, Output};
use crate::ops::{Event, Ui};
use crate::project::cdk::{self as cdk, record as rec};
use crate::project::{Kind, Project};

/// The default synth: the CDK CLI's, which runs `cdk.json`'s `app`.
pub const DEFAULT_SYNTH: &str = "npx --no-install cdk synth --quiet";

/// What [`prepare`] did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Prepared {
    /// Why it synthesized; `None` when the assembly was still true of the app.
    pub synthesized: Option<String>,
    /// Milliseconds the check and any synth took.
    pub ms: f64,
}

/// Before a CDK app is read: synthesizes it when there is no record of a synth yet, the
/// assembly is not the recorded one, or a file that is no asset's source changed since (the
/// app's own code: `bin/`, `lib/`, `cdk.json`, a new handler). A change only to assets'
/// sources synthesizes nothing: the builds rebuild what changed. Not a CDK app: nothing.
pub fn prepare(project: &Project, ui: &dyn Ui) -> anyhow::Result<Prepared> {
    let started = Instant::now();
    if Kind::of(&project.root, &project.config) != Kind::Cdk {
        return Ok(Prepared::default());
    }
    let why = stale(project);
    if let Some(why) = &why {
        ui.event(Event::Line(&format!("synthesizing the CDK app: {why}")));
        synth(project, ui)?;
    }
    Ok(Prepared {
        synthesized: why,
        ms: ms(started),
    })
}

/// Why the assembly is not true of the app any more, if it is not.
fn stale(project: &Project) -> Option<String> {
    let out = cdk::assembly_dir(&project.root, &project.config);
    let Some(record) = rec::load(&project.root) else {
        return Some("quickdeploy has no record of a synth of it yet".into());
    };
    match std::fs::read(out.join("manifest.json")) {
        Ok(m) if record::sha256_hex(&m) == record.assembly => {}
        _ => {
            return Some(format!(
                "{} is not the assembly of its last synth",
                out.display()
            ));
        }
    }
    let now = record::app_files(&project.root, &out, Some(&record.files));
    let changed = rec::app_changes(&record, &now);
    if changed.is_empty() {
        return None;
    }
    let shown: Vec<&str> = changed.iter().take(5).map(String::as_str).collect();
    Some(format!(
        "the app's own code changed ({}{})",
        shown.join(", "),
        if changed.len() > 5 { ", ..." } else { "" }
    ))
}

/// Runs the app's synth (quickdeploy.toml's `synth`, else [`DEFAULT_SYNTH`]) in the project
/// root with the recording wrapper first on PATH, its output shown live, then writes the
/// record of what it showed ([`record::make`]).
pub fn synth(project: &Project, ui: &dyn Ui) -> anyhow::Result<rec::Record> {
    let state = project.state_dir().join("cdk");
    let wrap = state.join("wrap");
    std::fs::create_dir_all(&wrap)?;
    let log = state.join("esbuild.log");
    let _ = std::fs::remove_file(&log);
    write_wrappers(&wrap)?;
    let out = cdk::assembly_dir(&project.root, &project.config);
    let path = std::env::var("PATH").unwrap_or_default();
    let script = project.config.synth.clone().unwrap_or_else(|| {
        format!(
            "{DEFAULT_SYNTH} --output {}",
            shell_quote(&out.display().to_string())
        )
    });
    let cmd = Command {
        program: "sh".into(),
        args: vec!["-c".into(), script],
        cwd: project.root.clone(),
        env: vec![
            ("PATH".into(), format!("{}:{path}", wrap.display())),
            ("QD_REAL_PATH".into(), path),
            ("QD_ESBUILD_LOG".into(), log.display().to_string()),
        ],
    };
    let b = Build {
        ids: vec!["the CDK app's synth".into()],
        method: Method::Command(cmd.args[1].clone()),
        source: project.root.clone(),
        out: out.clone(),
        target: out.clone(),
        architecture: String::new(),
        ignore: Vec::new(),
        runtimes: Vec::new(),
    };
    ui.event(Event::Step("synthesizing the CDK app"));
    ui.event(Event::Line(&format!("synth: {}", cmd.args[1])));
    crate::build::tool::run_command(&cmd, &b, &Shown(ui)).map_err(|e| match e {
        BuildError::Failed(mut f) => {
            f.fix.get_or_insert_with(|| {
                "fix the CDK app (its output is above), or set `synth` in quickdeploy.toml".into()
            });
            anyhow::Error::new(BuildError::Failed(f))
        }
        other => anyhow::Error::new(other),
    })?;
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let record = record::make(&project.root, &out, &calls)?;
    record::save(&project.root, &record)?;
    for (asset, why) in &record.opaque {
        ui.event(Event::Warning(&format!("{asset}: {why}")));
    }
    Ok(record)
}

/// The synth, unless this process synthesized the project already and nothing changed since: `full` to several targets (stacks of
/// one app, or one stack in several regions) deploys one assembly, and two synths at once
/// would write the same `cdk.out`.
pub fn synth_once(project: &Project, ui: &dyn Ui) -> anyhow::Result<()> {
    static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE
        .lock()
        .map_err(|_| anyhow::anyhow!("an earlier synth of this app panicked"))?;
    if !(done.contains(&project.root) && unchanged(project)) {
        synth(project, ui)?;
        done.push(project.root.clone());
    }
    Ok(())
}

/// True when no file of the app (asset sources included) changed since the recorded synth.
fn unchanged(project: &Project) -> bool {
    let out = cdk::assembly_dir(&project.root, &project.config);
    let Some(record) = rec::load(&project.root) else {
        return false;
    };
    let now = record::app_files(&project.root, &out, Some(&record.files));
    now.len() == record.files.len()
        && now
            .iter()
            .all(|(p, sha)| record.files.get(p).is_some_and(|s| &s.sha256 == sha))
}

/// A tool's output as events.
struct Shown<'a>(&'a dyn Ui);

impl Output for Shown<'_> {
    fn step(&self, what: &str) {
        self.0.event(Event::Step(what));
    }
    fn line(&self, line: &str) {
        self.0.event(Event::Line(line));
    }
}

/// The wrapper, as `npx`, `pnpm` and `yarn` (the runners the CDK calls esbuild through).
fn write_wrappers(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for name in ["npx", "pnpm", "yarn"] {
        let p: PathBuf = dir.join(name);
        std::fs::write(&p, include_str!("wrapper.js"))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `s` quoted for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
