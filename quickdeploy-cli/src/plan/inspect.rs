//! Reading the whole situation before deciding anything: the project, the deployed stack,
//! each artifact and its manifest, and each package's diff. Shared by `status` (which stops
//! here) and `deploy` (which acts on it).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::artifact::diff::{Diff, LocalFile, diff_hashed};
use crate::artifact::manifest::{self, Manifest};
use crate::artifact::remote::{self, Head};
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::package::scan::{rescan, scan_in};
use crate::plan::classify::{Change, classify};
use crate::plan::groups::{Group, Plan, plan};
use crate::plan::kept::Memory;
use crate::plan::local::Local;
use crate::project::Project;
use crate::stack::deployed::{self as stack, Deployed};

/// Everything known about a project before it is deployed.
#[derive(Debug)]
pub struct Inspected {
    /// The project.
    pub project: Project,
    /// The stack as deployed; `None` when it does not exist yet.
    pub deployed: Option<Deployed>,
    /// Functions grouped by artifact.
    pub plan: Plan,
    /// How the template differs from the deployed one, beyond code locations.
    pub template_changes: Vec<String>,
    /// Each artifact's state and diff.
    pub groups: Vec<GroupState>,
    /// Milliseconds spent in all of it.
    pub ms: f64,
    /// Set when this was planned from the local copies alone ([`inspect_assumed`]): the stack
    /// as last seen, and the artifacts as their local manifests say. Its patches carry this
    /// guard, and nothing is rolled out unless every patch and artifact confirmed it.
    pub assumed: Option<zipedit::event::StackGuard>,
}

/// One artifact: what S3 has, what it holds, and how the package differs.
#[derive(Debug)]
pub struct GroupState {
    /// The artifact and its functions.
    pub group: Group,
    /// HEAD of the artifact.
    pub head: Head,
    /// The manifest of what is deployed.
    pub base: Manifest,
    /// Where that manifest came from.
    pub source: remote::Source,
    /// The package's difference from it.
    pub diff: Diff,
    /// What kind of change that is.
    pub change: Change,
    /// `head` and `base` are of the group's seed (a CDK asset): its own copy does not exist
    /// yet, and the patch makes it first.
    pub seeded: bool,
}

impl Inspected {
    /// Why the quick path cannot deploy this, if it cannot: one line each.
    pub fn needs_full(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.deployed.is_none() {
            why.push(format!(
                "stack {} does not exist yet",
                self.project.config.stack
            ));
            return why;
        }
        why.extend(
            self.template_changes
                .iter()
                .map(|c| format!("template: {c}")),
        );
        for id in &self.plan.new_functions {
            why.push(format!("function {id} is new"));
        }
        for g in &self.groups {
            if !g.diff.is_empty() {
                for f in &g.group.not_quick {
                    why.push(format!("function {}: {}", f.logical_id, f.reason));
                }
                for l in g.group.layers.iter().filter(|l| l.version_arn.is_none()) {
                    why.push(format!(
                        "layer {} changed, and its stack names no version of it (no PhysicalResourceId) to publish a new one beside",
                        l.logical_id
                    ));
                }
            }
            if let Change::Dependencies { files } = &g.change {
                why.push(format!(
                    "{}: dependency files changed ({})",
                    g.group.artifact,
                    files.join(", ")
                ));
            }
        }
        why
    }
}

/// Reads everything; nothing is written except the local caches (the manifests' folder, the
/// stack's copy in `.quickdeploy/stacks/`).
pub async fn inspect(project: Project, clients: &Clients) -> anyhow::Result<Inspected> {
    inspect_with(project, clients, &Local::new()).await
}

/// [`inspect`], with the packages' scans and hashes shared with other targets' inspections
/// through `local` (one local side, N remote sides).
pub async fn inspect_with(
    project: Project,
    clients: &Clients,
    local: &Local,
) -> anyhow::Result<Inspected> {
    inspect_kept(project, clients, local, None).await
}

/// [`inspect_with`], taking what `memory` keeps (`watch`: the stack, artifacts' HEADs and
/// manifests) instead of reading it, and keeping what it reads.
pub async fn inspect_kept(
    project: Project,
    clients: &Clients,
    local: &Local,
    memory: Option<&Memory>,
) -> anyhow::Result<Inspected> {
    let started = Instant::now();
    let crate::project::Model {
        template,
        dir: template_dir,
        kind,
    } = project.model()?;
    crate::plan::groups::check_config_functions(&template, &project.config)?;
    let state_dir = project.state_dir();
    let cdk = kind == crate::project::Kind::Cdk;
    let own_bucket = async {
        match cdk {
            true => stack::artifact_bucket(&clients.cfn, &project.config).await,
            false => None,
        }
    };
    let stack_name = project.config.stack.clone();
    let kept_stack = memory.and_then(|m| m.with(|k| k.stack(&stack_name).cloned()));
    let (deployed, prefetched, own_bucket) = match kept_stack {
        // A kept stack: its artifacts are kept too, or read in the group's own round.
        Some(kept) => (Some(kept), HashMap::new(), own_bucket.await),
        None => {
            let (deployed, prefetched, own_bucket) = tokio::join!(
                stack::describe_cached(&clients.cfn, &stack_name, &state_dir),
                prefetch_heads(&clients.s3, &state_dir),
                own_bucket
            );
            let deployed = deployed?;
            if let (Some(m), Some(d)) = (memory, &deployed) {
                m.with(|k| k.learn_stack(&stack_name, d));
            }
            (deployed, prefetched, own_bucket)
        }
    };
    let Some(deployed_stack) = &deployed else {
        return Ok(Inspected {
            project,
            deployed,
            plan: Plan::default(),
            template_changes: Vec::new(),
            groups: Vec::new(),
            ms: ms(started),
            assumed: None,
        });
    };
    let mut plan = plan(
        &template,
        deployed_stack,
        &project.config,
        &project.root,
        &template_dir,
    )?;
    if cdk {
        cdk_own_artifacts(&mut plan, &template, &project, own_bucket)?;
    }
    let template_changes = template.resource_changes(&deployed_stack.template);
    let extra = project.config.dependency_files.clone();
    let builds =
        crate::build::decide::plan(&template, &project.config, &project.root, &template_dir);
    let quick = project.config.dependencies == crate::project::config::Dependencies::Quick;
    let mut prefetched = prefetched;
    let reads = plan.groups.iter().map(|g| {
        let built = builds.builds_folder(&g.package.folder);
        let rules = Rules {
            extra: &extra,
            template_changes: &template_changes,
            dependencies_quick: quick && built,
            // A build (or a CDK synth) writes its output without file events of its own.
            rescan: !built && !cdk,
            state_dir: &state_dir,
        };
        let path = manifest::local_path(&state_dir, &g.artifact);
        let kept = memory.and_then(|m| m.with(|k| k.artifact(&g.artifact)));
        let known = match (kept, prefetched.remove(&path)) {
            (Some((head, m)), _) => Known::Kept(m, head),
            (None, Some((m, head))) => Known::Prefetched(m, head),
            (None, None) => Known::Local(manifest::load_local(&path)),
        };
        read_group(g, clients, &project.root, known, rules, local, memory)
    });
    let groups = futures::future::join_all(reads)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Inspected {
        project,
        deployed,
        plan,
        template_changes,
        groups,
        ms: ms(started),
        assumed: None,
    })
}

/// [`inspect_with`] from what this machine already has, asking nothing: the stack's copy
/// (`stack::cache`, when it holds one of this format) and the local manifests, as if they
/// were still true. `None` without a copy of the stack, and for a CDK app (its artifacts'
/// bucket is read from the bootstrap stack). An artifact with no local manifest is read as
/// usual. The caller confirms the rest ([`Inspected::assumed`]).
pub async fn inspect_assumed(
    project: Project,
    clients: &Clients,
    local: &Local,
) -> anyhow::Result<Option<Inspected>> {
    if crate::project::Kind::of(&project.root, &project.config) == crate::project::Kind::Cdk {
        return Ok(None);
    }
    let state_dir = project.state_dir();
    let Some((deployed, guard)) = stack::assumed(&state_dir, &project.config.stack) else {
        return Ok(None);
    };
    let manifests: Vec<Manifest> = local_manifest_files(&state_dir)
        .filter_map(|e| manifest::load_local(&e.path()))
        .collect();
    let memory = Memory::new();
    memory.with(|k| {
        k.learn_stack(&project.config.stack, &deployed);
        // A manifest names the object it describes: what a HEAD would say, if still true.
        k.patched(&manifests);
    });
    let mut seen = inspect_kept(project, clients, local, Some(&memory)).await?;
    seen.assumed = Some(guard);
    Ok(Some(seen))
}

/// A CDK app's groups deploy to quickdeploy's own copies of the CDK's assets (the CDK's
/// objects are content-addressed and stay what their keys say), in `own_bucket`.
fn cdk_own_artifacts(
    plan: &mut Plan,
    template: &crate::project::template::Template,
    project: &Project,
    own_bucket: Option<String>,
) -> anyhow::Result<()> {
    let bucket = own_bucket.ok_or_else(|| {
        crate::project::config::BadConfig(
            "no artifact bucket for quickdeploy's copies of the CDK's assets: run `quickdeploy bootstrap`, or set `artifact_bucket` in quickdeploy.toml".into(),
        )
    })?;
    let prefix = project
        .config
        .artifact_prefix
        .as_deref()
        .unwrap_or("quickdeploy/");
    crate::plan::groups::own_artifacts(plan, template, &project.config.stack, &bucket, prefix);
    Ok(())
}

/// The files of this machine's local manifests (`.quickdeploy/manifests/*.json`); none when
/// the folder cannot be read.
fn local_manifest_files(state_dir: &std::path::Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(state_dir.join("manifests"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
}

/// The most artifacts whose HEAD is asked ahead (the newest local manifests).
const PREFETCH_MAX: usize = 32;

/// The artifacts this machine deployed last (its local manifests) and their HEADs, asked
/// while the stack is read rather than after: on a slow link that is one round trip less
/// before the patch. Keyed by the local manifest's path. Only what answered is kept: a
/// manifest of an artifact the stack no longer uses costs one HEAD, nothing else.
async fn prefetch_heads(
    s3: &aws_sdk_s3::Client,
    state_dir: &std::path::Path,
) -> HashMap<PathBuf, (Manifest, Head)> {
    let mut paths: Vec<(std::time::SystemTime, PathBuf)> = local_manifest_files(state_dir)
        .map(|e| {
            let modified = e.metadata().and_then(|m| m.modified());
            (modified.unwrap_or(std::time::UNIX_EPOCH), e.path())
        })
        .collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.0));
    let heads = paths
        .into_iter()
        .take(PREFETCH_MAX)
        .filter_map(|(_, path)| {
            let m = manifest::load_local(&path)?;
            Some(async move {
                let head = remote::head(s3, &manifest::artifact_of(&m)).await.ok()?;
                Some((path, (m, head)))
            })
        });
    futures::future::join_all(heads)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// What is known of an artifact before it is read: its local manifest, and maybe its HEAD.
enum Known {
    /// What watch kept of it ([`Memory`]): nothing to ask.
    Kept(Manifest, Head),
    /// The local manifest and the HEAD asked ahead ([`prefetch_heads`]).
    Prefetched(Manifest, Head),
    /// The local manifest, if there is a usable one; the HEAD is still to ask.
    Local(Option<Manifest>),
}

/// What classifies a package's change besides its paths ([`classify`]'s other arguments).
struct Rules<'a> {
    extra: &'a [String],
    template_changes: &'a [String],
    dependencies_quick: bool,
    /// The package may be rescanned at the paths the file events named (`watch`).
    rescan: bool,
    /// The local state folder, where a CDK asset's manifest is kept ([`seed_manifest`]).
    state_dir: &'a std::path::Path,
}

/// The manifest of a CDK asset: the CDK writes none beside it, so it is made from the asset
/// (read whole) once and kept in the local cache. The asset's key is its content's hash, so
/// what is cached stays true; the ETag check stands all the same.
async fn seed_manifest(
    clients: &Clients,
    seed: &crate::project::template::S3Object,
    head: &Head,
    state_dir: &std::path::Path,
) -> anyhow::Result<(Manifest, remote::Source)> {
    let path = manifest::local_path(state_dir, seed);
    let cached = manifest::load_local(&path);
    let (base, source) = remote::deployed_manifest(&clients.s3, seed, head, cached).await?;
    if source != remote::Source::Local {
        // A cache: a failed write costs the next deploy this read again, nothing else.
        let _ = manifest::save_local(&path, &base);
    }
    Ok((base, source))
}

/// One artifact: its package scanned (off the async threads) while S3 is read, then diffed
/// and classified.
async fn read_group(
    g: &Group,
    clients: &Clients,
    root: &std::path::Path,
    known: Known,
    rules: Rules<'_>,
    local: &Local,
    memory: Option<&Memory>,
) -> anyhow::Result<GroupState> {
    let (package, root) = (g.package.clone(), root.to_owned());
    let previous = memory
        .filter(|_| rules.rescan)
        .and_then(|m| m.with(|k| k.scan_of(&g.package)));
    let scanned = local.scan(&g.package, move || {
        let files = match previous.and_then(|(p, saved)| rescan(&package, &root, &p, &saved)) {
            Some(files) => files?,
            None => scan_in(&package, &root)?,
        };
        crate::package::limits::check_package(&files)?;
        anyhow::Ok(files)
    });
    let remote = async {
        let (head, local) = match known {
            Known::Kept(m, head) => return anyhow::Ok((head, m, remote::Source::Local, false)),
            Known::Prefetched(m, head) => (head, Some(m)),
            Known::Local(m) => match &g.seed {
                None => (remote::head(&clients.s3, &g.artifact).await?, m),
                // quickdeploy's copy of a CDK asset is made at the first patch: until then
                // the asset is what is deployed. Both are asked at once.
                Some(seed) => {
                    let (own, asset) = tokio::join!(
                        remote::head(&clients.s3, &g.artifact),
                        remote::head(&clients.s3, seed)
                    );
                    if let Ok(head) = own {
                        (head, m)
                    } else {
                        let head = asset?;
                        let (base, source) =
                            seed_manifest(clients, seed, &head, rules.state_dir).await?;
                        return anyhow::Ok((head, base, source, true));
                    }
                }
            },
        };
        let (base, source) =
            remote::deployed_manifest(&clients.s3, &g.artifact, &head, local).await?;
        anyhow::Ok((head, base, source, false))
    };
    let (scanned, remote) = tokio::join!(scanned, remote);
    let files = scanned.with_context(|| format!("package of {}", g.artifact))?;
    if let Some(m) = memory {
        m.with(|k| k.learn_scan(&g.package, files.clone()));
    }
    let (head, base, source, seeded) = remote?;
    if let Some(m) = memory.filter(|_| !seeded) {
        m.with(|k| k.learn_artifact(&g.artifact, &head, &base));
    }
    let base_files = base.files.clone();
    let memo = local.clone();
    let d = tokio::task::spawn_blocking(move || {
        diff_hashed(&base_files, &files, |f: &LocalFile| {
            memo.read(f, |f| std::fs::read(&f.source))
        })
    })
    .await
    .context("the diff stopped")?
    .with_context(|| format!("reading the package of {}", g.artifact))?;
    let change = classify(
        d.paths(),
        rules.extra,
        rules.template_changes,
        rules.dependencies_quick,
    );
    Ok(GroupState {
        group: g.clone(),
        head,
        base,
        source,
        diff: d,
        change,
        seeded,
    })
}
