//! What can go wrong while patching, worded so the person reading it knows what to fix.

/// Why a patch was refused. Nothing is written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// A path in the change set is not a safe, plain relative path.
    #[error("path {path:?} rejected: {reason}")]
    PathRejected {
        /// The path as given.
        path: String,
        /// What is wrong with it and how to write it instead.
        reason: &'static str,
    },
    /// The same path appears twice among the puts, or twice among the deletes.
    #[error("path {0:?} appears more than once in the change set: give each path once")]
    DuplicatePath(String),
    /// A path is both put and deleted.
    #[error("path {0:?} is both put and deleted: keep one of the two")]
    PutAndDelete(String),
    /// A delete names an entry the archive does not have.
    #[error("cannot delete {0:?}: the archive has no such entry")]
    DeleteMissing(String),
    /// A put would make a file and a folder of the same name.
    #[error(
        "path {path:?} conflicts with {other:?} in the archive: one is a file, the other a folder"
    )]
    PathConflict {
        /// The path being put.
        path: String,
        /// The entry it collides with.
        other: String,
    },
    /// The input is not a zip archive at all.
    #[error("not a zip archive: {0}")]
    NotZip(String),
    /// The input looks like a zip archive but is damaged or truncated.
    #[error("corrupt zip archive: {0}")]
    Corrupt(String),
    /// A valid zip archive of a kind the engine does not patch.
    #[error("unsupported zip archive: {0}")]
    Unsupported(String),
    /// The hash checkpoint given does not fit this archive.
    #[error("hash checkpoint rejected: {0}")]
    Checkpoint(String),
    /// The change cannot be made from the archive's directory alone; fetch the whole archive.
    #[error("the whole archive is needed: {0}")]
    NeedsWholeArchive(String),
    /// Reading the old archive failed.
    #[error("reading the archive failed: {0}")]
    Io(#[from] std::io::Error),
}

impl PatchError {
    /// A short, stable name for the kind of error, used as the Lambda `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PathRejected { .. } => "PathRejected",
            Self::DuplicatePath(_) => "DuplicatePath",
            Self::PutAndDelete(_) => "PutAndDelete",
            Self::DeleteMissing(_) => "DeleteMissing",
            Self::PathConflict { .. } => "PathConflict",
            Self::NotZip(_) => "NotAZip",
            Self::Corrupt(_) => "CorruptArchive",
            Self::Unsupported(_) => "UnsupportedArchive",
            Self::Checkpoint(_) => "BadCheckpoint",
            Self::NeedsWholeArchive(_) => "NeedsWholeArchive",
            Self::Io(_) => "ReadFailed",
        }
    }

    /// True when the change set, not the archive, is at fault.
    pub fn is_bad_change(&self) -> bool {
        matches!(
            self,
            Self::PathRejected { .. }
                | Self::DuplicatePath(_)
                | Self::PutAndDelete(_)
                | Self::DeleteMissing(_)
                | Self::PathConflict { .. }
        )
    }
}
