//! `patch-zip`: patch a local zip artifact with the same engine the Lambda runs, and write the
//! result atomically.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use serde::Serialize;
use zipedit::{ChangeSet, Mode, PatchOptions, PutFile};

use crate::error::Error;

/// A file to put into the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// Its path inside the archive.
    pub name: String,
    /// The local file.
    pub file: PathBuf,
    /// `Some(true)`: 0755; `Some(false)`: 0644; `None`: a replaced entry keeps its mode, a new
    /// one gets 0644 (0755 for a root `bootstrap`).
    pub executable: Option<bool>,
}

impl Put {
    /// Reads `NAME=FILE`.
    pub fn parse(spec: &str, executable: Option<bool>) -> anyhow::Result<Self> {
        let (name, file) = spec
            .split_once('=')
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            .ok_or_else(|| {
                anyhow!("--put {spec:?}: write it as NAME=FILE, e.g. src/app.py=./src/app.py")
            })?;
        Ok(Self {
            name: name.to_owned(),
            file: PathBuf::from(file),
            executable,
        })
    }
}

/// What to patch, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The archive to patch.
    pub old: PathBuf,
    /// Where to write the patched archive (may be `old` itself).
    pub output: PathBuf,
    /// Files to put.
    pub puts: Vec<Put>,
    /// Entries to delete, by their path inside the archive.
    pub deletes: Vec<String>,
    /// Append, rewrite, or decide.
    pub mode: Mode,
    /// In auto mode, rewrite once dead bytes would exceed this share of the archive (0 to 1).
    pub max_dead_ratio: f64,
    /// A file to put that is a symbolic link must resolve inside this folder (the working
    /// folder), as links in a package must stay inside the package.
    pub link_root: PathBuf,
}

/// What `patch-zip` did: always `patched` (a failure is an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The archive was written.
    Patched,
}

/// What `patch-zip` did, as `--json` prints it (docs/json.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always true.
    pub ok: bool,
    /// Always `patched`.
    pub outcome: Outcome,
    /// The archive patched.
    pub input: PathBuf,
    /// The archive written.
    pub output: PathBuf,
    /// The engine's report.
    #[serde(flatten)]
    pub report: zipedit::Report,
    /// Where the time went.
    pub timings_ms: Timings,
}

/// Milliseconds per phase.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timings {
    /// Reading the files to put.
    pub read_changes: f64,
    /// Patching (in memory).
    pub patch: f64,
    /// Writing the new archive.
    pub write: f64,
    /// All of it.
    pub total: f64,
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e3 * 100.0).round() / 100.0
}

/// Patches `opts.old` into `opts.output`. Exit 2 for bad usage or a rejected change (unsafe
/// path, missing file, link out of the folder, no such entry); 1 when the archive cannot be
/// patched or written. The output is either what was there before or the whole new archive.
pub fn patch_zip(opts: &Options) -> Result<Report, Error> {
    if !(0.0..=1.0).contains(&opts.max_dead_ratio) {
        return Err(Error::bad_input(
            "BadUsage",
            anyhow!(
                "--max-dead-ratio must be between 0 and 1, got {}",
                opts.max_dead_ratio
            ),
        ));
    }
    let started = Instant::now();
    let changes = read_changes(opts).map_err(|e| Error::bad_input("BadChange", e))?;
    let read_changes = ms(started);

    let t = Instant::now();
    let old = File::open(&opts.old)
        .with_context(|| format!("cannot open {}", opts.old.display()))
        .map_err(|e| Error::bad_input("BadInput", e))?;
    let patch_options = PatchOptions {
        mode: opts.mode,
        max_dead_ratio: opts.max_dead_ratio,
        ..PatchOptions::default()
    };
    let patched = zipedit::patch(&old, &changes, &patch_options).map_err(|e| {
        let bad = e.is_bad_change();
        let kind = e.kind();
        let error = anyhow!(e).context(format!("cannot patch {}", opts.old.display()));
        if bad {
            Error::bad_input(kind, error)
        } else {
            Error::failed(kind, error)
        }
    })?;
    let patch = ms(t);

    let t = Instant::now();
    write_atomically(&opts.output, |out| {
        patched.write_to(&old, out).map_err(anyhow::Error::from)
    })
    .map_err(|e| Error::failed("WriteFailed", e))?;
    let write = ms(t);

    Ok(Report {
        ok: true,
        outcome: Outcome::Patched,
        input: opts.old.clone(),
        output: opts.output.clone(),
        report: patched.report,
        timings_ms: Timings {
            read_changes,
            patch,
            write,
            total: ms(started),
        },
    })
}

/// Reads every file to put and builds the change set. A file that is a symbolic link must
/// resolve inside `link_root`.
fn read_changes(opts: &Options) -> anyhow::Result<ChangeSet> {
    let mut changes = ChangeSet::new();
    let root = opts
        .link_root
        .canonicalize()
        .context("cannot read the working folder")?;
    for put in &opts.puts {
        let (name, file) = (&put.name, &put.file);
        if std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink()) {
            crate::package::scan::check_link(file, std::slice::from_ref(&root))
                .with_context(|| format!("--put {name}"))?;
        }
        let data = std::fs::read(file)
            .with_context(|| format!("--put {name}: cannot read {}", file.display()))?;
        changes.puts.push(PutFile {
            path: name.clone(),
            data,
            executable: put.executable,
        });
    }
    changes.deletes = opts.deletes.clone();
    changes.validate()?;
    Ok(changes)
}

/// Writes `path` through a temporary file in the same folder, renamed into place at the end,
/// so a failure leaves whatever was there before.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut out)?;
        std::io::Write::flush(&mut out).context("cannot write the new archive")?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot move the new archive to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_is_name_equals_file() {
        let p = Put::parse("src/a.py=./a.py", Some(true)).expect("parsed");
        assert_eq!(
            p,
            Put {
                name: "src/a.py".into(),
                file: "./a.py".into(),
                executable: Some(true)
            }
        );
        // Only the first '=' splits: a file name may hold one.
        assert_eq!(
            Put::parse("a=b=c", None).expect("parsed").file,
            PathBuf::from("b=c")
        );
        for bad in ["a.py", "=a.py", "a.py=", ""] {
            let e = Put::parse(bad, None).expect_err(bad);
            assert!(e.to_string().contains("NAME=FILE"), "{e}");
        }
    }
}
