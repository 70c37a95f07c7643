//! Reports for the golden tests of this folder.

use crate::plan::classify::Change;
use crate::report::*;

pub fn artifact(name: &str, modified: usize, error: Option<&str>) -> ArtifactReport {
    ArtifactReport {
        artifact: format!("s3://b/quickdeploy/app/{name}.zip"),
        package: name.into(),
        change: if modified > 0 {
            Change::CodeOnly
        } else {
            Change::None
        },
        added: 0,
        modified,
        deleted: 0,
        paths: (0..modified).map(|i| format!("f{i}.py")).collect(),
        hashed: modified,
        manifest: crate::artifact::remote::Source::Remote,
        patch: None,
        request_bytes: None,
        files: Vec::new(),
        staged_bytes: None,
        base_bytes: None,
        copy_version: None,
        warnings: Vec::new(),
        error: error.map(str::to_owned),
        code_sha256: None,
        layers: Vec::new(),
    }
}

pub fn function(id: &str, status: FunctionStatus, reason: &str) -> FunctionReport {
    FunctionReport {
        logical_id: id.into(),
        construct_path: None,
        name: format!("app-{id}"),
        status,
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
        rollout: None,
        not_patched: false,
    }
}

pub fn deploy_report() -> DeployReport {
    DeployReport {
        ok: true,
        outcome: DeployOutcome::Deployed,
        stack: "app".into(),
        needs_full: Vec::new(),
        refused: None,
        artifacts: vec![artifact("shared", 1, None), artifact("report", 0, None)],
        functions: vec![
            function("Hello", FunctionStatus::Updated, ""),
            function(
                "Report",
                FunctionStatus::Skipped,
                "already runs this artifact",
            ),
        ],
        not_served: Vec::new(),
        full: None,
        builds: Vec::new(),
        synthesized: None,
        timings_ms: Timings {
            build: 0.0,
            diff: 10.0,
            patch: 20.0,
            update: 30.0,
            wait: 40.0,
            total: 100.4,
        },
        timeline: None,
        recorded: None,
        assumed: None,
    }
}
