//! Running the builds [`crate::build`] decides: installing dependencies into the cache (once
//! per cache key), running the build tools with their output shown live, and making each
//! build folder hold exactly the files it should while writing only those that changed, so
//! unchanged files keep their modification times and the diff stays O(change).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::build::decide::{
    self as build, Build, Builds, Built, Command, DependencySource, Method,
};
use crate::build::rust::{self, RustTool};
use crate::package::scan::scan_in;

/// How many of a failed tool's last lines its error keeps.
const TAIL: usize = 30;

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

/// Runs every build, in order, stopping at the first failure. `root` is the project root
/// (for the `.gitignore` files above a source folder).
pub fn run(builds: &Builds, root: &Path, out: &dyn Output) -> Result<Vec<Built>, BuildError> {
    if let Some(why) = builds.items.iter().find_map(|b| match &b.method {
        Method::Unsupported { why, .. } => Some(why.clone()),
        _ => None,
    }) {
        return Err(BuildError::Unsupported(why));
    }
    builds
        .items
        .iter()
        .map(|b| run_one(b, builds, root, out))
        .collect()
}

/// One build: dependencies from the cache (installing them on a miss), the tool, then the
/// build folder made to hold the sources, dependencies and tool output.
fn run_one(b: &Build, builds: &Builds, root: &Path, out: &dyn Output) -> Result<Built, BuildError> {
    let started = Instant::now();
    let ids = b.ids.join(", ");
    out.step(&format!("building {ids} ({})", b.method.name()));
    let (deps, dependencies, cache_key) = dependencies(b, &builds.cache, out)?;
    let work = builds.work.join(b.out.file_name().unwrap_or_default());
    let mut wanted: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Method::Rust { binary } = &b.method {
        rust_build(b, binary.as_deref(), builds, out, &work)?;
        add_tree(&mut wanted, &work, "", &ids)?;
    } else if let Some(cmd) = build::tool(b, deps.as_deref(), &work) {
        if !matches!(b.method, Method::Command(_)) {
            fresh_dir(&work, &ids)?;
        }
        out.line(&format!("{ids}: {cmd}"));
        run_command(&cmd, &ids, out)?;
        if matches!(b.method, Method::Command(_)) {
            // The user's command writes its package folder itself.
            return Ok(report(b, dependencies, cache_key, (0, 0), started));
        }
        add_tree(&mut wanted, &work, "", &ids)?;
    } else {
        add_sources(&mut wanted, b, root)?;
        if let (Some(dir), Some((from, to))) = (&deps, build::cached_files(&b.method)) {
            add_tree(&mut wanted, &dir.join(from), to, &ids)?;
        }
    }
    let counts = mirror(&b.target, &b.out, &wanted, &ids)?;
    out.line(&format!(
        "{ids}: built into {} ({} file(s) written, {} removed, dependencies {})",
        b.out.display(),
        counts.0,
        counts.1,
        match dependencies {
            DependencySource::Installed => "installed",
            DependencySource::Cached => "from the cache",
            DependencySource::None => "none",
        }
    ));
    Ok(report(b, dependencies, cache_key, counts, started))
}

/// A Rust build: the crate compiled for the function's architecture by the tool this
/// machine has ([`rust::tool`]: cargo-lambda, cargo-zigbuild, or cargo with the target and a
/// linker), its binary left in `work` as `bootstrap`, 0755. cargo's target folder is
/// `CARGO_TARGET_DIR` when set (cargo's convention: copies of an app then share one
/// compiled dependency set), else kept in the build cache; rebuilds are incremental either
/// way. The target folder is locked for the build, so two builds sharing it cannot hand
/// each other their binaries.
fn rust_build(
    b: &Build,
    binary: Option<&str>,
    builds: &Builds,
    out: &dyn Output,
    work: &Path,
) -> Result<(), BuildError> {
    let ids = b.ids.join(", ");
    let unsupported = |why: String| BuildError::Unsupported(format!("{ids}: {why}"));
    let manifest = b.source.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| io(&ids, "read", &manifest, e))?;
    let name = rust::binary_name(binary, &text).ok_or_else(|| {
        unsupported(format!(
            "{} names no package: set `Binary` under the function's Metadata.BuildProperties, or `binary` under its [functions] table in quickdeploy.toml",
            manifest.display()
        ))
    })?;
    let triple = rust::triple(&b.architecture).map_err(unsupported)?;
    let tool = rust::tool(&b.architecture, &toolchain(&b.architecture)).map_err(unsupported)?;
    let target_dir = rust_target_dir(b, builds);
    let cmd = rust::command(b, &name, &tool, &target_dir, work).map_err(unsupported)?;
    fresh_dir(work, &ids)?;
    let _lock = TargetLock::take(&target_dir, &ids, out)?;
    let built = rust::binary_path(&target_dir, triple, &name);
    let stamp = forget_other_copies(b, &text, triple, &target_dir, &name, out)?;
    out.line(&format!("{ids}: {cmd}"));
    run_command(&cmd, &ids, out)?;
    let bootstrap = work.join("bootstrap");
    if tool != RustTool::CargoLambda {
        std::fs::copy(&built, &bootstrap).map_err(|e| io(&ids, "copy", &built, e))?;
    }
    if let Some(binary) = file_stamp(&built) {
        let marker = rust::Marker {
            stamp,
            source: b.source.clone(),
            binary,
        };
        let path = marker_path(&target_dir, triple, &name);
        std::fs::write(&path, marker.to_text()).map_err(|e| io(&ids, "write", &path, e))?;
    }
    // What the runtime will load, checked now: a binary linked against a newer glibc than
    // the runtime's deploys fine and then fails every invocation.
    let binary = std::fs::read(&bootstrap).map_err(|e| io(&ids, "read", &bootstrap, e))?;
    rust::glibc_needed(&binary)
        .and_then(|needed| rust::check_glibc(needed, &b.runtimes))
        .map_err(|why| BuildError::Incompatible(format!("{ids}: {why}")))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io(&ids, "make executable", &bootstrap, e))
}

/// cargo's target folder for a Rust build: `CARGO_TARGET_DIR` (made absolute: the build
/// runs in the crate's folder), else `cargo-<id>` in the build cache.
fn rust_target_dir(b: &Build, builds: &Builds) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| std::path::absolute(&d).unwrap_or(d))
        .unwrap_or_else(|| builds.cache.join(format!("cargo-{}", b.ids[0])))
}

/// What this machine has for building Rust for `architecture`: cargo-lambda and
/// cargo-zigbuild where cargo finds subcommands; for a cross build with neither, rustup's
/// installed targets and the cross linkers on PATH.
fn toolchain(architecture: &str) -> rust::Toolchain {
    let mut have = rust::Toolchain {
        cargo_lambda: find_program("cargo-lambda").is_some(),
        zigbuild: find_program("cargo-zigbuild").is_some(),
        ..rust::Toolchain::default()
    };
    let Ok(triple) = rust::triple(architecture) else {
        return have;
    };
    if have.cargo_lambda || have.zigbuild || !rust::is_cross(architecture) {
        return have;
    }
    have.targets = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_owned())
                .collect()
        });
    have.linkers = rust::linker_candidates(triple)
        .iter()
        .filter(|c| find_program(c).is_some())
        .map(|c| (*c).to_owned())
        .collect();
    have.linker_set = std::env::var_os(rust::linker_var(triple)).is_some_and(|v| !v.is_empty());
    have
}

/// An executable `name` on PATH or in cargo's own bin folder (`$CARGO_HOME/bin`, default
/// `~/.cargo/bin`), where cargo looks for subcommands too.
fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(cargo_home.map(|h| h.join("bin")))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Removes the crate's own artifacts from the target folder when [`rust::must_forget`] says
/// they may come from another copy of the crate (or from a build quickdeploy did not make);
/// returns the hash of the crate's files, for the marker written after the build.
fn forget_other_copies(
    b: &Build,
    cargo_toml: &str,
    triple: &str,
    target_dir: &Path,
    name: &str,
    out: &dyn Output,
) -> Result<String, BuildError> {
    let ids = b.ids.join(", ");
    let stamp = source_stamp(&b.source, &ids)?;
    let marker = std::fs::read_to_string(marker_path(target_dir, triple, name))
        .ok()
        .and_then(|t| rust::Marker::parse(&t));
    let built = rust::binary_path(target_dir, triple, name);
    if rust::must_forget(marker.as_ref(), &b.source, &stamp, file_stamp(&built)) {
        let package = rust::package_name(cargo_toml);
        let cmd = rust::clean_command(&b.source, package.as_deref(), triple, target_dir);
        out.line(&format!(
            "{ids}: {cmd} (what is there may come from another copy of the crate)"
        ));
        run_command(&cmd, &ids, out)?;
    }
    Ok(stamp)
}

/// Where the marker of `name`'s last build for `triple` is kept in the target folder.
fn marker_path(target_dir: &Path, triple: &str, name: &str) -> PathBuf {
    target_dir.join(format!(".quickdeploy-{triple}-{name}"))
}

/// A file's size and modification time (ns), when it exists.
fn file_stamp(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    let ns = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), u64::try_from(ns).unwrap_or(u64::MAX)))
}

/// The hash of a crate's files (paths and bytes; its own `target/` and `.git/` left out):
/// what says two copies of the crate would build the same binary.
fn source_stamp(dir: &Path, ids: &str) -> Result<String, BuildError> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let walk = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() != 1 || !matches!(e.file_name().to_str(), Some("target" | ".git"))
        });
    for entry in walk {
        let entry = entry.map_err(|e| io(ids, "read", dir, e.into()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let bytes = std::fs::read(entry.path()).map_err(|e| io(ids, "read", entry.path(), e))?;
        for part in [rel.to_string_lossy().as_bytes(), &bytes[..]] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// An exclusive lock on a cargo target folder, held for one Rust build (the clean, cargo,
/// copying the binary, the marker); released when dropped.
struct TargetLock {
    _file: std::fs::File,
}

impl TargetLock {
    fn take(dir: &Path, ids: &str, out: &dyn Output) -> Result<Self, BuildError> {
        use std::os::fd::AsRawFd as _;
        std::fs::create_dir_all(dir).map_err(|e| io(ids, "create", dir, e))?;
        let path = dir.join(".quickdeploy-rust.lock");
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(ids, "open", &path, e))?;
        let fd = file.as_raw_fd();
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            out.line(&format!(
                "{ids}: waiting for another quickdeploy build in {}",
                dir.display()
            ));
            // SAFETY: as above.
            if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                return Err(io(ids, "lock", &path, std::io::Error::last_os_error()));
            }
        }
        Ok(Self { _file: file })
    }
}

fn report(
    b: &Build,
    dependencies: DependencySource,
    cache_key: Option<String>,
    (copied, removed): (usize, usize),
    started: Instant,
) -> Built {
    Built {
        ids: b.ids.clone(),
        method: b.method.name(),
        dependencies,
        cache_key,
        copied,
        removed,
        ms: crate::aws::clock::ms(started),
    }
}

/// The cache entry holding a build's dependencies, installing it when missing: into a
/// temporary folder renamed into place once the install succeeded, so a failed or
/// interrupted install never leaves an entry that looks complete.
fn dependencies(
    b: &Build,
    cache: &Path,
    out: &dyn Output,
) -> Result<(Option<PathBuf>, DependencySource, Option<String>), BuildError> {
    let ids = b.ids.join(", ");
    let mut files = Vec::new();
    for name in b.method.dependency_files() {
        let path = b.source.join(name);
        match std::fs::read(&path) {
            Ok(content) => files.push(((*name).to_owned(), content)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io(&ids, "read", &path, source)),
        }
    }
    let present: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let key = build::cache_key(b, &files);
    let dir = cache.join(&key);
    let Some(cmd) = build::install(b, &present, &dir) else {
        return Ok((None, DependencySource::None, None));
    };
    if dir.is_dir() {
        out.line(&format!("{ids}: dependencies from the cache ({key})"));
        return Ok((Some(dir), DependencySource::Cached, Some(key)));
    }
    let tmp = cache.join(format!("{key}.tmp-{}", std::process::id()));
    fresh_dir(&tmp, &ids)?;
    for (name, content) in &files {
        std::fs::write(tmp.join(name), content)
            .map_err(|e| io(&ids, "write", &tmp.join(name), e))?;
    }
    let cmd = Command {
        cwd: tmp.clone(),
        ..cmd
    };
    out.line(&format!("{ids}: installing dependencies: {cmd}"));
    if let Err(e) = run_command(&cmd, &ids, out) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dir).map_err(|e| io(&ids, "move into the cache", &dir, e))?;
    Ok((Some(dir), DependencySource::Installed, Some(key)))
}

/// Runs a tool, showing each line of its output as it comes (stdout and stderr both); a
/// failure carries its last lines.
fn run_command(cmd: &Command, ids: &str, out: &dyn Output) -> Result<(), BuildError> {
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

/// The source folder's files, by the rules of a package (ignores, `.gitignore`, links).
fn add_sources(
    wanted: &mut BTreeMap<String, PathBuf>,
    b: &Build,
    root: &Path,
) -> Result<(), BuildError> {
    let files = scan_in(&b.source_spec(), root).map_err(|source| BuildError::Source {
        ids: b.ids.join(", "),
        source,
    })?;
    wanted.extend(files.into_iter().map(|f| (f.path, f.source)));
    Ok(())
}

/// Every file under `dir`, as `prefix/<path inside dir>`.
fn add_tree(
    wanted: &mut BTreeMap<String, PathBuf>,
    dir: &Path,
    prefix: &str,
    ids: &str,
) -> Result<(), BuildError> {
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            io(ids, "read", &path, e.into())
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let name = if prefix.is_empty() {
            rel
        } else {
            format!("{prefix}/{rel}")
        };
        wanted.insert(name, entry.into_path());
    }
    Ok(())
}

/// Makes `target` (inside the build folder `top`) hold exactly `wanted` (path inside it,
/// file it comes from): a file whose size and modification time (or, failing that, bytes)
/// match is left alone; a new or changed one is copied with its source's modification time;
/// anything else under `top` is removed. Returns (written, removed).
fn mirror(
    target: &Path,
    top: &Path,
    wanted: &BTreeMap<String, PathBuf>,
    ids: &str,
) -> Result<(usize, usize), BuildError> {
    std::fs::create_dir_all(target).map_err(|e| io(ids, "create", target, e))?;
    let dirs: std::collections::HashSet<&str> = wanted
        .keys()
        .flat_map(|k| k.match_indices('/').map(move |(i, _)| &k[..i]))
        .collect();
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(top).contents_first(true).min_depth(1) {
        let entry = entry.map_err(|e| io(ids, "read", top, e.into()))?;
        let path = entry.path();
        let keep = path
            .strip_prefix(target)
            .ok()
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .is_some_and(|r| wanted.contains_key(&r) || dirs.contains(r.as_str()));
        let inside_target = target.starts_with(path);
        if keep || inside_target {
            continue;
        }
        let result = if entry.file_type().is_dir() {
            std::fs::remove_dir(path)
        } else {
            removed += 1;
            std::fs::remove_file(path)
        };
        result.map_err(|e| io(ids, "remove", path, e))?;
    }
    let mut written = 0;
    for (rel, from) in wanted {
        let to = target.join(rel);
        if same(from, &to) {
            continue;
        }
        copy(from, &to).map_err(|e| io(ids, "write", &to, e))?;
        written += 1;
    }
    Ok((written, removed))
}

/// True when `to` already holds `from`: same size, and the same modification time or else
/// the same bytes (a tool that rewrote an identical file).
fn same(from: &Path, to: &Path) -> bool {
    let (Ok(a), Ok(b)) = (std::fs::metadata(from), std::fs::symlink_metadata(to)) else {
        return false;
    };
    if !b.is_file() || a.len() != b.len() {
        return false;
    }
    if a.modified()
        .ok()
        .is_some_and(|t| b.modified().ok() == Some(t))
    {
        return true;
    }
    matches!((std::fs::read(from), std::fs::read(to)), (Ok(x), Ok(y)) if x == y)
}

/// Copies `from` to `to` (permissions too), giving it `from`'s modification time, so the
/// next build and the diff see it as unchanged.
fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if to.is_dir() {
        std::fs::remove_dir_all(to)?;
    } else if to.symlink_metadata().is_ok() {
        std::fs::remove_file(to)?;
    }
    std::fs::copy(from, to)?;
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(modified)
}

/// An empty folder at `dir` (what was there is removed).
fn fresh_dir(dir: &Path, ids: &str) -> Result<(), BuildError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(ids, "clear", dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| io(ids, "create", dir, e))
}

fn io(ids: &str, action: &'static str, path: &Path, source: std::io::Error) -> BuildError {
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

    #[test]
    fn mirror_writes_only_what_changed_and_removes_what_went() {
        let dir = tempfile::tempdir().expect("tmp");
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        std::fs::create_dir_all(src.join("lib")).expect("mkdir");
        std::fs::write(src.join("a.py"), "a").expect("write");
        std::fs::write(src.join("lib/b.py"), "b").expect("write");
        let wanted = |names: &[&str]| -> BTreeMap<String, PathBuf> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), src.join(n)))
                .collect()
        };
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py", "lib/b.py"]), "X").expect("1"),
            (2, 0)
        );
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py", "lib/b.py"]), "X").expect("2"),
            (0, 0)
        );
        std::fs::write(src.join("a.py"), "aa").expect("write");
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py"]), "X").expect("3"),
            (1, 1)
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a.py")).expect("read"),
            "aa"
        );
        assert!(!out.join("lib").exists(), "emptied folders go too");
    }
}
