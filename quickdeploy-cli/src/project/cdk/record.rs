//! What quickdeploy learned about a CDK app at its last synth, kept in
//! `.quickdeploy/cdk/record.json`: how the CDK bundled each bundled asset (the esbuild command
//! line, recorded as the CDK ran it, and the files it read), which project folder each
//! copied asset is a copy of, and the state of the app's files then. With it, a change to a
//! function's sources is rebuilt and deployed without a synth, and a change to anything else
//! (the app's own code) is known to need one ([`app_changes`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the record lives, under the project's `.quickdeploy/`.
pub const RECORD_FILE: &str = "cdk/record.json";

/// The record's format; a record of another one is not used (a synth makes a new one).
pub const FORMAT: u32 = 1;

/// What the last synth showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`FORMAT`].
    pub format: u32,
    /// The SHA-256 of the assembly's `manifest.json` it describes.
    pub assembly: String,
    /// Bundled assets the CDK's esbuild made, by staged folder (`asset.<hash>`).
    pub bundles: BTreeMap<String, Bundle>,
    /// Copied assets, by staged folder: the project folder each is a copy of.
    pub folders: BTreeMap<String, FolderSource>,
    /// Assets that are neither, by staged folder, and why they cannot be rebuilt here.
    pub opaque: BTreeMap<String, String>,
    /// The app's files at the synth, by path from the project root.
    pub files: BTreeMap<String, Stamp>,
}

/// One bundle as the CDK made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The esbuild to run: its path (found from `cwd` up, as `npx` finds it), or the runner
    /// the CDK used (`npx --no-install esbuild`).
    pub program: Vec<String>,
    /// The folder esbuild ran in (the CDK's `projectRoot`), from the project root.
    pub cwd: PathBuf,
    /// esbuild's arguments as the CDK gave them, `--outfile=` included.
    pub args: Vec<String>,
    /// The output file's name in the asset (`index.js`, `index.mjs`).
    pub outfile: String,
    /// The files esbuild read (its metafile's inputs), from the project root.
    pub inputs: Vec<String>,
}

/// The project folder a copied asset was staged from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderSource {
    /// The folder, from the project root.
    pub folder: PathBuf,
    /// Patterns (gitignore syntax, anchored) for its files that the asset left out: the
    /// asset's `exclude` rules as they showed.
    pub ignore: Vec<String>,
}

/// A file's size, modification time and content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Bytes.
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime_ns: u128,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The record of the project rooted at `root`, if there is one of this format.
pub fn load(root: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(root.join(".quickdeploy").join(RECORD_FILE)).ok()?;
    serde_json::from_str::<Record>(&text)
        .ok()
        .filter(|r| r.format == FORMAT)
}

/// Folders never part of the app's own code: dependencies, outputs, quickdeploy's state.
pub const NOT_APP: &[&str] = &["node_modules", ".git", ".quickdeploy", "cdk.out"];

impl Record {
    /// True when `path` (from the project root) is a source of some asset: a bundle's input
    /// or a file of a copied asset's folder. A change to it is a code change.
    pub fn is_asset_source(&self, path: &str) -> bool {
        self.bundles
            .values()
            .any(|b| b.inputs.iter().any(|i| i == path))
            || self
                .folders
                .values()
                .any(|f| Path::new(path).starts_with(&f.folder) && !f.folder.as_os_str().is_empty())
    }
}

/// The files that changed since the synth and are no asset's source: the app's own code
/// (`bin/`, `lib/`, `cdk.json`, ...), whose change needs a synth. `now` holds each file of the
/// app now, with its content hash. Files gone count as changed.
pub fn app_changes(record: &Record, now: &BTreeMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = now
        .iter()
        .filter(|(p, sha)| record.files.get(*p).is_none_or(|s| &s.sha256 != *sha))
        .map(|(p, _)| p.clone())
        .chain(
            record
                .files
                .keys()
                .filter(|p| !now.contains_key(*p))
                .cloned(),
        )
        .filter(|p| !record.is_asset_source(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sha: &str) -> Stamp {
        Stamp {
            size: 1,
            mtime_ns: 0,
            sha256: sha.into(),
        }
    }

    #[test]
    fn only_changes_outside_every_asset_need_a_synth() {
        let record = Record {
            format: FORMAT,
            bundles: BTreeMap::from([(
                "asset.a".into(),
                Bundle {
                    program: vec!["esbuild".into()],
                    cwd: PathBuf::new(),
                    args: Vec::new(),
                    outfile: "index.js".into(),
                    inputs: vec!["lambdas/get-one.ts".into(), "lambdas/shared/f.ts".into()],
                },
            )]),
            folders: BTreeMap::from([(
                "asset.b".into(),
                FolderSource {
                    folder: "functions/py".into(),
                    ignore: Vec::new(),
                },
            )]),
            files: BTreeMap::from([
                ("lambdas/get-one.ts".into(), stamp("1")),
                ("lambdas/shared/f.ts".into(), stamp("2")),
                ("functions/py/app.py".into(), stamp("3")),
                ("lib/stack.js".into(), stamp("4")),
                ("cdk.json".into(), stamp("5")),
            ]),
            ..Record::default()
        };
        let mut now: BTreeMap<String, String> = record
            .files
            .iter()
            .map(|(p, s)| (p.clone(), s.sha256.clone()))
            .collect();
        assert!(app_changes(&record, &now).is_empty());
        now.insert("lambdas/get-one.ts".into(), "9".into());
        now.insert("functions/py/new.py".into(), "9".into());
        assert!(app_changes(&record, &now).is_empty(), "code changes only");
        now.insert("lib/stack.js".into(), "9".into());
        now.remove("cdk.json");
        now.insert("lambdas/new-handler.ts".into(), "9".into());
        assert_eq!(
            app_changes(&record, &now),
            ["cdk.json", "lambdas/new-handler.ts", "lib/stack.js"]
        );
    }
}
