//! `[targets.NAME]` in quickdeploy.toml: the same app deployed to several regions and
//! accounts (dev, staging, prod) from one diff. Pure: what a target says, whether it is
//! well formed, which targets a command line picks, and the config one target deploys with.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One `[targets.NAME]` table as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The region its stack lives in (`eu-west-1`).
    pub region: String,
    /// The named AWS profile whose credentials reach it (else the standard chain's).
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume for it (`arn:aws:iam::123456789012:role/deployer`), with the
    /// profile's credentials (or the standard chain's) as the source.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Its stack (default: the file's `stack`).
    #[serde(default)]
    pub stack: Option<String>,
    /// Its artifact bucket (default: the one `quickdeploy bootstrap` made in its account and
    /// region; the file's `artifact_bucket` is not inherited, being one region's bucket).
    #[serde(default)]
    pub bucket: Option<String>,
    /// Its patcher's function name (default: the file's `patcher`, else quickdeploy-zipedit).
    #[serde(default)]
    pub patcher: Option<String>,
    /// Ask before deploying to it, even with `--yes` (never with `--ci`): for production.
    #[serde(default)]
    pub confirm: bool,
}

/// Why a `[targets.NAME]` table cannot be used: one line, naming the table and the fix.
pub fn check(name: &str, t: &TargetConfig) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "[targets.{name}]: a target's name is letters, digits, `-` and `_` (it is typed as --target NAME)"
        ));
    }
    check_region(&t.region).map_err(|e| format!("[targets.{name}] `region`: {e}"))?;
    if let Some(p) = &t.profile
        && p.trim().is_empty()
    {
        return Err(format!(
            "[targets.{name}] `profile` is empty: name a profile of ~/.aws/config, or leave it out"
        ));
    }
    if let Some(arn) = &t.role_arn {
        check_role_arn(arn).map_err(|e| format!("[targets.{name}] `role_arn`: {e}"))?;
    }
    if let Some(stack) = &t.stack {
        super::names::check_stack(stack).map_err(|e| format!("[targets.{name}] `stack`: {e}"))?;
    }
    if let Some(bucket) = &t.bucket {
        super::names::check_bucket(bucket).map_err(|e| {
            format!(
                "[targets.{name}] `bucket`: {e}; name the target's bucket, or leave it out to use the one `quickdeploy bootstrap --target {name}` made"
            )
        })?;
    }
    if let Some(p) = &t.patcher
        && p.trim().is_empty()
    {
        return Err(format!(
            "[targets.{name}] `patcher` is empty: name the patcher function, or leave it out"
        ));
    }
    Ok(())
}

/// A region as AWS spells them: lowercase parts joined by hyphens, ending in a number
/// (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts.last().is_some_and(|p| p.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not a region name like \"us-east-1\" or \"eu-west-1\""
        ))
    }
}

/// An IAM role's ARN: `arn:PARTITION:iam::ACCOUNT:role/NAME`, the account 12 digits.
fn check_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a role ARN like \"arn:aws:iam::123456789012:role/deployer\""
        ))
    }
}

/// The account a role ARN names, if it is one.
pub fn role_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Which targets a command runs on: `--target NAME` (repeatable, in the order given) or
/// `--all-targets` (every target, by name). `None` when neither was given: the command runs
/// as without targets. An unknown name is refused with the names there are.
pub fn select<'a>(
    targets: &'a BTreeMap<String, TargetConfig>,
    names: &[String],
    all: bool,
) -> Result<Option<Vec<(&'a str, &'a TargetConfig)>>, String> {
    if all {
        if targets.is_empty() {
            return Err(
                "--all-targets: quickdeploy.toml has no [targets.NAME] tables; add one per region or account"
                    .into(),
            );
        }
        return Ok(Some(targets.iter().map(|(n, t)| (n.as_str(), t)).collect()));
    }
    if names.is_empty() {
        return Ok(None);
    }
    let mut picked = Vec::new();
    for name in names {
        let Some((n, t)) = targets.get_key_value(name) else {
            let known = if targets.is_empty() {
                "quickdeploy.toml has no [targets.NAME] tables".to_owned()
            } else {
                format!(
                    "targets in quickdeploy.toml: {}",
                    targets.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(format!("--target {name}: no such target ({known})"));
        };
        if !picked.iter().any(|(p, _)| *p == n.as_str()) {
            picked.push((n.as_str(), t));
        }
    }
    Ok(Some(picked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_as_aws_spells_them() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in ["Europe", "us-east", "us_east_1", "", "eu-west-x"] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
