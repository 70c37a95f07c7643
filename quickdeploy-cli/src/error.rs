//! The CLI's one error type and its exit codes.
//!
//! A command ends in one of two ways: it produced a report (printed by the command), whose
//! outcome gives the exit code ([`Exit`]); or it could not, and the [`Error`] says why. Each
//! error variant carries its exit code and keeps the error it came from, so a caller can still
//! ask what it was (an [`crate::aws::AwsError`]'s code, a [`crate::package::spec::ScanError`]).

use std::io::Write as _;
use std::process::ExitCode;

/// What a command's exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (or nothing to do).
    Success,
    /// 1: the operation failed (a function, a patch, a stack update).
    Failed,
    /// 2: bad usage, input or configuration: the same code clap uses for usage errors.
    BadInput,
    /// 3: a full deploy is needed and was not run (refused, or no consent).
    NeedsFull,
    /// 130: stopped by Ctrl-C, as shells report SIGINT.
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::NeedsFull => 3,
            Exit::Interrupted => 130,
        }
    }
}

/// Why a command could not produce its report.
#[derive(Debug)]
pub enum Error {
    /// The user's input, files or configuration are wrong (exit 2). `kind` is the stable name
    /// `--json` prints (`BadInput`, `BadConfig`, `BadAwsConfig`, `BadUsage`).
    BadInput {
        /// Stable name for `--json`.
        kind: &'static str,
        /// The error with its context chain.
        error: anyhow::Error,
    },
    /// The operation failed (exit 1); `kind` names the command's failure (`DeployFailed`).
    Failed {
        /// Stable name for `--json`.
        kind: &'static str,
        /// The error with its context chain.
        error: anyhow::Error,
    },
    /// Not done for want of consent, or because only a full deploy would do (exit 3); nothing
    /// was changed.
    Refused {
        /// Stable name for `--json`.
        kind: &'static str,
        /// Why.
        error: anyhow::Error,
    },
    /// Stopped by Ctrl-C (exit 130).
    Interrupted,
}

/// True when an error is the user's to fix (exit 2): a link out of the package, a package over
/// Lambda's limits, a path the engine refuses, a bad config. Looks through the context chain.
pub fn is_bad_input(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<crate::package::spec::ScanError>()
            || cause.is::<crate::package::limits::LimitError>()
            || cause.is::<crate::plan::groups::UnknownFunction>()
            || cause.is::<crate::plan::groups::PlanError>()
            || cause.is::<crate::project::template::TemplateError>()
            || cause.is::<crate::project::config::BadConfig>()
            || cause.is::<crate::aws::AwsConfigError>()
            || cause
                .downcast_ref::<crate::build::tool::BuildError>()
                .is_some_and(crate::build::tool::BuildError::is_bad_input)
            || cause
                .downcast_ref::<zipedit::PatchError>()
                .is_some_and(zipedit::PatchError::is_bad_change)
    })
}

impl Error {
    /// An error of a command whose own failure is named `failed`: bad input (exit 2) when the
    /// error chain says the user's files are at fault (see [`is_bad_input`]), else a failure.
    pub fn classify(error: anyhow::Error, failed: &'static str) -> Self {
        if is_bad_input(&error) {
            Error::BadInput {
                kind: "BadInput",
                error,
            }
        } else {
            Error::Failed {
                kind: failed,
                error,
            }
        }
    }

    /// An error with the given exit code (`Exit::BadInput`, else a failure).
    pub fn new(exit: Exit, kind: &'static str, error: anyhow::Error) -> Self {
        match exit {
            Exit::BadInput => Error::BadInput { kind, error },
            Exit::NeedsFull => Error::Refused { kind, error },
            Exit::Interrupted => Error::Interrupted,
            _ => Error::Failed { kind, error },
        }
    }

    /// Bad input of a named kind.
    pub fn bad_input(kind: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Error::BadInput {
            kind,
            error: error.into(),
        }
    }

    /// A failure of a named kind.
    pub fn failed(kind: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Error::Failed {
            kind,
            error: error.into(),
        }
    }

    /// Its exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Error::BadInput { .. } => Exit::BadInput,
            Error::Failed { .. } => Exit::Failed,
            Error::Refused { .. } => Exit::NeedsFull,
            Error::Interrupted => Exit::Interrupted,
        }
    }

    /// Its stable name for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BadInput { kind, .. }
            | Error::Failed { kind, .. }
            | Error::Refused { kind, .. } => kind,
            Error::Interrupted => "Interrupted",
        }
    }

    /// The error it came from, when there is one.
    pub fn source_error(&self) -> Option<&anyhow::Error> {
        match self {
            Error::BadInput { error, .. }
            | Error::Failed { error, .. }
            | Error::Refused { error, .. } => Some(error),
            Error::Interrupted => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source_error() {
            Some(e) => write!(f, "{e:#}"),
            None => f.write_str(
                "interrupted: what was under way may be half done; `quickdeploy status` shows what is live",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source_error().map(|e| e.as_ref() as _)
    }
}

/// How a command ended: the exit its report means, or the error that stopped it.
pub type Outcome = Result<Exit, Error>;

/// Prints the error (if any; on stderr, and as a JSON document on stdout with `json`) and
/// maps the outcome to the process exit code.
pub fn finish(outcome: Outcome, json: bool) -> ExitCode {
    match outcome {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("error: {e}");
            if json {
                let doc = serde_json::json!({
                    "ok": false,
                    "error": { "type": e.kind(), "message": e.to_string() },
                });
                // As render::print_line does: a closed pipe ends the output quietly.
                let _ = writeln!(std::io::stdout().lock(), "{doc}");
            }
            ExitCode::from(e.exit().code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_chain_decides_bad_input() {
        let bad = anyhow::Error::from(crate::project::config::BadConfig("no template".into()))
            .context("loading");
        let e = Error::classify(bad, "DeployFailed");
        assert_eq!(e.exit(), Exit::BadInput);
        assert_eq!(e.exit().code(), 2);
        assert_eq!(e.to_string(), "loading: no template");
        let e = Error::classify(anyhow::anyhow!("S3 said no"), "DeployFailed");
        assert_eq!((e.exit(), e.kind()), (Exit::Failed, "DeployFailed"));
        assert_eq!(Error::Interrupted.exit().code(), 130);
        assert_eq!(Exit::NeedsFull.code(), 3);
    }
}
