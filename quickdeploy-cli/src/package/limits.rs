//! Lambda's size limits, checked before anything is read, uploaded or patched: a package over
//! them would upload for minutes and then be refused by UpdateFunctionCode.

use crate::artifact::diff::LocalFile;

/// Lambda's limit on a function's code unzipped, layers included: 250 MB (262,144,000 bytes).
pub const MAX_UNZIPPED: u64 = 262_144_000;
/// How many of the largest files an error names.
const NAMED: usize = 5;

/// A package Lambda would refuse.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Its files add up to more than Lambda unzips.
    #[error(
        "the package holds {total} bytes of files, over Lambda's limit of {MAX_UNZIPPED} bytes (250 MB unzipped, layers included); the largest: {largest}. Leave out what the function does not need (`ignore` in quickdeploy.toml), or move dependencies to a layer or a container image"
    )]
    Unzipped {
        /// The files' total size.
        total: u64,
        /// The largest files with their sizes.
        largest: String,
    },
    /// The zip itself is larger than a function can take.
    #[error(
        "the package zip is {0} bytes, over Lambda's limit of {MAX_UNZIPPED} bytes: make the package smaller"
    )]
    Zipped(u64),
}

/// Refuses files whose total is over [`MAX_UNZIPPED`], naming the largest.
pub fn check_package(files: &[LocalFile]) -> Result<(), LimitError> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total <= MAX_UNZIPPED {
        return Ok(());
    }
    let mut by_size: Vec<&LocalFile> = files.iter().collect();
    by_size.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let largest = by_size
        .iter()
        .take(NAMED)
        .map(|f| format!("{} ({} bytes)", f.path, f.size))
        .collect::<Vec<_>>()
        .join(", ");
    Err(LimitError::Unzipped { total, largest })
}

/// Refuses a zip over [`MAX_UNZIPPED`].
pub fn check_zip(size: u64) -> Result<(), LimitError> {
    if size > MAX_UNZIPPED {
        Err(LimitError::Zipped(size))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> LocalFile {
        LocalFile {
            path: path.into(),
            source: path.into(),
            size,
            mtime_ns: None,
            executable: false,
        }
    }

    #[test]
    fn at_the_limit_passes_past_it_names_the_largest() {
        let at = [file("a", MAX_UNZIPPED - 10), file("b", 10)];
        assert!(check_package(&at).is_ok());
        let over = [
            file("small.py", 1),
            file("model.bin", MAX_UNZIPPED),
            file("lib.so", 5_000),
        ];
        let e = check_package(&over).expect_err("over").to_string();
        assert!(
            e.contains(&format!("{} bytes of files", MAX_UNZIPPED + 5_001)),
            "{e}"
        );
        let model = e.find("model.bin").expect("largest named");
        let lib = e.find("lib.so").expect("next named");
        assert!(model < lib, "{e}");
        assert!(check_zip(MAX_UNZIPPED).is_ok());
        assert!(check_zip(MAX_UNZIPPED + 1).is_err());
    }
}
