//! `quickdeploy patch-zip`: patch a local zip artifact with the same engine the Lambda runs.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use serde::Serialize;
use zipedit::{ChangeSet, Mode, PatchOptions, PutFile, Report};

use crate::error::{Error, Exit};

/// Patch a local zip artifact: put files into it and delete entries from it.
///
/// Unchanged entries are copied as they are, never recompressed. With `append` (the default
/// for a change that deletes nothing), every byte before the old central directory is kept and
/// only the new entries and a new directory are written after it, which is what lets S3 copy
/// the rest server side. The output replaces NEW.zip atomically: it is either the old file or
/// the complete new one.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy patch-zip app.zip -o app.zip --put src/handler.py=./src/handler.py
  quickdeploy patch-zip app.zip -o new.zip --put-exec bootstrap=target/bootstrap --delete old.py
  quickdeploy patch-zip app.zip -o new.zip --mode rewrite --json      # compact, no changes

Exit codes: 0 patched, 1 the archive could not be patched (not a zip, corrupt, unsupported),
2 bad usage or a rejected change (unsafe path, missing file, link out of the folder).")]
pub struct Args {
    /// The zip archive to patch.
    #[arg(value_name = "OLD.zip")]
    old: PathBuf,
    /// Where to write the patched archive (may be OLD.zip itself).
    #[arg(short, long, value_name = "NEW.zip")]
    output: PathBuf,
    /// Put a file: NAME is the path inside the archive, FILE the local file. The mode of a
    /// replaced entry is kept; a new file gets 0644 (0755 for a root `bootstrap`).
    #[arg(long, value_name = "NAME=FILE")]
    put: Vec<String>,
    /// Like --put, but the entry is executable (0755).
    #[arg(long, value_name = "NAME=FILE")]
    put_exec: Vec<String>,
    /// Like --put, but the entry is not executable (0644).
    #[arg(long, value_name = "NAME=FILE")]
    put_plain: Vec<String>,
    /// Delete an entry by its path inside the archive.
    #[arg(long, value_name = "NAME")]
    delete: Vec<String>,
    /// auto: append unless the change deletes something or dead bytes would pass
    /// --max-dead-ratio; rewrite: a fresh, compact archive; append: keep the old prefix.
    #[arg(long, default_value = "auto", value_name = "MODE", value_parser = ["auto", "rewrite", "append"])]
    mode: String,
    /// In auto mode, rewrite once dead bytes would exceed this share of the archive.
    #[arg(long, default_value_t = 0.25, value_name = "RATIO")]
    max_dead_ratio: f64,
    /// Print the report as one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    ok: bool,
    /// Always `patched` (a failure is an error document).
    outcome: &'static str,
    input: &'a Path,
    output: &'a Path,
    #[serde(flatten)]
    report: &'a Report,
    timings_ms: Timings,
}

#[derive(Debug, Serialize)]
struct Timings {
    read_changes: f64,
    patch: f64,
    write: f64,
    total: f64,
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e3 * 100.0).round() / 100.0
}

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.json
    }
}

/// Runs `patch-zip`.
pub fn run(args: Args) -> crate::error::Outcome {
    let json = args.json;
    let fail = |code, kind, error| Error::new(code, kind, error);
    if !(0.0..=1.0).contains(&args.max_dead_ratio) {
        return Err(fail(
            Exit::BadInput,
            "BadUsage",
            anyhow!(
                "--max-dead-ratio must be between 0 and 1, got {}",
                args.max_dead_ratio
            ),
        ));
    }
    let started = Instant::now();
    let changes = read_changes(&args).map_err(|e| fail(Exit::BadInput, "BadChange", e))?;
    let read_changes = ms(started);

    let t = Instant::now();
    let old = File::open(&args.old)
        .with_context(|| format!("cannot open {}", args.old.display()))
        .map_err(|e| fail(Exit::BadInput, "BadInput", e))?;
    let opts = PatchOptions {
        mode: args
            .mode
            .parse::<Mode>()
            .map_err(|e| fail(Exit::BadInput, "BadUsage", anyhow!(e)))?,
        max_dead_ratio: args.max_dead_ratio,
        ..PatchOptions::default()
    };
    let patched = zipedit::patch(&old, &changes, &opts).map_err(|e| {
        let code = if e.is_bad_change() { Exit::BadInput } else { Exit::Failed };
        let kind = e.kind();
        fail(
            code,
            kind,
            anyhow!(e).context(format!("cannot patch {}", args.old.display())),
        )
    })?;
    let patch = ms(t);

    let t = Instant::now();
    write_atomically(&args.output, |out| {
        patched.write_to(&old, out).map_err(anyhow::Error::from)
    })
    .map_err(|e| fail(Exit::Failed, "WriteFailed", e))?;
    let write = ms(t);

    let out = Output {
        ok: true,
        outcome: "patched",
        input: &args.old,
        output: &args.output,
        report: &patched.report,
        timings_ms: Timings {
            read_changes,
            patch,
            write,
            total: ms(started),
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_human(&out);
    }
    Ok(Exit::Success)
}

/// Reads every `--put*` file and builds the change set. A FILE that is a symbolic link must
/// resolve inside the working folder, as links in a package must stay inside the package.
fn read_changes(args: &Args) -> anyhow::Result<ChangeSet> {
    let mut changes = ChangeSet::new();
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .context("cannot read the working folder")?;
    let groups = [
        (&args.put, None),
        (&args.put_exec, Some(true)),
        (&args.put_plain, Some(false)),
    ];
    for (specs, executable) in groups {
        for spec in specs {
            let (name, file) = spec
                .split_once('=')
                .filter(|(n, f)| !n.is_empty() && !f.is_empty())
                .ok_or_else(|| {
                    anyhow!("--put {spec:?}: write it as NAME=FILE, e.g. src/app.py=./src/app.py")
                })?;
            if std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink()) {
                crate::scan::check_link(Path::new(file), std::slice::from_ref(&cwd))
                    .with_context(|| format!("--put {name}"))?;
            }
            let data =
                std::fs::read(file).with_context(|| format!("--put {name}: cannot read {file}"))?;
            changes.puts.push(PutFile {
                path: name.to_owned(),
                data,
                executable,
            });
        }
    }
    changes.deletes = args.delete.clone();
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

fn print_human(out: &Output<'_>) {
    let r = out.report;
    let pct = if r.size == 0 {
        0.0
    } else {
        100.0 * r.dead_bytes as f64 / r.size as f64
    };
    println!(
        "patched {} -> {} ({})",
        out.input.display(),
        out.output.display(),
        serde_json::to_value(r.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    println!(
        "  entries: {} added, {} modified, {} deleted, {} unchanged ({} in all)",
        r.added, r.modified, r.deleted, r.unchanged, r.entries
    );
    println!(
        "  size:    {} bytes; kept prefix {}, written {}, dead {} ({pct:.1}%)",
        r.size, r.kept_prefix, r.written, r.dead_bytes
    );
    println!("  CodeSha256: {}", r.code_sha256);
    let t = &out.timings_ms;
    println!(
        "  time:    read changes {:.1} ms, patch {:.1} ms, write {:.1} ms, total {:.1} ms",
        t.read_changes, t.patch, t.write, t.total
    );
}
