//! The CDK's own deploy, for `full`: `cdk deploy --app <assembly> <stack>` with the project's
//! CDK CLI, its output shown live, up to a prepared change set: the CDK publishes the assets
//! and makes the change set, and `full` executes it under its own consent rules.

use crate::build::method::{Build, Command, Method};
use crate::ops::{Event, Ui};
use crate::project::Project;

/// How the CDK's deploy may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// The user consented (`--yes`, `--ci`): `--require-approval never`.
    Given,
    /// On a terminal, without `--yes`: the CDK asks about broadened security, as it does.
    Terminal,
}

/// Runs `cdk deploy` of the stack `pattern` (its hierarchical id) from the assembly in
/// `out`, which publishes its assets and prepares the change set `change_set` without
/// executing it: the caller shows it, asks and executes it.
pub fn cdk_deploy(
    project: &Project,
    out: &std::path::Path,
    pattern: &str,
    change_set: &str,
    approval: Approval,
    ui: &dyn Ui,
) -> anyhow::Result<()> {
    let require = match approval {
        Approval::Given => "never",
        Approval::Terminal => "broadening",
    };
    let script = format!(
        "npx --no-install cdk deploy --app {} {} --method=prepare-change-set --change-set-name {} --require-approval {require} --progress events",
        super::shell_quote(&out.display().to_string()),
        super::shell_quote(pattern),
        super::shell_quote(change_set),
    );
    let cmd = Command {
        program: "sh".into(),
        args: vec!["-c".into(), script.clone()],
        cwd: project.root.clone(),
        env: Vec::new(),
    };
    let b = Build {
        ids: vec![format!("the CDK's deploy of {}", project.config.stack)],
        method: Method::Command(script.clone()),
        source: project.root.clone(),
        out: out.to_owned(),
        target: out.to_owned(),
        architecture: String::new(),
        ignore: Vec::new(),
        runtimes: Vec::new(),
    };
    ui.event(Event::Step("deploying with the CDK"));
    ui.event(Event::Line(&script));
    crate::build::tool::run_command(&cmd, &b, &super::Shown(ui)).map_err(|e| match e {
        crate::build::tool::BuildError::Failed(mut f) => {
            f.fix = Some(format!(
                "see the CDK's output above; if the environment is not bootstrapped for the CDK, run `npx cdk bootstrap` (then `quickdeploy full` again) (stack {})",
                project.config.stack
            ));
            anyhow::Error::new(crate::build::tool::BuildError::Failed(f))
        }
        other => anyhow::Error::new(other),
    })
}
