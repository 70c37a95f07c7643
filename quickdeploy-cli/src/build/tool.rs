//! Running one build tool: its command line with its output passed on live through
//! [`Output`] and its first and last lines kept for the error, the one error type of builds
//! ([`BuildError`], which says whether the cause is the user's files), and fresh folders.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::build::diagnose;
use crate::build::method::{Build, Command};

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
    /// A tool could not be started; when it is not installed, `fix` says how to get it
    /// (exit 2: this machine lacks what the project's build needs).
    #[error("cannot run `{program}` to build {ids}: {source}: {}", fix.as_deref().unwrap_or("install it, or put it on PATH"))]
    Start {
        /// The program.
        program: String,
        /// The functions or layers built.
        ids: String,
        /// Why.
        source: std::io::Error,
        /// The install line, when the program is missing.
        fix: Option<String>,
    },
    /// A tool failed; its first error lines and its last lines say why.
    #[error("{0}")]
    Failed(Box<Failure>),
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

/// A failed tool: what ran where, how it ended, what it said, and the fix when the cause
/// is known ([`diagnose`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The functions or layers built.
    pub ids: String,
    /// The command.
    pub command: String,
    /// The user's folder it built (the source folder, whose files the fix is about).
    pub folder: PathBuf,
    /// How it ended.
    pub status: String,
    /// Its first error lines, before its last ones (empty when those are all it said).
    pub first: Vec<String>,
    /// Its last lines (stdout and stderr as they came).
    pub last: Vec<String>,
    /// The fix, when the cause is known.
    pub fix: Option<String>,
    /// True when the user's files are the cause (exit 2).
    pub bad_input: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "building {} failed: `{}` (for {}) {}",
            self.ids,
            self.command,
            self.folder.display(),
            self.status
        )?;
        let block = |f: &mut std::fmt::Formatter<'_>, lines: &[String]| {
            lines.iter().try_for_each(|l| write!(f, "\n  | {l}"))
        };
        if !self.first.is_empty() {
            write!(f, "\n  its first error lines:")?;
            block(f, &self.first)?;
            write!(f, "\n  its last lines:")?;
        }
        block(f, &self.last)?;
        match &self.fix {
            Some(fix) => write!(f, "\nfix: {fix}\nnothing was deployed"),
            None => write!(
                f,
                "\nfix the build and run the command again: nothing was deployed"
            ),
        }
    }
}

impl BuildError {
    /// True when the user's template or files are at fault (exit 2), not the build's run.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Unsupported(_) | Self::Incompatible(_) | Self::Source { .. } => true,
            Self::Start { fix, .. } => fix.is_some(),
            Self::Failed(f) => f.bad_input,
            Self::Io { .. } => false,
        }
    }
}

/// How many of a tool's first lines are kept, to find its first error lines in.
const HEAD: usize = 400;

/// Runs a tool of build `b`, showing each line of its output as it comes (stdout and stderr
/// both); a failure carries its first error lines, its last lines and, where
/// [`diagnose::diagnose`] knows the cause, the fix.
pub fn run_command(cmd: &Command, b: &Build, out: &dyn Output) -> Result<(), BuildError> {
    let ids = b.ids.join(", ");
    let start_error = |source: std::io::Error| BuildError::Start {
        program: cmd.program.clone(),
        ids: ids.clone(),
        fix: (source.kind() == std::io::ErrorKind::NotFound)
            .then(|| diagnose::missing_tool(b, &cmd.program)),
        source,
    };
    let mut child = std::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .current_dir(&cmd.cwd)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(start_error)?;
    let kept = std::sync::Mutex::new(Kept::default());
    let show = |line: String| {
        out.line(&line);
        if let Ok(mut k) = kept.lock() {
            k.push(line);
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
    let status = child.wait().map_err(start_error)?;
    if status.success() {
        return Ok(());
    }
    let k = kept.into_inner().unwrap_or_default();
    let tail = Vec::from(k.tail);
    let (first, last) = diagnose::excerpt(&k.head, &tail, k.total);
    let diagnosis = diagnose::diagnose(b, cmd, &all_lines(&k.head, &tail, k.total));
    Err(BuildError::Failed(Box::new(Failure {
        ids,
        command: cmd.to_string(),
        folder: b.source.clone(),
        status: status.to_string(),
        first,
        last,
        bad_input: diagnosis.as_ref().is_some_and(|d| d.bad_input),
        fix: diagnosis.map(|d| d.fix),
    })))
}

/// The lines kept of a tool's output, each once: the head, then what of the tail came
/// after it.
fn all_lines(head: &[String], tail: &[String], total: usize) -> Vec<String> {
    let tail_start = total - tail.len();
    let mut all = head.to_vec();
    let skip = head.len().saturating_sub(tail_start);
    all.extend(tail.iter().skip(skip).cloned());
    all
}

/// A tool's output as kept: its first [`HEAD`] lines, its last [`TAIL`], and how many.
#[derive(Default)]
struct Kept {
    head: Vec<String>,
    tail: VecDeque<String>,
    total: usize,
}

impl Kept {
    fn push(&mut self, line: String) {
        self.total += 1;
        if self.head.len() < HEAD {
            self.head.push(line.clone());
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_kept_lines_are_each_seen_once() {
        let mut k = Kept::default();
        for i in 0..(HEAD + TAIL + 5) {
            k.push(format!("{i}"));
        }
        let tail = Vec::from(k.tail.clone());
        let all = all_lines(&k.head, &tail, k.total);
        assert_eq!(all.len(), HEAD + TAIL);
        assert_eq!(all[HEAD], format!("{}", HEAD + 5));
        // Short output: the head holds it all, the tail adds nothing.
        let short = strings(&["a", "b"]);
        assert_eq!(all_lines(&short, &short, 2), short);
    }

    #[test]
    fn a_failure_shows_the_command_folder_first_errors_last_lines_and_fix() {
        let f = Failure {
            ids: "Fn".into(),
            command: "npm ci --no-audit --no-fund".into(),
            folder: PathBuf::from("/app/src"),
            status: "exit status: 1".into(),
            first: strings(&["npm error code EUSAGE", "npm error ... are in sync."]),
            last: strings(&["npm error Usage:", "npm error npm ci"]),
            fix: Some(
                "run `npm install` in /app/src and commit the updated package-lock.json".into(),
            ),
            bad_input: true,
        };
        assert_eq!(
            f.to_string(),
            "building Fn failed: `npm ci --no-audit --no-fund` (for /app/src) exit status: 1
  its first error lines:
  | npm error code EUSAGE
  | npm error ... are in sync.
  its last lines:
  | npm error Usage:
  | npm error npm ci
fix: run `npm install` in /app/src and commit the updated package-lock.json
nothing was deployed"
        );
        let e = BuildError::Failed(Box::new(f.clone()));
        assert!(e.is_bad_input());
        let unknown = Failure {
            first: Vec::new(),
            fix: None,
            bad_input: false,
            ..f
        };
        assert!(!BuildError::Failed(Box::new(unknown.clone())).is_bad_input());
        assert!(
            unknown
                .to_string()
                .ends_with("  | npm error npm ci\nfix the build and run the command again: nothing was deployed"),
            "{unknown}"
        );
    }
}
