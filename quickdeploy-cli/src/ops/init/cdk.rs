//! `init` in a CDK app: the app synthesized (with the recording `deploy` and `full` use), and
//! a `quickdeploy.toml` written that says what is true: the stacks, each stack's functions
//! with their construct paths and sources, and which are not quick-deployable and why.

use std::path::Path;

use anyhow::anyhow;

use super::found::{CdkFound, CdkFunction, CdkStack, Found, Options, Report, key, string};
use crate::error::Error;
use crate::ops::Ui;
use crate::project::Project;
use crate::project::cdk::{self, assembly, record::Record};
use crate::project::config::{Config, FILE_NAME};
use crate::project::template::{CodeLocation, Template};

/// Synthesizes the app in `opts.dir` and writes its `quickdeploy.toml`.
pub fn init(opts: &Options, ui: &dyn Ui) -> Result<Report, Error> {
    let bad = |e: anyhow::Error| Error::bad_input("BadInput", e);
    let project = Project {
        config: Config::default(),
        root: opts.dir.clone(),
    };
    let record = crate::ops::cdk::synth(&project, ui).map_err(|e| {
        Error::bad_input(
            "BadInput",
            e.context("`quickdeploy init` synthesizes the CDK app first"),
        )
    })?;
    let out = cdk::assembly_dir(&opts.dir, &project.config);
    let stacks = assembly::stacks(&out).map_err(|e| bad(anyhow!(e)))?;
    let mut found = CdkFound::default();
    let mut templates = Vec::new();
    for s in &stacks {
        let mut t = cdk::template_of(s).map_err(|e| bad(anyhow!(e)))?;
        cdk::give_packages(&mut t, &record, &s.dir, &opts.dir);
        found.stacks.push(CdkStack {
            name: s.stack_name.clone(),
            display_name: s.display_name.clone(),
            environment: s.environment.clone(),
            functions: functions_of(&t, &record, &opts.dir),
        });
        templates.push(t);
    }
    let chosen = match &opts.stack {
        Some(name) => found
            .stacks
            .iter()
            .position(|s| &s.name == name || &s.display_name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = found.stacks.iter().map(|s| s.name.as_str()).collect();
                bad(anyhow!(
                    "--stack {name}: the CDK app has no such stack (it has: {})",
                    names.join(", ")
                ))
            })?,
        None => found
            .stacks
            .iter()
            .position(|s| !s.functions.is_empty())
            .unwrap_or(0),
    };
    let stack = found
        .stacks
        .get(chosen)
        .ok_or_else(|| bad(anyhow!("the CDK app synthesized no stack")))?;
    let target = opts.dir.join(FILE_NAME);
    let body = render(&found, chosen, opts.bucket.as_deref());
    std::fs::write(&target, body)
        .map_err(|e| bad(anyhow!("cannot write {}: {e}", target.display())))?;
    let t = &templates[chosen];
    Ok(Report {
        path: target,
        stack: stack.name.clone(),
        template: stacks[chosen]
            .template
            .strip_prefix(&opts.dir)
            .unwrap_or(&stacks[chosen].template)
            .to_owned(),
        functions: t.functions().len(),
        found: Found::of(t),
        cdk: Some(found.clone()),
    })
}

/// Each function of a stack's template (packages given), with its construct path and source.
fn functions_of(t: &Template, record: &Record, root: &Path) -> Vec<CdkFunction> {
    t.functions()
        .into_iter()
        .map(|f| {
            let meta = &t.doc["Resources"][&f.logical_id]["Metadata"];
            let path = meta["aws:cdk:path"].as_str().unwrap_or_default();
            let asset = meta["aws:asset:path"].as_str().unwrap_or_default();
            let source = if let Some(b) = record.bundles.get(asset) {
                let entry = b
                    .args
                    .iter()
                    .find(|a| !a.starts_with("--"))
                    .map(|e| {
                        Path::new(e)
                            .strip_prefix(root)
                            .map_or_else(|_| e.clone(), |p| p.display().to_string())
                    })
                    .unwrap_or_default();
                format!(
                    "bundled by the CDK's esbuild from {entry} ({} input file(s)); rebuilt by quickdeploy without a synth",
                    b.inputs.len()
                )
            } else if let Some(d) = record.folders.get(asset) {
                format!("a copy of the folder {}", d.folder.display())
            } else {
                match &f.code {
                    CodeLocation::Inline => "inline code".into(),
                    CodeLocation::Image => "a container image".into(),
                    _ => "not a local asset".into(),
                }
            };
            CdkFunction {
                logical_id: f.logical_id.clone(),
                construct_path: path.trim_end_matches("/Resource").to_owned(),
                source,
                not_quick: f.not_quick.clone().or(match f.code {
                    CodeLocation::Inline | CodeLocation::Image => {
                        Some("`quickdeploy full` deploys it".into())
                    }
                    _ => None,
                }),
            }
        })
        .collect()
}

/// The file's text for a CDK app: the stack chosen, the others, every function's source.
pub fn render(found: &CdkFound, chosen: usize, bucket: Option<&str>) -> String {
    let mut s = String::new();
    s.push_str(
        "# quickdeploy.toml for a CDK app: the stacks and functions are read from its cloud\n",
    );
    s.push_str("# assembly (cdk.out), synthesized when the app's own code changes. Paths are relative to\n# this file.\n\n");
    let stack = &found.stacks[chosen];
    s.push_str("# The stack quick deploys go to (its CloudFormation name).\n");
    s.push_str(&format!("stack = {}\n", string(&stack.name)));
    let others: Vec<&CdkStack> = found
        .stacks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != chosen)
        .map(|(_, s)| s)
        .collect();
    s.push_str(
        "# How the app is synthesized (default: the CDK CLI's, which runs cdk.json's `app`).\n",
    );
    s.push_str(&format!(
        "# synth = {}\n",
        string(crate::ops::cdk::DEFAULT_SYNTH)
    ));
    s.push_str(
        "# Where quickdeploy keeps its copies of the CDK's assets, its history and records\n",
    );
    s.push_str("# (default: the bucket `quickdeploy bootstrap` made).\n");
    match bucket {
        Some(b) => s.push_str(&format!("artifact_bucket = {}\n", string(b))),
        None => s.push_str("# artifact_bucket = \"my-artifacts\"\n"),
    }
    if !others.is_empty() {
        s.push_str("\n# The app's other stacks. To deploy them too, give each a target (`--target NAME`,\n");
        s.push_str("# or `--all-targets` for every one):\n");
        for o in others.iter().copied().chain(std::iter::once(stack)) {
            let region = o
                .environment
                .rsplit('/')
                .next()
                .filter(|r| !r.starts_with("unknown"))
                .unwrap_or("us-east-1");
            s.push_str(&format!(
                "# [targets.{}]\n# stack = {}\n# region = {}\n",
                key(&o.name),
                string(&o.name),
                string(region)
            ));
        }
    }
    for (i, st) in found.stacks.iter().enumerate() {
        s.push_str(&format!(
            "\n# Stack {} ({}){}:\n",
            st.name,
            st.environment,
            if i == chosen { ", the one above" } else { "" }
        ));
        if st.functions.is_empty() {
            s.push_str("#   no functions\n");
        }
        for f in &st.functions {
            s.push_str(&format!(
                "#   {} ({}): {}\n",
                f.construct_path, f.logical_id, f.source
            ));
            if let Some(why) = &f.not_quick {
                s.push_str(&format!("#     not quick-deployed: {why}\n"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_names_the_stack_the_others_and_every_function() {
        let found = CdkFound {
            stacks: vec![
                CdkStack {
                    name: "Api".into(),
                    display_name: "Api".into(),
                    environment: "aws://1/eu-west-1".into(),
                    functions: vec![CdkFunction {
                        logical_id: "GetOne1".into(),
                        construct_path: "Api/getOne".into(),
                        source: "bundled".into(),
                        not_quick: None,
                    }],
                },
                CdkStack {
                    name: "Jobs".into(),
                    environment: "aws://unknown-account/unknown-region".into(),
                    ..CdkStack::default()
                },
            ],
        };
        let text = render(&found, 0, None);
        let c = Config::parse(&text, Path::new("q")).expect("valid");
        assert_eq!(c.stack, "Api");
        assert!(
            c.template.as_os_str().is_empty(),
            "a CDK app names no template"
        );
        assert!(text.contains("#   Api/getOne (GetOne1): bundled"), "{text}");
        assert!(
            text.contains("# [targets.Jobs]\n# stack = \"Jobs\"\n# region = \"us-east-1\""),
            "{text}"
        );
        assert!(text.contains("# region = \"eu-west-1\""), "{text}");
    }
}
