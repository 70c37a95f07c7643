//! `quickdeploy patch-zip`: patch a local zip artifact with the same engine the Lambda runs.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::error::{Error, Exit};
use crate::ops::patch_zip::{Options, Put};
use crate::render::{print_json, print_lines};

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

impl Args {
    /// JSON output.
    pub fn json(&self) -> bool {
        self.json
    }
}

/// Runs `patch-zip`.
pub fn run(args: Args) -> crate::error::Outcome {
    let groups = [
        (&args.put, None),
        (&args.put_exec, Some(true)),
        (&args.put_plain, Some(false)),
    ];
    let puts = groups
        .into_iter()
        .flat_map(|(specs, exec)| specs.iter().map(move |s| Put::parse(s, exec)))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| Error::bad_input("BadChange", e))?;
    let opts = Options {
        mode: args
            .mode
            .parse()
            .map_err(|e: String| Error::bad_input("BadUsage", anyhow!(e)))?,
        old: args.old,
        output: args.output,
        puts,
        deletes: args.delete,
        max_dead_ratio: args.max_dead_ratio,
        link_root: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let report = crate::ops::patch_zip::patch_zip(&opts)?;
    if args.json {
        print_json(&report);
    } else {
        print_lines(&crate::render::setup::patch_zip_lines(&report));
    }
    Ok(Exit::Success)
}
