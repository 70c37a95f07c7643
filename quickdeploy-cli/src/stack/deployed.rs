//! The deployed stack, read from CloudFormation: its template as deployed, its parameters, and
//! the physical names of its resources, a CDK app's nested stacks merged in as the CDK reader
//! merges them (`project::cdk::nested`). The deployed template is the truth about where each
//! function's artifact is, and what "the template changed" is measured against.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_cloudformation::types::TemplateStage;

use zipedit::event::{StackGuard, stack_updated};

use crate::project::cdk::nested;
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
    let (stacks, rest) = tokio::join!(stacks, template_and_resources(cfn, stack));
    let Some(found) = found(stacks, stack)? else {
        return Ok(None);
    };
    let (body, physical) = rest?;
    Ok(Some(deployed(&found, &body, physical, stack)?))
}

/// [`describe`], with the template and physical ids taken from the copy under `state_dir`
/// ([`cache`](super::cache)) when DescribeStacks confirms it, and the copy written when it
/// was read. Without a usable copy, the three reads go together as in [`describe`]; with a
/// copy that is no longer the stack's, GetTemplate and DescribeStackResources follow.
pub async fn describe_cached(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    state_dir: &std::path::Path,
) -> anyhow::Result<Option<Deployed>> {
    let path = super::cache::path(state_dir, stack);
    let Some(cached) = super::cache::load(&path) else {
        let stacks = cfn.describe_stacks().stack_name(stack).send();
        let (stacks, rest) = tokio::join!(stacks, template_and_resources(cfn, stack));
        let Some(found) = found(stacks, stack)? else {
            return Ok(None);
        };
        let (body, physical) = rest?;
        return keep(&path, &found, body, physical, stack);
    };
    let stacks = cfn.describe_stacks().stack_name(stack).send().await;
    let Some(found) = found(stacks, stack)? else {
        return Ok(None);
    };
    let (id, updated) = identity(&found);
    if cached.confirms(&id, &updated)
        && let Ok(d) = deployed(
            &found,
            &cached.template_body,
            cached.physical.clone(),
            stack,
        )
    {
        return Ok(Some(d));
    }
    let (body, physical) = template_and_resources(cfn, stack).await?;
    keep(&path, &found, body, physical, stack)
}

/// The stack as read, its copy written beside (a copy that cannot be written costs the next
/// deploy the reads, nothing else).
fn keep(
    path: &std::path::Path,
    found: &Stack,
    body: String,
    physical: HashMap<String, String>,
    stack: &str,
) -> anyhow::Result<Option<Deployed>> {
    let d = deployed(found, &body, physical.clone(), stack)?;
    let (stack_id, updated) = identity(found);
    let cached = super::cache::Cached {
        format: super::cache::FORMAT,
        stack_id,
        updated,
        template_body: body,
        physical,
        status: d.status.clone(),
        parameters: d.parameters.clone(),
        tags: d.tags.clone(),
    };
    if cached.confirms(&cached.stack_id, &cached.updated) {
        let _ = super::cache::save(path, &cached);
    }
    Ok(Some(d))
}

/// The stack as its copy under `state_dir` says it was, read nothing, with the guard a patch
/// planned from it carries: `None` without a usable copy. Only a patcher's DescribeStacks
/// beside its write (the guard) makes it true.
pub fn assumed(state_dir: &std::path::Path, stack: &str) -> Option<(Deployed, StackGuard)> {
    let cached = super::cache::load(&super::cache::path(state_dir, stack))?;
    if !cached.confirms(&cached.stack_id, &cached.updated) {
        return None;
    }
    let template = Template::parse(&cached.template_body).ok()?;
    let guard = StackGuard {
        name: stack.to_owned(),
        stack_id: cached.stack_id,
        updated: cached.updated,
    };
    let deployed = Deployed {
        template,
        parameters: cached.parameters,
        physical: cached.physical,
        status: cached.status,
        tags: cached.tags,
    };
    Some((deployed, guard))
}

/// The stack's id, and its LastUpdatedTime (CreationTime when never updated) with its
/// status, as text (`zipedit::event::stack_updated`, which the patcher's guard check writes
/// too): a copy made while an update ran is not taken for the finished one.
fn identity(found: &Stack) -> (String, String) {
    let time = found.last_updated_time().or(found.creation_time());
    let status = found.stack_status().map(|s| s.as_str()).unwrap_or_default();
    (
        found.stack_id().unwrap_or_default().to_owned(),
        time.map(|t| stack_updated(t.secs(), t.subsec_nanos(), status))
            .unwrap_or_default(),
    )
}

type Stack = aws_sdk_cloudformation::types::Stack;

/// The stack DescribeStacks found; `None` when there is none (or only a deleted one, or one
/// under review: nothing deployed).
fn found(
    stacks: Result<
        aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput,
        aws_sdk_cloudformation::error::SdkError<
            aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError,
        >,
    >,
    stack: &str,
) -> anyhow::Result<Option<Stack>> {
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
    let status = found.stack_status().map(|s| s.as_str()).unwrap_or_default();
    if status == "DELETE_COMPLETE" || status == "REVIEW_IN_PROGRESS" {
        return Ok(None);
    }
    Ok(Some(found.clone()))
}

/// The template as deployed (its body) and the physical ids, read together. A CDK app's
/// nested stacks are read too and merged in ([`with_nested`]): the body is then the merged
/// template, so a copy of it ([`describe_cached`]) holds them as well (a nested stack is
/// updated through its parent, whose LastUpdatedTime then moves).
async fn template_and_resources(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> anyhow::Result<(String, HashMap<String, String>)> {
    let template = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(TemplateStage::Original)
        .send();
    let resources = cfn.describe_stack_resources().stack_name(stack).send();
    let (template, resources) = tokio::join!(template, resources);
    let body = template
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read stack {stack}'s template (GetTemplate)"))?
        .template_body()
        .unwrap_or_default()
        .to_owned();
    let mut physical = physical_ids(resources, stack)?;
    let Ok(mut parsed) = Template::parse(&body) else {
        // Not readable: `deployed` says so, naming the stack.
        return Ok((body, physical));
    };
    if nested::nested_stacks(&parsed).is_empty() {
        return Ok((body, physical));
    }
    with_nested(cfn, &mut parsed, &mut physical, NESTING).await?;
    let merged = serde_json::to_string(&parsed.doc)
        .with_context(|| format!("stack {stack}'s template with its nested stacks"))?;
    Ok((merged, physical))
}

/// How deep nested stacks are read (as the CDK reader reads them).
const NESTING: usize = 8;

/// Physical id by logical id, from a DescribeStackResources answer.
fn physical_ids(
    resources: Result<
        aws_sdk_cloudformation::operation::describe_stack_resources::DescribeStackResourcesOutput,
        aws_sdk_cloudformation::error::SdkError<
            aws_sdk_cloudformation::operation::describe_stack_resources::DescribeStackResourcesError,
        >,
    >,
    stack: &str,
) -> anyhow::Result<HashMap<String, String>> {
    Ok(resources
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
        .collect())
}

/// Merges the CDK's nested stacks of `template` into it ([`nested`]), as the CDK reader
/// merges the synthesized ones, with their resources' physical ids under the same qualified
/// logical ids. A nested stack's physical id is its stack ARN (GetTemplate and
/// DescribeStackResources take it as the stack name); one not created yet is left out.
fn with_nested<'a>(
    cfn: &'a aws_sdk_cloudformation::Client,
    template: &'a mut Template,
    physical: &'a mut HashMap<String, String>,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        for n in nested::nested_stacks(template) {
            let Some(id) = physical.get(&n.logical_id).cloned() else {
                continue;
            };
            if depth == 0 {
                anyhow::bail!("nested stack {id}: nested deeper than {NESTING} levels");
            }
            let body = cfn
                .get_template()
                .stack_name(&id)
                .template_stage(TemplateStage::Original)
                .send();
            let resources = cfn.describe_stack_resources().stack_name(&id).send();
            let (body, resources) = tokio::join!(body, resources);
            let body = body
                .map_err(crate::aws::err)
                .with_context(|| format!("cannot read nested stack {id}'s template (GetTemplate)"))?
                .template_body()
                .unwrap_or_default()
                .to_owned();
            let mut child = Template::parse(&body)
                .map_err(|e| anyhow!(e))
                .with_context(|| format!("nested stack {id}'s deployed template"))?;
            let mut ids = physical_ids(resources, &id)?;
            with_nested(cfn, &mut child, &mut ids, depth - 1).await?;
            nested::merge(template, &n, &child);
            physical.extend(
                ids.into_iter()
                    .map(|(logical, p)| (nested::qualify(&n.name, &logical), p)),
            );
        }
        Ok(())
    })
}

/// The stack from what DescribeStacks said of it and its template and physical ids.
fn deployed(
    found: &Stack,
    body: &str,
    physical: HashMap<String, String>,
    stack: &str,
) -> anyhow::Result<Deployed> {
    let status = found
        .stack_status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let (parameters, tags) = parameters_and_tags(found);
    let template = Template::parse(body)
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("stack {stack}'s deployed template"))?;
    Ok(Deployed {
        template,
        parameters,
        physical,
        status,
        tags,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_of_this_format_is_the_stack_assumed_with_its_guard() {
        let dir = tempfile::tempdir().expect("tmp");
        let cached = super::super::cache::Cached {
            format: super::super::cache::FORMAT,
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/app/abc".into(),
            updated: stack_updated(1_700_000_000, 0, "UPDATE_COMPLETE"),
            template_body: "Resources: {}".into(),
            physical: HashMap::from([("Fn".into(), "app-Fn-1".into())]),
            status: "UPDATE_COMPLETE".into(),
            parameters: HashMap::from([("Stage".into(), "dev".into())]),
            tags: HashMap::from([("quickdeploy:protected".into(), "true".into())]),
        };
        let path = super::super::cache::path(dir.path(), "app");
        assert!(assumed(dir.path(), "app").is_none(), "no copy");
        super::super::cache::save(&path, &cached).expect("save");
        let (d, guard) = assumed(dir.path(), "app").expect("assumed");
        assert_eq!(guard.name, "app");
        assert_eq!(guard.stack_id, cached.stack_id);
        assert_eq!(guard.updated, "1700000000.000000000 UPDATE_COMPLETE");
        assert_eq!(d.physical, cached.physical);
        assert_eq!(d.parameters, cached.parameters);
        assert_eq!(d.tags, cached.tags, "protection is read from the copy too");
        assert_eq!(d.status, "UPDATE_COMPLETE");
        // A copy whose template does not parse is no copy.
        let broken = super::super::cache::Cached {
            template_body: "{not: [yaml".into(),
            ..cached
        };
        super::super::cache::save(&path, &broken).expect("save");
        assert!(assumed(dir.path(), "app").is_none());
    }
}
