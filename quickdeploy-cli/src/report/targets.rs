//! A command run on several targets (`--target`, `--all-targets`): one report per target,
//! each the command's own document, and the total (docs/json.md, "Several targets").

use serde::Serialize;

use crate::error::Exit;

/// What one target's run ended with: its report, or the error that stopped it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport<T> {
    /// The target's name in quickdeploy.toml.
    pub target: String,
    /// Its region.
    pub region: String,
    /// Its stack.
    pub stack: String,
    /// It succeeded (exit 0 on its own).
    pub ok: bool,
    /// Its exit code on its own (0, 1, 2, 3).
    pub exit: u8,
    /// The command's report for it, as the command prints it without targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<T>,
    /// Why it has no report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TargetError>,
    /// Its wall time.
    pub ms: f64,
    #[serde(skip)]
    exit_as: Exit,
}

/// Why a target's run produced no report.
#[derive(Debug, Clone, Serialize)]
pub struct TargetError {
    /// The stable name of the failure (`DeployFailed`, `BadInput`, ...).
    pub kind: String,
    /// What happened, with its causes.
    pub message: String,
}

impl<T> TargetReport<T> {
    /// A target whose run produced `report`, which exits `exit` on its own.
    pub fn done(target: &str, region: &str, stack: &str, report: T, exit: Exit, ms: f64) -> Self {
        Self {
            target: target.to_owned(),
            region: region.to_owned(),
            stack: stack.to_owned(),
            ok: exit == Exit::Success,
            exit: exit.code(),
            report: Some(report),
            error: None,
            ms,
            exit_as: exit,
        }
    }

    /// A target whose run stopped with an error of this kind and exit code.
    pub fn error(
        target: &str,
        region: &str,
        stack: &str,
        kind: &str,
        message: String,
        exit: Exit,
        ms: f64,
    ) -> Self {
        Self {
            target: target.to_owned(),
            region: region.to_owned(),
            stack: stack.to_owned(),
            ok: false,
            exit: exit.code(),
            report: None,
            error: Some(TargetError {
                kind: kind.to_owned(),
                message,
            }),
            ms,
            exit_as: exit,
        }
    }

    /// Its exit code on its own.
    pub fn exit(&self) -> Exit {
        self.exit_as
    }
}

/// Every target's report, and what they add up to.
#[derive(Debug, Clone, Serialize)]
pub struct TargetsReport<T> {
    /// Every target succeeded.
    pub ok: bool,
    /// The targets that did not, by name.
    pub failed: Vec<String>,
    /// Per target, in the order they were named (`--all-targets`: by name).
    pub targets: Vec<TargetReport<T>>,
    /// What was built once for every target (`deploy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub builds: Vec<crate::build::decide::Built>,
    /// The local side's work, done once for every target (`deploy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalWork>,
    /// Wall time of the whole command, milliseconds.
    pub total_ms: f64,
}

/// What the local side did once for every target: scans, files read and hashed, encodings,
/// and how often a target reused one instead of doing it again.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LocalWork {
    /// Package scans.
    pub scans: usize,
    /// Files read and hashed.
    pub hashed: usize,
    /// Files encoded for the patcher.
    pub encoded: usize,
    /// Results reused by another target.
    pub reused: usize,
}

impl<T> TargetsReport<T> {
    /// The total of these targets' reports.
    pub fn of(targets: Vec<TargetReport<T>>, total_ms: f64) -> Self {
        let failed =
            crate::plan::targets::failed(targets.iter().map(|t| (t.target.as_str(), t.ok)));
        Self {
            ok: failed.is_empty(),
            failed,
            targets,
            builds: Vec::new(),
            local: None,
            total_ms,
        }
    }

    /// The command's exit code: 1 when any target failed (whatever the others did), else 3
    /// when any needs a full deploy that was not run, else 2 for bad input, else 0.
    pub fn exit(&self) -> Exit {
        let exits: Vec<Exit> = self.targets.iter().map(TargetReport::exit).collect();
        [
            Exit::Interrupted,
            Exit::Failed,
            Exit::NeedsFull,
            Exit::BadInput,
        ]
        .into_iter()
        .find(|e| exits.contains(e))
        .unwrap_or(Exit::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_target_fails_the_command_and_is_named() {
        let t =
            |name: &str, exit: Exit| TargetReport::done(name, "us-east-1", "app", (), exit, 1.0);
        let all = TargetsReport::of(
            vec![
                t("dev", Exit::Success),
                t("eu", Exit::NeedsFull),
                TargetReport::error(
                    "prod",
                    "eu-west-1",
                    "app",
                    "DeployFailed",
                    "boom".into(),
                    Exit::Failed,
                    1.0,
                ),
            ],
            3.0,
        );
        assert!(!all.ok);
        assert_eq!(all.failed, ["eu", "prod"]);
        assert_eq!(all.exit(), Exit::Failed);
        let fine = TargetsReport::of(vec![t("dev", Exit::Success), t("eu", Exit::Success)], 2.0);
        assert!(fine.ok);
        assert_eq!(fine.exit(), Exit::Success);
        let refused =
            TargetsReport::of(vec![t("dev", Exit::Success), t("eu", Exit::NeedsFull)], 2.0);
        assert_eq!(refused.exit(), Exit::NeedsFull);
        let doc = serde_json::to_value(&all).expect("json");
        assert_eq!(doc["targets"][2]["error"]["kind"], "DeployFailed");
        assert_eq!(doc["targets"][1]["exit"], 3);
    }
}
