//! Each target's clients (`[targets.NAME]` in quickdeploy.toml): its region, its profile or
//! the standard chain, and the role it assumes (STS AssumeRole, through aws-config's own
//! provider: no other crate). Resolved up front, every target before any is deployed: a
//! missing profile or a role that cannot be assumed fails the command (exit 2) naming the
//! target and the fix, with nothing deployed anywhere.

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials as _;

use super::{AwsArgs, AwsConfigError, Clients};

/// How long assuming a role (or resolving a profile's credentials) may take.
const RESOLVE_WAIT: Duration = Duration::from_secs(30);

/// What a target says about reaching AWS (the `aws` folder reads no project: the command
/// copies these from quickdeploy.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The target's name in quickdeploy.toml.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its profile; else `--profile`, else the standard chain's.
    pub profile: Option<String>,
    /// The role to assume for it, if any.
    pub role_arn: Option<String>,
}

/// One target, resolved: its clients and what they reach.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its clients.
    pub clients: Clients,
}

/// Resolves every target at once (in parallel); the first that cannot be resolved fails the
/// lot, so nothing is deployed to the others either.
pub async fn resolve_all(
    args: &AwsArgs,
    specs: &[TargetSpec],
    patcher_endpoint: Option<&str>,
) -> anyhow::Result<Vec<Target>> {
    let all =
        futures::future::join_all(specs.iter().map(|s| resolve(args, s, patcher_endpoint))).await;
    all.into_iter().collect()
}

/// One target's clients: its region and profile in place of the command line's, then the
/// role assumed if it names one, then its credentials resolved once (not at the first call,
/// which would be in the middle of a deploy).
pub async fn resolve(
    args: &AwsArgs,
    spec: &TargetSpec,
    patcher_endpoint: Option<&str>,
) -> anyhow::Result<Target> {
    let target = |message: String| AwsConfigError::Target {
        target: spec.name.clone(),
        message,
    };
    let args = AwsArgs {
        profile: spec.profile.clone().or_else(|| args.profile.clone()),
        region: Some(spec.region.clone()),
        ..args.clone()
    };
    super::check_profile(&args).await.map_err(|e| {
        target(format!(
            "{e}; or fix `profile` in its [targets.{}] table",
            spec.name
        ))
    })?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(spec.region.clone()));
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    let mut config = loader
        .timeout_config(args.deadlines().timeouts())
        .retry_config(super::retry_config())
        .load()
        .await;
    if let Some(role) = &spec.role_arn {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name(session_name(&spec.name))
            .region(aws_config::Region::new(spec.region.clone()))
            .configure(&config)
            .build()
            .await;
        config = config
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
    }
    if spec.role_arn.is_some() || spec.profile.is_some() {
        // Asked now, so that a role that cannot be assumed stops the command before anything
        // is deployed to any target.
        let provider = config
            .credentials_provider()
            .ok_or_else(|| target("no credentials provider configured".into()))?;
        let fix = match &spec.role_arn {
            Some(role) => format!(
                "assuming {role} failed: check that the role exists, trusts the caller, and that the source credentials (profile {}) are valid; or fix `role_arn` in [targets.{}]",
                args.profile.as_deref().unwrap_or("from the standard chain"),
                spec.name
            ),
            None => format!(
                "profile {} gave no credentials: run `aws sso login --profile {0}` or fix the profile",
                args.profile.as_deref().unwrap_or_default()
            ),
        };
        match tokio::time::timeout(RESOLVE_WAIT, provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let why = e.to_string();
                let mut text = why.lines().next().unwrap_or_default().to_owned();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text = format!("{text}: {s}");
                    source = s.source();
                }
                return Err(
                    target(format!("{fix} ({text}; endpoint {})", super::endpoint())).into(),
                );
            }
            Err(_) => {
                return Err(target(format!(
                    "{fix} (no answer within {} s; endpoint {})",
                    RESOLVE_WAIT.as_secs(),
                    super::endpoint()
                ))
                .into());
            }
        }
    } else {
        super::check_credentials(&config)
            .await
            .map_err(|e| target(e.to_string()))?;
    }
    let clients = super::from_config(&args, config, patcher_endpoint)?;
    Ok(Target {
        name: spec.name.clone(),
        region: spec.region.clone(),
        clients,
    })
}

/// The role session's name, as CloudTrail shows it: `quickdeploy-NAME`, within STS's 64
/// characters of `[\w+=,.@-]`.
fn session_name(target: &str) -> String {
    let name: String = format!("quickdeploy-{target}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(session_name("prod"), "quickdeploy-prod");
        let long = session_name(&"x".repeat(100));
        assert_eq!(long.len(), 64);
    }

    #[tokio::test]
    async fn a_missing_profile_names_the_target_and_the_fix() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile dev]\nregion = us-east-1\n").expect("write");
        // SAFETY: this test alone reads these variables in this process's lib tests.
        unsafe {
            std::env::set_var("AWS_CONFIG_FILE", &config);
            std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"));
        }
        let spec = TargetSpec {
            name: "prod".into(),
            region: "eu-west-1".into(),
            profile: Some("prod-admin".into()),
            role_arn: None,
        };
        let err = resolve(&AwsArgs::default(), &spec, None)
            .await
            .expect_err("no such profile");
        let text = err.to_string();
        assert!(text.contains("target prod"), "{text}");
        assert!(text.contains("\"prod-admin\""), "{text}");
        assert!(text.contains("profiles there: dev"), "{text}");
        assert!(text.contains("[targets.prod]"), "{text}");
        assert!(err.downcast_ref::<AwsConfigError>().is_some(), "exit 2");
    }
}
