//! What a package is made of, before anything is read: its folder, extra paths and ignore
//! patterns ([`PackageSpec`]), and why one could not be read ([`ScanError`]). Both `filter`
//! and `scan` take these, so neither needs the other's types.

use std::path::PathBuf;

/// The files that make up one package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageSpec {
    /// The package folder (absolute or relative to the working folder).
    pub folder: PathBuf,
    /// Extra files or folders, each put in the archive under its own name.
    pub include: Vec<PathBuf>,
    /// Ignore patterns (gitignore syntax), besides [`crate::package::filter::DEFAULT_IGNORES`].
    pub ignore: Vec<String>,
}

/// A package that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The folder or an extra path is missing.
    #[error(
        "package path {0} does not exist: fix `package`/`include` in quickdeploy.toml or the template's code location"
    )]
    Missing(PathBuf),
    /// An ignore pattern is not valid.
    #[error("ignore pattern {pattern:?} is not valid: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// Two paths land on the same name in the archive.
    #[error("{0:?} comes from both {1} and {2}: rename one, or ignore one of them")]
    Collision(String, PathBuf, PathBuf),
    /// A symbolic link points outside the package and its `include` paths: following it could
    /// deploy any file of this machine (a planted `x -> ~/.aws/credentials`).
    #[error(
        "symbolic link {link} points outside the package ({target}): remove the link, copy the file into the package, or add its folder to `include` in quickdeploy.toml"
    )]
    LinkOutside {
        /// The link.
        link: PathBuf,
        /// Where it resolves.
        target: PathBuf,
    },
    /// A symbolic link points nowhere.
    #[error("symbolic link {0} is broken (its target does not exist): remove it or fix it")]
    LinkBroken(PathBuf),
    /// Reading the folder failed.
    #[error("cannot read {path}: {message}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        message: String,
    },
}
