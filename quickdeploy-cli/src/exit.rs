//! Exit codes and how failures are shown.

use std::process::ExitCode;

/// A failed command: what to tell the user, and which exit code it means.
#[derive(Debug)]
pub struct Failure {
    /// Exit code: see the constants below.
    pub code: u8,
    /// A short, stable name for the kind of failure (`--json` output).
    pub kind: &'static str,
    /// The error with its context chain.
    pub error: anyhow::Error,
    /// Print the failure as JSON on stdout too.
    pub json: bool,
}

/// The operation failed (exit 1).
pub const FAILED: u8 = 1;
/// Bad usage, input or configuration (exit 2), the same code clap uses for usage errors.
pub const BAD_INPUT: u8 = 2;
/// A full deploy is needed and the quick path refused to do it (exit 3).
pub const NEEDS_FULL: u8 = 3;
/// Stopped by Ctrl-C (exit 130, as shells report SIGINT).
pub const INTERRUPTED: u8 = 130;

/// The user's configuration or files are wrong (a missing or unreadable template, a missing
/// bucket): exit 2, whatever command meets it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadConfig(pub String);

/// The exit code an error means: bad input (exit 2) when the user's files are at fault (a
/// link out of the package, a package over Lambda's limits, a path the engine refuses),
/// else a failure (exit 1). Looks through the whole context chain.
pub fn code_of(error: &anyhow::Error) -> u8 {
    let bad_input = error.chain().any(|cause| {
        cause.is::<crate::scan::ScanError>()
            || cause.is::<crate::limits::LimitError>()
            || cause.is::<crate::plan::UnknownFunction>()
            || cause.is::<BadConfig>()
            || cause.is::<crate::aws::AwsConfigError>()
            || cause
                .downcast_ref::<zipedit::PatchError>()
                .is_some_and(zipedit::PatchError::is_bad_change)
    });
    if bad_input { BAD_INPUT } else { FAILED }
}

/// A short, stable name for that code's kind, given the command's own for failures.
pub fn kind_of(error: &anyhow::Error, failed: &'static str) -> &'static str {
    if code_of(error) == BAD_INPUT {
        "BadInput"
    } else {
        failed
    }
}

impl Failure {
    /// A failure of a command whose own kind of failure is `failed`; exit code and kind are
    /// read from the error (see [`code_of`]).
    pub fn from_error(error: anyhow::Error, failed: &'static str, json: bool) -> Self {
        Self {
            code: code_of(&error),
            kind: kind_of(&error, failed),
            error,
            json,
        }
    }

    /// An exit code whose reason the command already printed.
    pub fn quiet(code: u8) -> Self {
        Self {
            code,
            kind: "",
            error: anyhow::anyhow!(""),
            json: false,
        }
    }
}

/// Prints a failure (if any) and maps the outcome to an exit code.
pub fn report(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.kind.is_empty() => ExitCode::from(f.code),
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            if f.json {
                let doc = serde_json::json!({
                    "ok": false,
                    "error": { "type": f.kind, "message": format!("{:#}", f.error) },
                });
                println!("{doc}");
            }
            ExitCode::from(f.code)
        }
    }
}
