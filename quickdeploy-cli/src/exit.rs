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

impl Failure {
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
