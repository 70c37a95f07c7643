//! After the change set: each function read back and compared with its package and template
//! settings ([`crate::lambda::verify`]), and the hot-patch record reconciled.

use std::time::Instant;

use anyhow::Context;

use crate::artifact::hotpatch;
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::report::{FullOutcome, FullReport};
use crate::stack::deployed as stack;

/// Reads every function of the stack back and compares it with its package's CodeSha256 and
/// its template's settings ([`crate::lambda::verify`]): a stack that reports success while a
/// function kept its old code or settings fails the deploy, naming each difference.
pub async fn verify(
    clients: &Clients,
    template: &crate::project::template::Template,
    report: &mut FullReport,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let Some(deployed) = stack::describe(&clients.cfn, &report.stack).await? else {
        return Ok(());
    };
    let reads = template.functions().into_iter().filter_map(|f| {
        let name = deployed.physical.get(&f.logical_id)?.clone();
        let packaged = report
            .artifacts
            .iter()
            .find(|a| a.functions.contains(&f.logical_id))
            .map(|a| a.code_sha256.clone());
        let expected = template.function_settings(&f.logical_id);
        let layers = crate::plan::groups::layers_of(&f, template, &deployed);
        Some(async move {
            let observed = observe(&clients.lambda, &name).await?;
            anyhow::Ok(crate::report::FunctionCheck {
                differences: crate::lambda::verify::differences(
                    packaged.as_deref(),
                    &expected,
                    layers.as_deref(),
                    &observed,
                ),
                logical_id: f.logical_id,
                name,
                code_sha256: observed.code_sha256,
            })
        })
    });
    let checks = futures::future::try_join_all(reads).await?;
    let wrong: Vec<String> = checks
        .iter()
        .filter(|c| !c.differences.is_empty())
        .map(|c| format!("{}: {}", c.logical_id, c.differences.join(", ")))
        .collect();
    if !wrong.is_empty() {
        report.ok = false;
        report.outcome = FullOutcome::Failed;
        report.error = Some(format!(
            "stack {} says {}, but {} function(s) are not as the template says: {}",
            report.stack,
            report.status.as_deref().unwrap_or("it is up to date"),
            wrong.len(),
            wrong.join("; ")
        ));
    }
    report.verified = checks;
    report.timings_ms.insert("verify", ms(t));
    Ok(())
}

/// What a function reports about itself.
pub async fn observe(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> anyhow::Result<crate::lambda::verify::Observed> {
    let c = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read function {name} back (GetFunctionConfiguration)"))?;
    Ok(crate::lambda::verify::Observed {
        code_sha256: c.code_sha256().map(str::to_owned),
        failed: c.last_update_status() == Some(&aws_sdk_lambda::types::LastUpdateStatus::Failed),
        settings: crate::project::template::Settings {
            memory_size: c.memory_size(),
            timeout: c.timeout(),
            handler: c.handler().map(str::to_owned),
            runtime: c.runtime().map(|r| r.as_str().to_owned()),
        },
        layers: c
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_owned))
            .collect(),
    })
}

/// After a successful full deploy every function runs what its template names: the hot-patch
/// record is cleared; the functions it listed are returned.
pub async fn reconcile(
    clients: &Clients,
    bucket: &str,
    stack: &str,
    hot: hotpatch::Record,
) -> anyhow::Result<Vec<String>> {
    if hot.is_empty() {
        return Ok(Vec::new());
    }
    hotpatch::clear(&clients.s3, bucket, stack).await?;
    Ok(hot.into_keys().collect())
}
