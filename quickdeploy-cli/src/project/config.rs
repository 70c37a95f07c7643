//! `quickdeploy.toml`: what the template cannot say about a project.
//!
//! The stack, the template, where artifacts live, the patcher's name, and per function: its
//! package folder (or build output), a build command, extra paths that belong to its package,
//! and ignore patterns. Paths are relative to the folder holding `quickdeploy.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file name looked for in the current folder and its parents.
pub const FILE_NAME: &str = "quickdeploy.toml";

/// The patcher's function name when neither the file nor the command line names one.
pub const DEFAULT_PATCHER: &str = "quickdeploy-zipedit";

/// The stack `quickdeploy bootstrap` makes: the patcher and the artifact bucket.
pub const BOOTSTRAP_STACK: &str = "quickdeploy-zipedit";

/// The stack tag that protects a stack from quick deploys.
pub const PROTECTED_TAG: &str = "quickdeploy:protected";

/// The user's configuration or files are wrong (a missing or unreadable template, a missing
/// bucket): exit 2, whatever command meets it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadConfig(pub String);

/// Why `quickdeploy.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file in this folder or above.
    #[error(
        "no {FILE_NAME} in {0} or any folder above it: run `quickdeploy init` in the project's root, or pass --config"
    )]
    NotFound(PathBuf),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, or has a field quickdeploy does not know.
    #[error("{path} is not a valid quickdeploy.toml: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's words, with the line.
        message: String,
    },
}

/// `quickdeploy.toml` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The CloudFormation stack the app is deployed as.
    pub stack: String,
    /// The CloudFormation or SAM template (YAML or JSON). Left out in a CDK app (a folder
    /// with a `cdk.json`): its templates are the synthesized ones ([`super::cdk`]).
    #[serde(default)]
    pub template: PathBuf,
    /// A CDK app's synth command, run in the project root; default: `npx cdk synth --quiet`
    /// (which runs `cdk.json`'s `app`).
    #[serde(default)]
    pub synth: Option<String>,
    /// A CDK app's cloud assembly folder, relative to the project root; default: `cdk.json`'s
    /// `output`, else `cdk.out`.
    #[serde(default)]
    pub cdk_out: Option<PathBuf>,
    /// Bucket where `full` uploads artifacts (the quick path reads the deployed template).
    #[serde(default)]
    pub artifact_bucket: Option<String>,
    /// Key prefix for uploaded artifacts, default `quickdeploy/`.
    #[serde(default)]
    pub artifact_prefix: Option<String>,
    /// The zipedit function's name, default `quickdeploy-zipedit`.
    #[serde(default)]
    pub patcher: Option<String>,
    /// File names that count as dependency files besides the built-in list.
    #[serde(default)]
    pub dependency_files: Vec<String>,
    /// Ignore patterns (gitignore syntax) for every package.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Stack name patterns (`prod-*`) that refuse quick deploys unless `--force`; a stack
    /// tagged `quickdeploy:protected=true` is protected too.
    #[serde(default)]
    pub protected: Vec<String>,
    /// What a change to a dependency file of a package quickdeploy builds does: `full` (the
    /// default) deploys in full; `quick` quick-deploys the files the build changed.
    #[serde(default)]
    pub dependencies: Dependencies,
    /// Per function, by logical id in the template.
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionConfig>,
    /// Other regions and accounts the same app is deployed to, by name (`--target NAME`,
    /// `--all-targets`); see [`super::targets`].
    #[serde(default)]
    pub targets: BTreeMap<String, super::targets::TargetConfig>,
}

/// `dependencies = "full" | "quick"` in quickdeploy.toml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dependencies {
    /// A dependency change is deployed in full (CloudFormation), as without a build.
    #[default]
    Full,
    /// A dependency change of a built package is quick-deployed: the build installed the
    /// dependencies, so the files it changed are the whole change.
    Quick,
}

/// What the template cannot say about one function.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// The folder whose files make up the package (a build output folder for compiled
    /// runtimes); default: the template's `Code`/`CodeUri` path.
    #[serde(default)]
    pub package: Option<PathBuf>,
    /// A command that builds the package folder, run in the project root before `full`,
    /// `deploy` and `status` read the packages. Takes over from the template's BuildMethod.
    #[serde(default)]
    pub build: Option<String>,
    /// The function's code folder is a Rust crate: quickdeploy compiles this binary of it
    /// for the function's architecture and packages it as `bootstrap` (as the template's
    /// `BuildMethod: rust-cargolambda`, whose `Binary` this overrides). Not with `build` or
    /// `package`.
    #[serde(default)]
    pub binary: Option<String>,
    /// Extra folders or files outside the package folder that belong to it, relative to
    /// quickdeploy.toml (not to the package folder or the template); each is put in the
    /// archive under its own name (`lib/shared` becomes `shared/`).
    #[serde(default)]
    pub include: Vec<PathBuf>,
    /// Ignore patterns (gitignore syntax) for this function's package.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Aliases to move to a newly published version after each quick deploy, besides those
    /// the template declares (`AWS::Lambda::Alias`, SAM's `AutoPublishAlias`, its own or
    /// from `Globals`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl Config {
    /// Parses the text of a `quickdeploy.toml`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        if config.stack.trim().is_empty() {
            return Err(invalid(
                "`stack` is empty: name the CloudFormation stack".into(),
            ));
        }
        super::names::check_stack(&config.stack).map_err(|e| invalid(format!("`stack`: {e}")))?;
        if let Some(bucket) = &config.artifact_bucket {
            super::names::check_bucket(bucket).map_err(|e| {
                invalid(format!(
                    "`artifact_bucket`: {e}; name an existing bucket, or leave it out to use the one `quickdeploy bootstrap` made"
                ))
            })?;
        }
        if let Some((id, _)) = config
            .functions
            .iter()
            .find(|(_, f)| f.binary.is_some() && (f.build.is_some() || f.package.is_some()))
        {
            return Err(invalid(format!(
                "[functions.{id}] has `binary` (quickdeploy builds the Rust crate) and `build` or `package` (you build it): keep one"
            )));
        }
        for (name, t) in &config.targets {
            super::targets::check(name, t).map_err(invalid)?;
        }
        Ok(config)
    }

    /// Why the stack is protected from quick deploys, if it is.
    pub fn protection(&self, tags: &std::collections::HashMap<String, String>) -> Option<String> {
        if tags
            .get(PROTECTED_TAG)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Some(format!(
                "stack {} is tagged {PROTECTED_TAG}=true",
                self.stack
            ));
        }
        self.protected.iter().find_map(|pattern| {
            let glob = globset::Glob::new(pattern).ok()?.compile_matcher();
            glob.is_match(&self.stack).then(|| {
                format!(
                    "stack {} matches the protected pattern {pattern:?} in quickdeploy.toml",
                    self.stack
                )
            })
        })
    }

    /// The config as one target sees it: its stack, bucket and patcher in place of the
    /// file's. Everything else (template, functions, ignores) is the same app.
    pub fn for_target(&self, t: &super::targets::TargetConfig) -> Config {
        let mut c = self.clone();
        if let Some(stack) = &t.stack {
            c.stack.clone_from(stack);
        }
        c.artifact_bucket.clone_from(&t.bucket);
        if t.patcher.is_some() {
            c.patcher.clone_from(&t.patcher);
        }
        c.targets.clear();
        c
    }

    /// The patcher to invoke: the command line's, else the file's, else the default.
    pub fn patcher_name(&self) -> &str {
        self.patcher.as_deref().unwrap_or(DEFAULT_PATCHER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let text = r#"
            stack = "app"
            template = "template.yaml"
            artifact_bucket = "bucket"
            patcher = "my-patcher"
            dependency_files = ["deps.lock"]
            ignore = ["*.md"]
            [functions.Api]
            package = "build/api"
            build = "make api"
            include = ["../shared"]
            ignore = ["tests/"]
            aliases = ["live"]
        "#;
        let c = Config::parse(text, Path::new("q.toml")).expect("valid");
        assert_eq!(c.stack, "app");
        assert_eq!(c.patcher_name(), "my-patcher");
        let api = &c.functions["Api"];
        assert_eq!(api.package.as_deref(), Some(Path::new("build/api")));
        assert_eq!(api.include, [PathBuf::from("../shared")]);
        assert_eq!(api.aliases, ["live"]);
        assert_eq!(c.dependencies, Dependencies::Full);
        let quick = Config::parse(
            "stack = \"a\"\ntemplate = \"t\"\ndependencies = \"quick\"",
            Path::new("q"),
        )
        .expect("quick");
        assert_eq!(quick.dependencies, Dependencies::Quick);
        assert!(
            Config::parse(
                "stack = \"a\"\ntemplate = \"t\"\ndependencies = \"fast\"",
                Path::new("q")
            )
            .is_err()
        );
    }

    #[test]
    fn rejects_unknown_fields_with_the_line() {
        let err = Config::parse(
            "stack = \"a\"\ntemplate = \"t.yaml\"\nstak = 1\n",
            Path::new("q.toml"),
        )
        .expect_err("typo");
        let text = err.to_string();
        assert!(text.contains("stak"), "{text}");
        assert!(text.contains("line 3"), "{text}");
    }

    #[test]
    fn protection_by_pattern_or_tag() {
        let mut c = Config::parse(
            "stack = \"prod-api\"\ntemplate = \"t\"\nprotected = [\"prod-*\"]",
            Path::new("q"),
        )
        .expect("valid");
        let none = std::collections::HashMap::new();
        assert!(c.protection(&none).expect("protected").contains("prod-*"));
        c.stack = "dev-api".into();
        assert_eq!(c.protection(&none), None);
        let tagged =
            std::collections::HashMap::from([(PROTECTED_TAG.to_owned(), "true".to_owned())]);
        assert!(c.protection(&tagged).expect("tagged").contains("tagged"));
    }

    #[test]
    fn binary_names_a_rust_crate_quickdeploy_builds_alone() {
        let ok = Config::parse(
            "stack = \"a\"\ntemplate = \"t\"\n[functions.Fn]\nbinary = \"api\"\n",
            Path::new("q"),
        )
        .expect("binary");
        assert_eq!(ok.functions["Fn"].binary.as_deref(), Some("api"));
        let both = Config::parse(
            "stack = \"a\"\ntemplate = \"t\"\n[functions.Fn]\nbinary = \"api\"\nbuild = \"make\"\n",
            Path::new("q"),
        )
        .expect_err("binary and build");
        assert!(both.to_string().contains("keep one"), "{both}");
    }

    #[test]
    fn requires_stack_and_template() {
        assert!(Config::parse("template = \"t\"", Path::new("q")).is_err());
        assert!(Config::parse("stack = \"\"\ntemplate = \"t\"", Path::new("q")).is_err());
        assert_eq!(
            Config::parse("stack = \"s\"\ntemplate = \"t\"", Path::new("q"))
                .expect("minimal")
                .patcher_name(),
            DEFAULT_PATCHER
        );
    }

    // [targets.NAME] (see project/targets.rs)
    use crate::project::targets::{TargetConfig, role_account, select};

    const THREE: &str = r#"
        stack = "app"
        template = "t.yaml"
        artifact_bucket = "app-artifacts"
        patcher = "zipedit"
        [targets.dev]
        region = "us-east-1"
        profile = "dev"
        [targets.eu]
        region = "eu-west-1"
        profile = "dev"
        stack = "app-eu"
        bucket = "app-eu-artifacts"
        [targets.prod]
        region = "eu-west-1"
        role_arn = "arn:aws:iam::222222222222:role/deployer"
        patcher = "zipedit-prod"
        confirm = true
    "#;

    #[test]
    fn parses_targets_and_derives_each_ones_config() {
        let c = Config::parse(THREE, Path::new("q.toml")).expect("valid");
        assert_eq!(c.targets.len(), 3);
        let prod = &c.targets["prod"];
        assert!(prod.confirm);
        assert_eq!(
            role_account(prod.role_arn.as_deref().unwrap_or_default()),
            Some("222222222222")
        );
        let eu = c.for_target(&c.targets["eu"]);
        assert_eq!(eu.stack, "app-eu");
        assert_eq!(eu.artifact_bucket.as_deref(), Some("app-eu-artifacts"));
        assert_eq!(eu.patcher_name(), "zipedit");
        assert!(eu.targets.is_empty());
        let p = c.for_target(prod);
        assert_eq!(p.stack, "app", "the file's stack by default");
        assert_eq!(
            p.artifact_bucket, None,
            "one region's bucket is not inherited"
        );
        assert_eq!(p.patcher_name(), "zipedit-prod");
        assert_eq!(p.template, c.template);
    }

    #[test]
    fn refuses_bad_targets_naming_the_table_and_the_fix() {
        let bad = |table: &str| {
            let text = format!("stack = \"a\"\ntemplate = \"t\"\n[targets.x]\n{table}\n");
            Config::parse(&text, Path::new("q"))
                .expect_err(table)
                .to_string()
        };
        assert!(bad("").contains("region"), "region is required");
        assert!(bad("region = \"Europe\"").contains("[targets.x] `region`"));
        assert!(
            bad("region = \"us-east-1\"\nrole_arn = \"arn:aws:iam::12:role/x\"")
                .contains("role ARN like")
        );
        assert!(
            bad("region = \"us-east-1\"\nrole_arn = \"arn:aws:iam::123456789012:user/x\"")
                .contains("role_arn")
        );
        assert!(bad("region = \"us-east-1\"\nstack = \"9lives\"").contains("[targets.x] `stack`"));
        assert!(bad("region = \"us-east-1\"\nbucket = \"Up\"").contains("bootstrap --target x"));
        assert!(bad("region = \"us-east-1\"\nprofile = \"\"").contains("`profile` is empty"));
        assert!(bad("region = \"us-east-1\"\nregoin = \"x\"").contains("regoin"));
        let name = Config::parse(
            "stack = \"a\"\ntemplate = \"t\"\n[targets.\"a b\"]\nregion = \"us-east-1\"\n",
            Path::new("q"),
        )
        .expect_err("space in a name");
        assert!(name.to_string().contains("--target NAME"), "{name}");
    }

    #[test]
    fn select_picks_named_or_all_and_refuses_unknown_names() {
        let c = Config::parse(THREE, Path::new("q.toml")).expect("valid");
        assert_eq!(select(&c.targets, &[], false), Ok(None));
        let names = |s: Option<Vec<(&str, &TargetConfig)>>| {
            s.unwrap_or_default()
                .into_iter()
                .map(|(n, _)| n.to_owned())
                .collect::<Vec<_>>()
        };
        let all = select(&c.targets, &[], true).expect("all");
        assert_eq!(names(all), ["dev", "eu", "prod"]);
        let two = select(
            &c.targets,
            &["prod".into(), "dev".into(), "prod".into()],
            false,
        )
        .expect("two");
        assert_eq!(names(two), ["prod", "dev"], "in the order given, once each");
        let unknown = select(&c.targets, &["staging".into()], false).expect_err("unknown");
        assert!(unknown.contains("dev, eu, prod"), "{unknown}");
        let none = BTreeMap::new();
        assert!(
            select(&none, &[], true)
                .expect_err("no tables")
                .contains("[targets.NAME]")
        );
        assert!(
            select(&none, &["x".into()], false)
                .expect_err("no tables")
                .contains("no [targets.NAME]")
        );
    }
}
