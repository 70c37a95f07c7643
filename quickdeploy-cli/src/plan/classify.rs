//! What a change is, and so what to do about it: pure decisions, no I/O.
//!
//! - code-only: files inside a package changed, nothing else did: the quick path;
//! - dependencies: a lock or manifest file changed, so the package must be rebuilt;
//! - resources: the template changed in anything other than code locations.
//!
//! Dependencies and resources need a full CloudFormation deploy.

use serde::Serialize;

/// Lock and manifest files of the common runtimes. `requirements*.txt` matches by prefix.
pub const DEPENDENCY_FILES: &[&str] = &[
    "Cargo.lock",
    "Cargo.toml",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "requirements.txt",
    "poetry.lock",
    "pyproject.toml",
    "Pipfile",
    "Pipfile.lock",
    "uv.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "composer.lock",
];

/// True when `path` (inside a package) names a dependency file; `extra` are more file names
/// from `quickdeploy.toml`.
pub fn is_dependency_file(path: &str, extra: &[String]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    DEPENDENCY_FILES.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || extra.iter().any(|e| e == name || e == path)
}

/// The kind of a change, most demanding first when several apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// Nothing changed.
    None,
    /// Only code inside packages: patch and update.
    CodeOnly,
    /// Dependency files changed: rebuild and deploy in full.
    Dependencies {
        /// The dependency files that changed.
        files: Vec<String>,
    },
    /// The template changed beyond code locations: deploy in full.
    Resources {
        /// What changed, one line each.
        changes: Vec<String>,
    },
}

impl Change {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "no change".into(),
            Self::CodeOnly => "code-only change".into(),
            Self::Dependencies { files } => {
                format!("dependency files changed ({})", files.join(", "))
            }
            Self::Resources { changes } => format!("resources changed: {}", changes.join("; ")),
        }
    }
}

/// Classifies one package's changed paths, given what changed in the template.
/// `dependencies_quick`: the package is a build's output (its dependencies are installed in
/// it) and quickdeploy.toml says `dependencies = "quick"`, so a dependency file changing is
/// one more file change: the build's output is the whole change.
pub fn classify<'a>(
    changed_paths: impl IntoIterator<Item = &'a str>,
    extra_dependency_files: &[String],
    template_changes: &[String],
    dependencies_quick: bool,
) -> Change {
    if !template_changes.is_empty() {
        return Change::Resources {
            changes: template_changes.to_vec(),
        };
    }
    let mut any = false;
    let mut deps = Vec::new();
    for p in changed_paths {
        any = true;
        if is_dependency_file(p, extra_dependency_files) {
            deps.push(p.to_owned());
        }
    }
    if !deps.is_empty() && !dependencies_quick {
        Change::Dependencies { files: deps }
    } else if any {
        Change::CodeOnly
    } else {
        Change::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_only_dependencies_resources_none() {
        assert_eq!(classify(["src/app.py"], &[], &[], false), Change::CodeOnly);
        assert_eq!(classify([], &[], &[], false), Change::None);
        assert_eq!(
            classify(
                ["app.py", "requirements-dev.txt", "lib/package.json"],
                &[],
                &[],
                false
            ),
            Change::Dependencies {
                files: vec!["requirements-dev.txt".into(), "lib/package.json".into()]
            }
        );
        let r = classify(
            ["app.py"],
            &[],
            &["Q (AWS::SQS::Queue) added".into()],
            false,
        );
        assert!(matches!(r, Change::Resources { .. }));
        assert!(r.describe().contains("SQS"));
    }

    #[test]
    fn a_built_package_may_take_dependency_changes_quickly() {
        let paths = ["app.py", "requirements.txt", "six.py"];
        assert!(matches!(
            classify(paths, &[], &[], false),
            Change::Dependencies { .. }
        ));
        assert_eq!(classify(paths, &[], &[], true), Change::CodeOnly);
        let r = classify(paths, &[], &["X added".into()], true);
        assert!(
            matches!(r, Change::Resources { .. }),
            "never past a template change"
        );
    }

    #[test]
    fn names_match_whole_file_names_and_extras() {
        assert!(!is_dependency_file("src/my-go.sum.py", &[]));
        assert!(is_dependency_file("go.sum", &[]));
        assert!(is_dependency_file("deps.lock", &["deps.lock".into()]));
        assert!(!is_dependency_file("requirements.py", &[]));
    }
}
