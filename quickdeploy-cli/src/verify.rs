//! Whether a function runs what its template says: the code (CodeSha256) and the settings the
//! template states. Pure: `full` reads each function back after a deploy and asks this, so a
//! stack that says UPDATE_COMPLETE while a function kept its old code or settings is reported,
//! not called a success.

use crate::template::Settings;

/// What a function reports about itself (GetFunctionConfiguration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Its CodeSha256.
    pub code_sha256: Option<String>,
    /// Its last update failed.
    pub failed: bool,
    /// Its settings.
    pub settings: Settings,
}

/// How `observed` differs from what the deploy meant: the CodeSha256 of its package (when
/// `full` packaged it) and the template's settings; one line each, empty when it matches.
pub fn differences(
    code_sha256: Option<&str>,
    expected: &Settings,
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
        };
        // Timeout is not stated: whatever it is, it is not checked.
        assert!(differences(Some("A"), &settings(512), &seen).is_empty());
        assert!(differences(None, &settings(512), &seen).is_empty());
    }

    #[test]
    fn old_code_old_settings_and_a_failed_update_are_each_said() {
        let seen = Observed {
            code_sha256: Some("OLD".into()),
            failed: true,
            settings: settings(128),
        };
        let d = differences(Some("NEW"), &settings(512), &seen);
        assert_eq!(
            d,
            [
                "its last update failed",
                "runs CodeSha256 OLD, not the package's NEW",
                "MemorySize is 128, the template says 512",
            ]
        );
    }
}
