//! Running a change set once it is made (by quickdeploy or by the CDK): consent, asking on
//! a terminal, executing with its events shown, and how it ended.

use std::time::Instant;

use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::ops::{Event, Ui};
use crate::report::{FullOutcome, FullReport};
use crate::stack::change::Planned;
use crate::stack::changeset;
use crate::stack::consent::{self, Consent, Decision};

/// Whether the change set may be executed: by the rules of [`consent::decide`], asking on a
/// terminal. A change set that will not be executed is deleted, and the report says why.
pub async fn consented(
    clients: &Clients,
    consent: Consent,
    created: &changeset::Created,
    report: &mut FullReport,
    ui: &dyn Ui,
) -> anyhow::Result<bool> {
    let go_ahead = match consent::decide(consent, &report.stack, created.create, &created.changes) {
        Decision::Execute => true,
        Decision::Ask => {
            let t = Instant::now();
            let yes = ask(&created.changes, ui)?;
            // The time spent answering is the user's, not the deploy's: reported apart.
            report.timings_ms.insert("answer", ms(t));
            if !yes {
                report.outcome = FullOutcome::Cancelled;
            }
            yes
        }
        Decision::Refuse(why) => {
            report.ok = false;
            report.outcome = FullOutcome::Refused;
            report.error = Some(why);
            false
        }
    };
    if !go_ahead {
        changeset::discard(&clients.cfn, &report.stack, created).await?;
    }
    Ok(go_ahead)
}

/// Executes the change set, streaming the stack's events, and records how it ended.
pub async fn execute(
    clients: &Clients,
    created: &changeset::Created,
    report: &mut FullReport,
    ui: &dyn Ui,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let on_event = |line: &str| ui.event(Event::Line(line));
    let done = changeset::execute(&clients.cfn, &report.stack, created, &on_event).await?;
    report.timings_ms.insert("execute", ms(t));
    report.status = Some(done.status.clone());
    if done.failed.is_empty() && !done.rolled_back {
        report.outcome = FullOutcome::Deployed;
    } else {
        report.ok = false;
        report.outcome = FullOutcome::Failed;
        report.error = Some(format!(
            "stack {} ended {}; failed: {}",
            report.stack,
            done.status,
            if done.failed.is_empty() {
                "no resource event says why".to_owned()
            } else {
                done.failed.join("; ")
            }
        ));
    }
    Ok(())
}

/// Asks the user; what would be removed or replaced is listed apart first.
fn ask(changes: &[Planned], ui: &dyn Ui) -> anyhow::Result<bool> {
    let removed = crate::stack::change::removals(changes);
    let mut details = Vec::new();
    if !removed.is_empty() {
        details
            .push("this change set REMOVES or REPLACES (data and physical ids are lost):".into());
    }
    details.extend(removed.into_iter().map(|c| {
        let what = if c.action == "Remove" {
            "Remove"
        } else {
            "Replace"
        };
        format!("  {what:<8} {:<28} {}", c.logical_id, c.resource_type)
    }));
    ui.confirm("execute this change set? [y/N] ", &details)
}
