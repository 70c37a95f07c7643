//! Running one build tool: its command line with its output passed on live through
//! [`Output`] and its last lines kept for the error, the one error type of builds
//! ([`BuildError`], which says whether the cause is the user's files), and fresh folders.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::build::method::Command;

/// How many of a failed tool's last lines its error keeps.
pub const TAIL: usize = 30;

/// Where a build's progress goes: the caller shows it (the builder prints nothing).
pub trait Output: Sync {
    /// What is under way now.
    fn step(&self, what: &str);
    /// A line of a tool's output, or a line worth keeping.
    fn line(&self, line: &str);
}

/// A build that could not be done: nothing may be deployed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The template asks for a build quickdeploy cannot run (exit 2).
    #[error("{0}")]
    Unsupported(String),
    /// A tool could not be started.
    #[error("cannot run `{program}` to build {ids}: {source}: install it, or put it on PATH")]
    Start {
        /// The program.
        program: String,
        /// The functions or layers built.
        ids: String,
        /// Why.
        source: std::io::Error,
    },
    /// A tool failed; its last lines say why.
    #[error("building {ids} failed: `{command}` {status}{}\nfix the build and run the command again: nothing was deployed", tail.iter().map(|l| format!("\n  | {l}")).collect::<String>())]
    Failed {
        /// The functions or layers built.
        ids: String,
        /// The command.
        command: String,
        /// How it ended.
        status: String,
        /// Its last lines (stdout and stderr as they came).
        tail: Vec<String>,
    },
    /// Reading the source or writing the build folder failed.
    #[error("building {ids}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The functions or layers built.
        ids: String,
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The build made a binary the function's runtime cannot start (exit 2).
    #[error("{0}\nnothing was deployed")]
    Incompatible(String),
    /// The source folder could not be read as a package (a missing folder, a link out).
    #[error("building {ids}: {source}")]
    Source {
        /// The functions or layers built.
        ids: String,
        /// Why.
        source: crate::package::spec::ScanError,
    },
}

impl BuildError {
    /// True when the user's template or files are at fault (exit 2), not the build's run.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Unsupported(_) | Self::Incompatible(_) | Self::Source { .. }
        )
    }
}

/// Runs a tool, showing each line of its output as it comes (stdout and stderr both); a
/// failure carries its last lines.
pub fn run_command(cmd: &Command, ids: &str, out: &dyn Output) -> Result<(), BuildError> {
    let mut child = std::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .current_dir(&cmd.cwd)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Start {
            program: cmd.program.clone(),
            ids: ids.to_owned(),
            source,
        })?;
    let tail = std::sync::Mutex::new(VecDeque::with_capacity(TAIL));
    let show = |line: String| {
        out.line(&line);
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|s| {
        if let Some(e) = stderr {
            s.spawn(|| {
                BufReader::new(e)
                    .lines()
                    .map_while(Result::ok)
                    .for_each(show)
            });
        }
        if let Some(o) = stdout {
            BufReader::new(o)
                .lines()
                .map_while(Result::ok)
                .for_each(show);
        }
    });
    let status = child.wait().map_err(|source| BuildError::Start {
        program: cmd.program.clone(),
        ids: ids.to_owned(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    Err(BuildError::Failed {
        ids: ids.to_owned(),
        command: cmd.to_string(),
        status: status.to_string(),
        tail: tail.into_inner().map(Vec::from).unwrap_or_default(),
    })
}

/// An empty folder at `dir` (what was there is removed).
pub fn fresh_dir(dir: &Path, ids: &str) -> Result<(), BuildError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(ids, "clear", dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io(ids, "create", dir, e))
}

pub fn io(ids: &str, action: &'static str, path: &Path, source: std::io::Error) -> BuildError {
    BuildError::Io {
        ids: ids.to_owned(),
        action,
        path: path.to_owned(),
        source,
    }
}
