//! Whether a function runs what its template says: the code (CodeSha256) and the settings the
//! template states. Pure: `full` reads each function back after a deploy and asks this, so a
//! stack that says UPDATE_COMPLETE while a function kept its old code or settings is reported,
//! not called a success.

use crate::project::template::Settings;

/// What a function reports about itself (GetFunctionConfiguration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Its CodeSha256.
    pub code_sha256: Option<String>,
    /// Its last update failed.
    pub failed: bool,
    /// Its settings.
    pub settings: Settings,
    /// Its layer version ARNs, in order.
    pub layers: Vec<String>,
}

/// How `observed` differs from what the deploy meant: the CodeSha256 of its package (when
/// `full` packaged it), the template's settings and its layers (when the template's are
/// known, [`crate::plan::groups::layers_of`]); one line each, empty when it matches.
pub fn differences(
    code_sha256: Option<&str>,
    expected: &Settings,
    layers: Option<&[String]>,
    observed: &Observed,
) -> Vec<String> {
    let mut out = Vec::new();
    if observed.failed {
        out.push("its last update failed".to_owned());
    }
    if let Some(want) = code_sha256
        && observed.code_sha256.as_deref() != Some(want)
    {
        out.push(format!(
            "runs CodeSha256 {}, not the package's {want}",
            observed.code_sha256.as_deref().unwrap_or("(none)")
        ));
    }
    let mut check = |name: &str, want: Option<String>, got: Option<String>| {
        if let Some(want) = want
            && got.as_deref() != Some(want.as_str())
        {
            out.push(format!(
                "{name} is {}, the template says {want}",
                got.as_deref().unwrap_or("(none)")
            ));
        }
    };
    let (e, o) = (expected, &observed.settings);
    let num = |n: Option<i32>| n.map(|n| n.to_string());
    check("MemorySize", num(e.memory_size), num(o.memory_size));
    check("Timeout", num(e.timeout), num(o.timeout));
    check("Handler", e.handler.clone(), o.handler.clone());
    check("Runtime", e.runtime.clone(), o.runtime.clone());
    if let Some(want) = layers.filter(|want| *want != observed.layers.as_slice()) {
        out.push(format!(
            "Layers are [{}], the template says [{}]",
            observed.layers.join(", "),
            want.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(memory: i32) -> Settings {
        Settings {
            memory_size: Some(memory),
            timeout: None,
            handler: Some("app.hello".into()),
            runtime: Some("python3.12".into()),
        }
    }

    #[test]
    fn a_function_as_its_template_says_has_no_differences() {
        let seen = Observed {
            code_sha256: Some("A".into()),
            failed: false,
            settings: Settings {
                timeout: Some(3),
                ..settings(512)
            },
            layers: Vec::new(),
        };
        // Timeout is not stated: whatever it is, it is not checked.
        assert!(differences(Some("A"), &settings(512), None, &seen).is_empty());
        assert!(differences(None, &settings(512), Some(&[]), &seen).is_empty());
    }

    #[test]
    fn old_code_old_settings_and_a_failed_update_are_each_said() {
        let seen = Observed {
            code_sha256: Some("OLD".into()),
            failed: true,
            settings: settings(128),
            layers: vec!["arn:aws:lambda:us-east-1:1:layer:deps:1".into()],
        };
        let want = ["arn:aws:lambda:us-east-1:1:layer:deps:2".to_owned()];
        let d = differences(Some("NEW"), &settings(512), Some(&want), &seen);
        assert_eq!(
            d,
            [
                "its last update failed",
                "runs CodeSha256 OLD, not the package's NEW",
                "MemorySize is 128, the template says 512",
                "Layers are [arn:aws:lambda:us-east-1:1:layer:deps:1], the template says [arn:aws:lambda:us-east-1:1:layer:deps:2]",
            ]
        );
    }
}
