//! `quickdeploy deploy`: the quick path from changed files to live functions.

use crate::error::{Error, Outcome};
use crate::ops::deploy::deploy;
use crate::render::{self, terminal::Terminal};

/// `deploy`'s arguments: shared with `watch`, so they live with the other shared ones.
pub use super::DeployArgs as Args;

/// Runs `deploy`.
pub async fn run(args: Args) -> Outcome {
    let json = args.json();
    let project = args.common.project()?;
    let clients = args.common.clients(args.patcher_endpoint()).await?;
    let opts = args.options(&project, &clients)?;
    let ui = Terminal::new(json, true);
    let report = crate::ops::shown(&clients, &ui, deploy(project, &clients, &opts, &ui)).await;
    ui.done();
    let report = report.map_err(|e| Error::classify(e, "DeployFailed"))?;
    if json {
        render::print_json(&report);
    } else {
        render::print_lines(&render::deploy::deploy_lines(&report));
    }
    Ok(report.exit())
}
