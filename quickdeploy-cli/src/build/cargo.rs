//! Running cargo for a Rust function: the toolchain this machine has for its target (PATH,
//! rustup), the lock on a shared cargo target folder, forgetting what another copy of the
//! crate built there, and the binary checked against its runtime's glibc.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::tool::{BuildError, Output, fresh_dir, io, run_command};
use crate::build::decide::Builds;
use crate::build::method::Build;
use crate::build::rust::{self, RustTool};

/// A Rust build: the crate compiled for the function's architecture by the tool this
/// machine has ([`rust::tool`]: cargo-lambda, cargo-zigbuild, or cargo with the target and a
/// linker), its binary left in `work` as `bootstrap`, 0755. cargo's target folder is
/// `CARGO_TARGET_DIR` when set (cargo's convention: copies of an app then share one
/// compiled dependency set), else kept in the build cache; rebuilds are incremental either
/// way. The target folder is locked for the build, so two builds sharing it cannot hand
/// each other their binaries.
pub fn rust_build(
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
    run_command(&cmd, b, out)?;
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
pub fn rust_target_dir(b: &Build, builds: &Builds) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| std::path::absolute(&d).unwrap_or(d))
        .unwrap_or_else(|| builds.cache.join(format!("cargo-{}", b.ids[0])))
}

/// What this machine has for building Rust for `architecture`: cargo-lambda and
/// cargo-zigbuild where cargo finds subcommands; for a cross build with neither, rustup's
/// installed targets and the cross linkers on PATH.
pub fn toolchain(architecture: &str) -> rust::Toolchain {
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
pub fn find_program(name: &str) -> Option<PathBuf> {
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
pub fn forget_other_copies(
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
        run_command(&cmd, b, out)?;
    }
    Ok(stamp)
}

/// Where the marker of `name`'s last build for `triple` is kept in the target folder.
pub fn marker_path(target_dir: &Path, triple: &str, name: &str) -> PathBuf {
    target_dir.join(format!(".quickdeploy-{triple}-{name}"))
}

/// A file's size and modification time (ns), when it exists.
pub fn file_stamp(path: &Path) -> Option<(u64, u64)> {
    meta_stamp(&std::fs::metadata(path).ok()?)
}

/// The size and modification time (ns) of a file's metadata.
pub fn meta_stamp(m: &std::fs::Metadata) -> Option<(u64, u64)> {
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
pub fn source_stamp(dir: &Path, ids: &str) -> Result<String, BuildError> {
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
pub struct TargetLock {
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
