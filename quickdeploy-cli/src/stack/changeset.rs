//! The CloudFormation side of a full deploy: a change set, what it will do, executing it, and
//! waiting for the stack. A change set with no changes is a success, not an error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter};

use crate::stack::change::Planned;

/// A created change set.
#[derive(Debug, Clone)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// What it will do; empty when nothing.
    pub changes: Vec<Planned>,
    /// The stack is new.
    pub create: bool,
}

/// A fresh change set name, `quickdeploy-<ms since the epoch>`: for the change sets
/// quickdeploy makes, and the one it has the CDK prepare.
pub fn new_name() -> String {
    format!(
        "quickdeploy-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    )
}

/// Creates a change set for `template_body` and waits until it is ready. `None` when it
/// holds no changes (it is deleted again).
pub async fn create(
    cfn: &Client,
    stack: &str,
    template_body: &str,
    parameters: &[(String, String)],
    sam: bool,
    stack_exists: bool,
) -> anyhow::Result<Option<Created>> {
    let name = new_name();
    let mut call = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .template_body(template_body)
        .change_set_type(if stack_exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        })
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam);
    if sam {
        call = call.capabilities(Capability::CapabilityAutoExpand);
    }
    for (k, v) in parameters {
        call = call.parameters(
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
        );
    }
    let created = call
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot create a change set for stack {stack}"))?;
    let id = created.id().unwrap_or(&name).to_owned();
    wait_ready(cfn, stack, id, stack_exists).await
}

/// The resources of the stack as CloudFormation runs it (its processed template: SAM
/// expanded) with their `DeletionPolicy` and `UpdateReplacePolicy`, by logical id.
async fn retained(cfn: &Client, stack: &str) -> anyhow::Result<BTreeMap<String, (bool, bool)>> {
    let body = cfn
        .get_template()
        .stack_name(stack)
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Processed)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read stack {stack}'s processed template (GetTemplate)"))?
        .template_body()
        .unwrap_or_default()
        .to_owned();
    let doc = crate::project::template::Template::parse(&body)
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("stack {stack}'s processed template"))?
        .doc;
    Ok(policies(&doc))
}

/// Each resource's (kept on deletion, kept on replacement).
fn policies(doc: &serde_json::Value) -> BTreeMap<String, (bool, bool)> {
    let keeps = |r: &serde_json::Value, policy: &str| {
        matches!(r[policy].as_str(), Some("Retain" | "RetainExceptOnCreate"))
    };
    doc["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, r)| {
            (
                id.clone(),
                (keeps(r, "DeletionPolicy"), keeps(r, "UpdateReplacePolicy")),
            )
        })
        .collect()
}

/// Marks the removals and replacements whose resource the stack keeps.
fn mark_retained(changes: &mut [Planned], kept: &BTreeMap<String, (bool, bool)>) {
    for c in changes.iter_mut() {
        let (on_delete, on_replace) = kept.get(&c.logical_id).copied().unwrap_or_default();
        c.retained = if c.action == "Remove" {
            on_delete
        } else {
            on_replace
        };
    }
}

/// Waits until the change set `id` is ready, with its changes; `None` (and deleted) when it
/// holds none.
async fn wait_ready(
    cfn: &Client,
    stack: &str,
    id: String,
    stack_exists: bool,
) -> anyhow::Result<Option<Created>> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut backoff =
        crate::aws::backoff::Backoff::new(Duration::from_millis(200), Duration::from_secs(3));
    loop {
        let d = cfn
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(stack)
            .send()
            .await
            .map_err(crate::aws::err)
            .context("cannot read the change set")?;
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                let changes: Vec<Planned> = d
                    .changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(|r| Planned {
                        action: r
                            .action()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default(),
                        logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                        resource_type: r.resource_type().unwrap_or_default().to_owned(),
                        replacement: r.replacement().map(|x| x.as_str().to_owned()),
                        retained: false,
                    })
                    .collect();
                if changes.is_empty() && stack_exists {
                    let _ = delete(cfn, stack, &id).await;
                    return Ok(None);
                }
                let mut changes = changes;
                if stack_exists && changes.iter().any(crate::stack::change::is_removal) {
                    let kept = retained(cfn, stack).await?;
                    mark_retained(&mut changes, &kept);
                }
                return Ok(Some(Created {
                    id,
                    changes,
                    create: !stack_exists,
                }));
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = d.status_reason().unwrap_or_default().to_owned();
                let _ = delete(cfn, stack, &id).await;
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(None);
                }
                bail!("the change set failed: {reason}");
            }
            _ => {}
        }
        if Instant::now() > deadline {
            bail!("the change set {id} is still not ready after 10 minutes");
        }
        backoff.wait().await;
    }
}

/// Throws away a change set that will not be executed. For a new stack, the empty stack that
/// CloudFormation made to hold it (REVIEW_IN_PROGRESS, no resources) goes too, so a refused
/// deploy leaves nothing behind.
pub async fn discard(cfn: &Client, stack: &str, created: &Created) -> anyhow::Result<()> {
    delete(cfn, stack, &created.id)
        .await
        .with_context(|| format!("cannot delete the change set {}", created.id))?;
    if created.create {
        cfn.delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| format!("cannot delete the empty new stack {stack}"))?;
    }
    Ok(())
}

async fn delete(cfn: &Client, stack: &str, id: &str) -> anyhow::Result<()> {
    cfn.delete_change_set()
        .change_set_name(id)
        .stack_name(stack)
        .send()
        .await
        .map_err(crate::aws::err)?;
    Ok(())
}

/// How an executed change set ended.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The stack's final status.
    pub status: String,
    /// The events that failed: `logical id (type) STATUS: reason`.
    pub failed: Vec<String>,
    /// The stack rolled back.
    pub rolled_back: bool,
}

/// Executes a change set, streams the stack's events as they come (with the time since the
/// start), and waits for the stack to settle.
pub async fn execute(
    cfn: &Client,
    stack: &str,
    created: &Created,
    on_event: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Executed> {
    let before = cfn
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .ok()
        .map(|e| {
            e.stack_events()
                .iter()
                .filter_map(|e| e.event_id().map(str::to_owned))
                .collect::<std::collections::HashSet<_>>()
        })
        .unwrap_or_default();
    cfn.execute_change_set()
        .change_set_name(&created.id)
        .stack_name(stack)
        .send()
        .await
        .map_err(crate::aws::err)
        .context("cannot execute the change set")?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3600);
    let mut backoff =
        crate::aws::backoff::Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut seen = before;
    let mut failed = Vec::new();
    loop {
        let d = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(crate::aws::err)
            .context("cannot read the stack")?;
        let s = d.stacks().first().context("the stack disappeared")?;
        let status = s
            .stack_status()
            .cloned()
            .context("the stack has no status")?;
        let text = status.as_str().to_owned();
        let settled = !text.ends_with("_IN_PROGRESS");
        for (line, is_failure) in new_events(cfn, stack, &mut seen).await {
            on_event(&format!(
                "{:>6.1} s  {line}",
                started.elapsed().as_secs_f64()
            ));
            if is_failure {
                failed.push(line);
            }
        }
        if settled {
            on_event(&format!(
                "{:>6.1} s  stack {stack} {text}",
                started.elapsed().as_secs_f64()
            ));
            let rolled_back = text.contains("ROLLBACK") || text.ends_with("_FAILED");
            if rolled_back
                && failed.is_empty()
                && let Some(reason) = s.stack_status_reason()
            {
                failed.push(format!("{stack}: {reason}"));
            }
            return Ok(Executed {
                status: text,
                failed,
                rolled_back,
            });
        }
        if Instant::now() > deadline {
            bail!("stack {stack} is still {text} after an hour");
        }
        backoff.wait().await;
    }
}

/// The stack's events not in `seen` yet, oldest first, as `logical id (type) STATUS: reason`,
/// each with whether it is a failure; `seen` takes them in. A failed read gives none (the
/// caller polls again).
pub async fn new_events(
    cfn: &Client,
    stack: &str,
    seen: &mut std::collections::HashSet<String>,
) -> Vec<(String, bool)> {
    let Ok(events) = cfn.describe_stack_events().stack_name(stack).send().await else {
        return Vec::new();
    };
    // Newest first: the new ones are shown oldest first.
    events
        .stack_events()
        .iter()
        .rev()
        .filter(|e| e.event_id().is_some_and(|id| seen.insert(id.to_owned())))
        .map(|e| {
            let st = e.resource_status().map(|x| x.as_str()).unwrap_or("?");
            let line = format!(
                "{} ({}) {st}{}",
                e.logical_resource_id().unwrap_or("?"),
                e.resource_type().unwrap_or("?"),
                e.resource_status_reason()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            (line, st.ends_with("_FAILED"))
        })
        .collect()
}

/// The change set `name` that another tool made (the CDK's `--method=prepare-change-set`),
/// once it is ready: as [`create`] returns one. `None` when it holds no changes, or the tool
/// found none and made none.
pub async fn prepared(
    cfn: &Client,
    stack: &str,
    name: &str,
    stack_existed: bool,
) -> anyhow::Result<Option<Created>> {
    let found = cfn
        .describe_change_set()
        .change_set_name(name)
        .stack_name(stack)
        .send()
        .await;
    match found {
        Ok(d) => {
            let id = d.change_set_id().unwrap_or(name).to_owned();
            wait_ready(cfn, stack, id, stack_existed).await
        }
        Err(e)
            if e.raw_response().map(|r| r.status().as_u16()) == Some(404)
                || format!("{e:?}").contains("ChangeSetNotFound")
                || format!("{e:?}").contains("does not exist") =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::aws::err(e))
            .with_context(|| format!("cannot read the change set {name} of stack {stack}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_stack_keeps_is_marked_by_the_policy_that_applies() {
        let doc = serde_json::json!({"Resources": {
            "FnVersion1a2b3c4d5e": {"Type": "AWS::Lambda::Version", "DeletionPolicy": "Retain"},
            "Deps1a2b3c4d5e": {"Type": "AWS::Lambda::LayerVersion", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
            "Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain"},
            "Queue": {"Type": "AWS::SQS::Queue"},
        }});
        let change = |action: &str, id: &str, replacement: Option<&str>| Planned {
            action: action.into(),
            logical_id: id.into(),
            resource_type: String::new(),
            replacement: replacement.map(str::to_owned),
            retained: false,
        };
        let mut changes = vec![
            change("Remove", "FnVersion1a2b3c4d5e", None),
            change("Modify", "Deps1a2b3c4d5e", Some("True")),
            // Kept on deletion, but a replacement follows UpdateReplacePolicy: deleted.
            change("Modify", "Table", Some("True")),
            change("Remove", "Queue", None),
            change("Remove", "NotInTheTemplate", None),
        ];
        mark_retained(&mut changes, &policies(&doc));
        let kept: Vec<bool> = changes.iter().map(|c| c.retained).collect();
        assert_eq!(kept, [true, true, false, false, false]);
    }
}
