//! The stack guard's check ([`crate::event::StackGuard`]): one DescribeStacks, made beside the
//! artifact's first read, so a patch planned from the caller's copy of the stack is written
//! only while the stack is still what that copy says.

use std::time::Duration;

use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;

use crate::event::{StackGuard, stack_updated};
use crate::s3::ArtifactError;

/// The longest the guard's DescribeStacks may take, all its attempts together.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Ok when DescribeStacks says of the guard's stack what the guard says: the same id, and the
/// same LastUpdatedTime (CreationTime when never updated) and status.
pub async fn confirm(
    cfn: &aws_sdk_cloudformation::Client,
    guard: &StackGuard,
) -> Result<(), ArtifactError> {
    let unread = |message: String| ArtifactError::StackUnread {
        stack: guard.name.clone(),
        message,
    };
    let asked = cfn.describe_stacks().stack_name(&guard.name).send();
    let out = match tokio::time::timeout(TIMEOUT, asked).await {
        Err(_) => {
            return Err(unread(format!(
                "DescribeStacks gave no answer in {TIMEOUT:?}"
            )));
        }
        Ok(Err(e)) if e.message().is_some_and(|m| m.contains("does not exist")) => {
            return Err(moved(guard, "it does not exist any more".into()));
        }
        Ok(Err(e)) => {
            let code = e.code().unwrap_or("no error code").to_owned();
            let message = e
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{e:?}"));
            return Err(unread(format!("DescribeStacks: {code}: {message}")));
        }
        Ok(Ok(out)) => out,
    };
    let Some(stack) = out.stacks().first() else {
        return Err(moved(guard, "DescribeStacks found none".into()));
    };
    let id = stack.stack_id().unwrap_or_default();
    let updated = identity_time(stack);
    if id != guard.stack_id {
        return Err(moved(guard, format!("its id is now {id}")));
    }
    if updated != guard.updated {
        return Err(moved(
            guard,
            format!("updated {updated}, planned against {}", guard.updated),
        ));
    }
    Ok(())
}

/// The stack's [`stack_updated`] text.
pub fn identity_time(stack: &aws_sdk_cloudformation::types::Stack) -> String {
    let time = stack.last_updated_time().or(stack.creation_time());
    let status = stack.stack_status().map(|s| s.as_str()).unwrap_or_default();
    time.map(|t| stack_updated(t.secs(), t.subsec_nanos(), status))
        .unwrap_or_default()
}

fn moved(guard: &StackGuard, detail: String) -> ArtifactError {
    ArtifactError::StackMoved {
        stack: guard.name.clone(),
        detail,
    }
}
