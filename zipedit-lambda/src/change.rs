//! The change set: files to put and paths to delete, and the rules a path must follow.

use std::collections::HashSet;

use crate::error::PatchError;

/// A file to write into the archive, replacing any entry of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutFile {
    /// Path inside the archive, `/`-separated, relative, e.g. `src/handler.py`.
    pub path: String,
    /// The file's full content.
    pub data: Vec<u8>,
    /// `Some(true)` for 0755, `Some(false)` for 0644; `None` keeps a replaced entry's mode, and
    /// gives a new file 0644 (0755 for `bootstrap` at the root, the custom runtime entry point).
    pub executable: Option<bool>,
}

impl PutFile {
    /// A put that keeps the replaced entry's mode (or takes the default for a new file).
    pub fn new(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            data: data.into(),
            executable: None,
        }
    }

    /// The same put with an explicit executable flag.
    pub fn executable(mut self, executable: bool) -> Self {
        self.executable = Some(executable);
        self
    }
}

/// Everything one patch does to an archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Files to add or replace.
    pub puts: Vec<PutFile>,
    /// Entry names to remove. A folder entry may be named with or without its trailing `/`.
    pub deletes: Vec<String>,
}

impl ChangeSet {
    /// An empty change set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(mut self, file: PutFile) -> Self {
        self.puts.push(file);
        self
    }

    /// Adds a delete.
    pub fn delete(mut self, path: impl Into<String>) -> Self {
        self.deletes.push(path.into());
        self
    }

    /// True when the change set does nothing.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }

    /// Checks what can be checked without the archive: every path is safe, and none repeats.
    pub fn validate(&self) -> Result<(), PatchError> {
        let mut seen_puts = HashSet::new();
        for put in &self.puts {
            check_path(&put.path, false)?;
            if !seen_puts.insert(put.path.as_str()) {
                return Err(PatchError::DuplicatePath(put.path.clone()));
            }
        }
        let mut seen_deletes = HashSet::new();
        for path in &self.deletes {
            check_path(path, true)?;
            let bare = path.trim_end_matches('/');
            if !seen_deletes.insert(bare) {
                return Err(PatchError::DuplicatePath(path.clone()));
            }
            if seen_puts.contains(bare) {
                return Err(PatchError::PutAndDelete(path.clone()));
            }
        }
        Ok(())
    }
}

/// Zip names are at most 65,535 bytes: the length field is 16 bits.
const MAX_NAME: usize = 0xFFFF;
/// Lambda extracts onto Linux filesystems, where one name is at most 255 bytes (NAME_MAX).
pub const MAX_COMPONENT: usize = 255;

/// Accepts only plain relative paths that stay inside the package when extracted, and, for
/// puts (`allow_dir` false), only names Lambda can extract: no control characters and no
/// component over 255 bytes. Deletes (`allow_dir` true) may name such an entry, so an archive
/// that already holds one can be cleaned up.
pub fn check_path(path: &str, allow_dir: bool) -> Result<(), PatchError> {
    let reject = |reason| {
        Err(PatchError::PathRejected {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return reject("it is empty");
    }
    if path.len() > MAX_NAME {
        return reject("it is longer than the 65,535 bytes a zip name can hold");
    }
    if path.contains('\0') {
        return reject("it contains a NUL byte");
    }
    // Newlines, tabs, escapes and DEL: Lambda's extraction and most tools choke on them, and a
    // name that hides a line break misleads whoever reads a listing.
    if !allow_dir && path.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return reject(
            "it contains a control character (a byte below 0x20, or 0x7f): rename the file",
        );
    }
    if path.contains('\\') {
        return reject("it contains a backslash: separate folders with '/'");
    }
    if path.starts_with('/') {
        return reject("it is absolute: give it relative to the package root");
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return reject("it starts with a drive letter: give it relative to the package root");
    }
    let body = match path.strip_suffix('/') {
        Some(dir) if allow_dir => dir,
        Some(_) => return reject("it ends with '/': a put names a file, not a folder"),
        None => path,
    };
    for part in body.split('/') {
        match part {
            "" => return reject("it has an empty component ('//'): remove the extra '/'"),
            "." => return reject("it has a '.' component: write the path without it"),
            ".." => return reject("it has a '..' component, which would escape the package root"),
            p if !allow_dir && p.len() > MAX_COMPONENT => {
                return reject(
                    "it has a component longer than 255 bytes, which Lambda cannot extract: shorten that name",
                );
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(path: &str, allow_dir: bool) -> Option<String> {
        check_path(path, allow_dir).err().map(|e| e.to_string())
    }

    #[test]
    fn names_lambda_cannot_extract_are_refused_for_puts() {
        let long = "a".repeat(MAX_COMPONENT + 1);
        for path in [
            format!("dir/{long}"),
            format!("{long}/file.py"),
            "a".repeat(65_533),
        ] {
            let why = reason(&path, false).expect("refused");
            assert!(why.contains("longer than 255 bytes"), "{why}");
        }
        // 255 bytes is Linux's NAME_MAX itself: allowed, in any number of components.
        let max = "b".repeat(MAX_COMPONENT);
        assert_eq!(reason(&format!("{max}/{max}"), false), None);
        // A multi-byte name is measured in bytes, not characters: 128 x 2 bytes = 256.
        let wide = "é".repeat(128);
        assert!(reason(&wide, false).is_some_and(|w| w.contains("255 bytes")));
        assert_eq!(reason(&"é".repeat(127), false), None);
    }

    #[test]
    fn control_characters_are_refused_for_puts() {
        for c in (0x01u8..0x20).chain([0x7f]) {
            let path = format!("src/a{}b.py", c as char);
            let why = reason(&path, false).expect("refused");
            assert!(why.contains("control character"), "{c:#x}: {why}");
        }
        assert!(
            reason("with space ~+=.py", false).is_none(),
            "printable ASCII is fine"
        );
        assert!(
            reason("café/ünïcode.py", false).is_none(),
            "non-ASCII is fine"
        );
    }

    #[test]
    fn a_delete_may_name_an_entry_lambda_could_not_extract() {
        assert_eq!(reason("bad\nname.py", true), None);
        assert_eq!(reason(&"x".repeat(300), true), None);
        // The escape rules still hold for deletes.
        assert!(reason("../x", true).is_some());
    }
}
