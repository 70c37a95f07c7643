//! Finding the patcher's package on this machine: the zip for the chosen architecture, from
//! `--package`, `QUICKDEPLOY_PACKAGE_DIR`, or the share folder `make install` fills.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::error::Error;

/// Where the patcher's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// A packaged zip (bootstrap.zip from scripts/package-lambda.sh).
    Zip(PathBuf),
    /// A built zipedit binary, packaged as `bootstrap`.
    Binary(PathBuf),
    /// The installed `zipedit-ARCH.zip` (see [`package_dirs`]).
    Installed,
}

/// The patcher's code, read, and where it was read from.
#[derive(Debug, Clone)]
pub struct Package {
    /// The zip to deploy.
    pub zip: Vec<u8>,
    /// The local package or binary it came from.
    pub source: PathBuf,
}

/// Where `make install` puts the patcher's packages, relative to PREFIX (the executable is
/// PREFIX/bin/quickdeploy).
pub const SHARE_DIR: &str = "share/quickdeploy";

/// Overrides where the packages are looked for first.
pub const PACKAGE_DIR_ENV: &str = "QUICKDEPLOY_PATCHER_PACKAGE_DIR";

/// Reads the patcher's code: the zip, the binary packaged as `bootstrap`, or the installed
/// package. Bad input (exit 2) when it cannot be found or read.
pub fn package(code: &CodeSource, arch: &str) -> Result<Package, Error> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    match code {
        CodeSource::Zip(z) => read(z).map(|zip| Package {
            zip,
            source: z.clone(),
        }),
        CodeSource::Binary(b) => read(b).and_then(|bin| {
            zipedit::build_archive(vec![
                zipedit::PutFile::new("bootstrap", bin).executable(true),
            ])
            .context("cannot package the binary")
            .map(|zip| Package {
                zip,
                source: b.clone(),
            })
        }),
        CodeSource::Installed => find_package(&package_dirs(), arch)
            .and_then(|p| read(&p).map(|zip| Package { zip, source: p })),
    }
    .map_err(|e| Error::bad_input("BadInput", e))
}

/// The installed package's file name for an architecture.
pub fn package_name(arch: &str) -> String {
    format!("zipedit-{arch}.zip")
}

/// The folders to look in for the installed package, in order: the environment's, then the
/// one next to the running executable.
pub fn package_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(PACKAGE_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    // current_exe resolves the symlink a package manager may put on PATH only on some
    // systems; canonicalize so a linked ~/bin/quickdeploy still finds PREFIX/share.
    if let Ok(exe) = std::env::current_exe() {
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            dirs.push(prefix.join(SHARE_DIR));
        }
    }
    dirs
}

/// The first `zipedit-ARCH.zip` in `dirs`, or an error naming every place looked and the fix.
pub fn find_package(dirs: &[PathBuf], arch: &str) -> anyhow::Result<PathBuf> {
    let name = package_name(arch);
    let looked: Vec<PathBuf> = dirs.iter().map(|d| d.join(&name)).collect();
    if let Some(found) = looked.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let places = if looked.is_empty() {
        "nowhere (no QUICKDEPLOY_PATCHER_PACKAGE_DIR, and the executable's folder is unknown)"
            .to_owned()
    } else {
        looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "no patcher package for {arch}: looked for {places}. Fix: run `make install` in a \
         quickdeploy checkout (installs it next to the CLI), set {PACKAGE_DIR_ENV} to the folder \
         holding {name}, or give --code ZIP or --binary FILE"
    )
}
