//! The deployed stack, read from CloudFormation: its template as deployed, its parameters, and
//! the physical names of its resources. The deployed template is the truth about where each
//! function's artifact is, and what "the template changed" is measured against.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_cloudformation::types::TemplateStage;

use crate::project::template::Template;

/// What CloudFormation says about a deployed stack.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The template it was last deployed from (the Original stage: as submitted).
    pub template: Template,
    /// Parameter values.
    pub parameters: HashMap<String, String>,
    /// Physical id (a function's name) by logical id.
    pub physical: HashMap<String, String>,
    /// The stack's status, e.g. `UPDATE_COMPLETE`.
    pub status: String,
    /// The stack's tags.
    pub tags: HashMap<String, String>,
}

/// Reads the stack; `None` when it does not exist.
pub async fn describe(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<Option<Deployed>> {
    let stacks = cfn.describe_stacks().stack_name(stack).send();
    let template = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(TemplateStage::Original)
        .send();
    let resources = cfn.describe_stack_resources().stack_name(stack).send();
    let (stacks, template, resources) = tokio::join!(stacks, template, resources);
    let stacks = match stacks {
        Ok(s) => s,
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(crate::aws::err(e))
                .with_context(|| format!("cannot read stack {stack} (DescribeStacks)"));
        }
    };
    let Some(found) = stacks.stacks().first() else {
        return Ok(None);
    };
    let status = found
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" || status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    let (parameters, tags) = parameters_and_tags(found);
    let body = template
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read stack {stack}'s template (GetTemplate)"))?
        .template_body()
        .unwrap_or_default()
        .to_owned();
    let template = Template::parse(&body)
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("stack {stack}'s deployed template"))?;
    let physical = resources
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot list stack {stack}'s resources (DescribeStackResources)"))?
        .stack_resources()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_owned(),
                r.physical_resource_id()?.to_owned(),
            ))
        })
        .collect();
    Ok(Some(Deployed {
        template,
        parameters,
        physical,
        status,
        tags,
    }))
}

/// A stack's parameters (as given; ResolvedValue only for SSM parameter types) and tags.
fn parameters_and_tags(
    found: &aws_sdk_cloudformation::types::Stack,
) -> (HashMap<String, String>, HashMap<String, String>) {
    let parameters = found
        .parameters()
        .iter()
        .filter_map(|p| {
            let value = p.parameter_value().or(p.resolved_value());
            Some((
                p.parameter_key()?.to_owned(),
                value.unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let tags = found
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    (parameters, tags)
}

/// The bucket of quickdeploy's own artifacts and records: quickdeploy.toml's
/// `artifact_bucket`, else the one `quickdeploy bootstrap` made; `None` when neither is there.
pub async fn artifact_bucket(
    cfn: &aws_sdk_cloudformation::Client,
    config: &crate::project::config::Config,
) -> Option<String> {
    match &config.artifact_bucket {
        Some(b) => Some(b.clone()),
        None => parameter(cfn, crate::project::config::BOOTSTRAP_STACK, "CodeBucket").await,
    }
}

/// A parameter of a deployed stack, if the stack exists.
pub async fn parameter(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    key: &str,
) -> Option<String> {
    let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
    out.stacks()
        .first()?
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value())
        .map(str::to_owned)
}
