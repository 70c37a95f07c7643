//! The I/O of [`super::fresh`]: a build's inputs and output stamped from disk, its record
//! read and written (`.quickdeploy/build-state/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::decide::Builds;
use crate::build::fresh::{self, Fresh, InputSpec, Record, Stamp};
use crate::build::method::{Build, DependencySource, Method};
use crate::package::scan::scan_in;
use crate::project::normalize;

/// A build's inputs as seen before it runs, and what its record will say.
pub struct Seen {
    path: PathBuf,
    settings: String,
    inputs: BTreeMap<String, Option<Stamp>>,
    prev: Option<Record>,
}

/// Whether `b` must run, and what was seen to decide it (`None` when its inputs could not be
/// read: it then runs and records nothing, and its own error, if any, is the one shown).
pub fn check(b: &Build, builds: &Builds, root: &Path) -> (Fresh, Option<Seen>) {
    let path = fresh::record_path(&builds.records, &b.out);
    let spec = fresh::inputs_of(b, &path_deps(b), rustup_home().as_deref());
    let env = fresh::env_of(&spec, std::env::vars());
    let settings = fresh::settings_hash(b, &env);
    let Some(inputs) = stamp_inputs(&spec, root) else {
        return (Fresh::Run("its inputs could not all be read".into()), None);
    };
    let prev = std::fs::read(&path)
        .ok()
        .and_then(|t| serde_json::from_slice::<Record>(&t).ok());
    let outputs = stamp_outputs(&b.out);
    let mut fresh = fresh::decide(prev.as_ref(), &settings, &inputs, &outputs, &mut sha256_of);
    // Deleting the cache reinstalls the dependencies, as it did before builds were skipped.
    let entry = prev.as_ref().and_then(|r| r.cache_key.as_deref());
    if fresh == Fresh::Skip && entry.is_some_and(|k| !builds.cache.join(k).is_dir()) {
        fresh = Fresh::Run("its dependencies' cache entry is gone".into());
    }
    let seen = Seen {
        path,
        settings,
        inputs,
        prev,
    };
    (fresh, Some(seen))
}

impl Seen {
    /// The dependencies of a skipped build: the last record's, from the cache now (what
    /// that build installed is the cache entry this one would use).
    pub fn recorded_dependencies(&self) -> (DependencySource, Option<String>) {
        self.prev
            .as_ref()
            .map_or((DependencySource::None, None), |r| {
                let source = match r.dependencies {
                    DependencySource::Installed => DependencySource::Cached,
                    other => other,
                };
                (source, r.cache_key.clone())
            })
    }

    /// The inputs to record, their hashes read now (before the build runs, so an edit
    /// made while it runs is a change the next time).
    pub fn hashed(self) -> Hashed {
        let inputs = fresh::inputs_to_record(self.prev.as_ref(), &self.inputs, &mut sha256_of);
        Hashed {
            path: self.path,
            settings: self.settings,
            inputs,
        }
    }
}

/// A build's inputs with their hashes, to record once it succeeded.
pub struct Hashed {
    path: PathBuf,
    settings: String,
    inputs: BTreeMap<String, fresh::Input>,
}

impl Hashed {
    /// Writes the record of the build that just succeeded into `out` (its output stamped
    /// now). Best effort: a record not written only means the next build runs.
    pub fn record(self, out: &Path, dependencies: DependencySource, cache_key: Option<String>) {
        let record = Record {
            version: 1,
            settings: self.settings,
            inputs: self.inputs,
            outputs: stamp_outputs(out),
            dependencies,
            cache_key,
        };
        let Ok(text) = serde_json::to_vec(&record) else {
            return;
        };
        let Some(dir) = self.path.parent() else {
            return;
        };
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Forgets the record of the build writing `out` (before it runs: a build that fails
/// half-way leaves no record claiming its output).
pub fn forget(builds: &Builds, out: &Path) {
    let _ = std::fs::remove_file(fresh::record_path(&builds.records, out));
}

/// Every input's stamp: the folders' files as a package scan finds them, and the single
/// files (absent ones too). `None` when a folder cannot be scanned or a file has no
/// modification time.
fn stamp_inputs(spec: &InputSpec, root: &Path) -> Option<BTreeMap<String, Option<Stamp>>> {
    let mut all = BTreeMap::new();
    for folder in &spec.folders {
        for f in scan_in(folder, root).ok()? {
            // A file with no modification time cannot be compared: the build runs.
            let stamp = Stamp {
                size: f.size,
                mtime_ns: f.mtime_ns?,
            };
            all.insert(f.source.display().to_string(), Some(stamp));
        }
    }
    for file in &spec.files {
        all.entry(file.display().to_string())
            .or_insert_with(|| stamp_of(file));
    }
    Some(all)
}

/// Every file under a build folder, by path inside it (links as they are, not followed).
fn stamp_outputs(out: &Path) -> BTreeMap<String, Stamp> {
    walkdir::WalkDir::new(out)
        .into_iter()
        .flatten()
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| {
            let rel = e
                .path()
                .strip_prefix(out)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some((rel, stamp_of_meta(&e.metadata().ok()?)?))
        })
        .collect()
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    stamp_of_meta(&std::fs::metadata(path).ok()?)
}

fn stamp_of_meta(m: &std::fs::Metadata) -> Option<Stamp> {
    let (size, mtime_ns) = super::cargo::meta_stamp(m)?;
    Some(Stamp { size, mtime_ns })
}

fn sha256_of(path: &str) -> Option<String> {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).ok()?;
    Some(
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The folders of a Rust crate's path dependencies, and theirs in turn: from its manifest
/// and from the manifests above it up to its workspace's root; a Go module's local
/// replacements. Empty for other methods.
fn path_deps(b: &Build) -> Vec<PathBuf> {
    if matches!(b.method, Method::Go) {
        return go_replacements(b);
    }
    if !matches!(b.method, Method::Rust { .. }) {
        return Vec::new();
    }
    let mut found: Vec<PathBuf> = Vec::new();
    // The crate's manifest and those above it up to its workspace's root (the first with a
    // `[workspace]`, where `workspace = true` dependencies are defined).
    let mut todo: Vec<PathBuf> = Vec::new();
    for dir in b.source.ancestors() {
        todo.push(dir.to_owned());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if fresh::is_workspace_root(&manifest) {
            break;
        }
    }
    let mut seen = std::collections::HashSet::new();
    while let Some(dir) = todo.pop() {
        if !seen.insert(dir.clone()) || seen.len() > 256 {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        for rel in fresh::path_dependencies(&text) {
            let dep = normalize(&dir.join(rel));
            if dep.starts_with(&b.source) || found.contains(&dep) {
                continue;
            }
            found.push(dep.clone());
            todo.push(dep);
        }
    }
    found.sort();
    found
}

/// The local folders a Go module's `go.mod` replaces modules with, and theirs in turn.
fn go_replacements(b: &Build) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut todo = vec![b.source.clone()];
    while let Some(dir) = todo.pop() {
        let Ok(text) = std::fs::read_to_string(dir.join("go.mod")) else {
            continue;
        };
        for rel in fresh::go_local_replacements(&text) {
            let dep = normalize(&dir.join(rel));
            if dep.starts_with(&b.source) || found.contains(&dep) || found.len() > 256 {
                continue;
            }
            found.push(dep.clone());
            todo.push(dep);
        }
    }
    found.sort();
    found
}

/// rustup's home (`RUSTUP_HOME`, else `~/.rustup`), when there is one.
fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
        .filter(|h| h.is_dir())
}
