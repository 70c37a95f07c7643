//! The full path: build, package deterministically, upload what changed, and deploy the stack
//! through a CloudFormation change set, with consent; then reconcile the hot-patch record.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;

use crate::artifact::manifest::{self, FORMAT, Manifest};
use crate::artifact::{hotpatch, remote, upload};
use crate::aws::Clients;
use crate::aws::clock::ms;
use crate::ops::{Event, Ui};
use crate::package::scan::scan_in;
use crate::package::zip::{Package, package};
use crate::project::Project;
use crate::project::template::S3Object;
use crate::report::{FullOutcome, FullReport, Uploaded};
use crate::stack::change::Planned;
use crate::stack::changeset;
use crate::stack::consent::{self, Consent, Decision};
use crate::stack::deployed as stack;

/// How to run a full deploy.
#[derive(Debug, Clone, Default)]
pub struct FullOptions {
    /// Template parameters, KEY and VALUE.
    pub params: Vec<(String, String)>,
    /// What the user consented to.
    pub consent: Consent,
    /// Make and show the change set, then delete it.
    pub dry_run: bool,
    /// The builds ran already (a `deploy` falling back): do not run them again.
    pub built: bool,
}

/// The full deploy: `full`, and `deploy` when it falls back, call it.
/// Phases: build, package and upload, change set, consent, execute, reconcile.
pub async fn full(
    project: &Project,
    clients: &Clients,
    opts: &FullOptions,
    ui: &dyn Ui,
) -> anyhow::Result<FullReport> {
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let stack_name = project.config.stack.clone();
    let bucket = artifact_bucket(project, clients).await?;
    let crate::project::Model {
        template,
        dir: template_dir,
        ..
    } = project.model()?;
    crate::plan::groups::check_config_functions(&template, &project.config)?;

    let t = Instant::now();
    let builds = match opts.built {
        true => Vec::new(),
        false => crate::ops::build(project, ui)?,
    };
    timings.insert("build", ms(t));

    let t = Instant::now();
    let packages = packages_of(project, &template, &template_dir);
    let (locations, uploaded) = upload_packages(project, clients, &packages, &bucket, ui).await?;
    timings.insert("package", ms(t));
    // Before the change set and its events, in the order things happen.
    ui.event(Event::Packaged(&uploaded));

    let t = Instant::now();
    let body = serde_json::to_string_pretty(&template.with_code_locations(&locations))?;
    let created = make_change_set(project, clients, &body, opts, template.is_sam()).await?;
    timings.insert("changeset", ms(t));
    let hot = hotpatch::load(&clients.s3, &bucket, &stack_name)
        .await
        .unwrap_or_default();
    let mut report = FullReport {
        ok: true,
        outcome: FullOutcome::NothingToDeploy,
        stack: stack_name.clone(),
        artifacts: uploaded,
        changes: Vec::new(),
        status: None,
        error: None,
        reconciled: Vec::new(),
        verified: Vec::new(),
        builds,
        timings_ms: timings,
    };
    let Some(created) = created else {
        if !opts.dry_run {
            verify(clients, &template, &mut report).await?;
        }
        if !opts.dry_run && report.ok {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
        report.timings_ms.insert("total", ms(started));
        return Ok(report);
    };
    report.changes = created.changes.clone();
    ui.event(Event::ChangeSet {
        stack: &stack_name,
        create: created.create,
        changes: &created.changes,
    });
    if opts.dry_run {
        changeset::discard(&clients.cfn, &stack_name, &created).await?;
        report.outcome = FullOutcome::DryRun;
    } else if consented(clients, opts.consent, &created, &mut report, ui).await? {
        execute(clients, &created, &mut report, ui).await?;
        if report.ok {
            ui.event(Event::Step("reading every function back"));
            verify(clients, &template, &mut report).await?;
        }
        if report.ok {
            report.reconciled = reconcile(clients, &bucket, &stack_name, hot).await?;
        }
    }
    report
        .timings_ms
        .insert("total", ms(started) - report.answer_ms());
    let entry = crate::report::record::of_full(&report, &locations);
    crate::ops::history::record(clients, project, Some(&bucket), entry, None, ui).await;
    Ok(report)
}

/// Creates the change set of the packaged template `body`; `None` when it changes nothing.
/// The body is kept in `.quickdeploy/packaged/` for reading: what CloudFormation was given
/// (the user's template is left alone).
async fn make_change_set(
    project: &Project,
    clients: &Clients,
    body: &str,
    opts: &FullOptions,
    sam: bool,
) -> anyhow::Result<Option<changeset::Created>> {
    let stack_name = &project.config.stack;
    let packaged = project
        .state_dir()
        .join("packaged")
        .join(format!("{stack_name}.json"));
    if let Some(dir) = packaged.parent() {
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&packaged, body));
    }
    let exists = stack::describe(&clients.cfn, stack_name).await?.is_some();
    changeset::create(&clients.cfn, stack_name, body, &opts.params, sam, exists).await
}

/// The artifact bucket: quickdeploy.toml's, else the one the bootstrap stack made.
async fn artifact_bucket(project: &Project, clients: &Clients) -> anyhow::Result<String> {
    if let Some(b) = &project.config.artifact_bucket {
        return Ok(b.clone());
    }
    stack::parameter(&clients.cfn, crate::ops::bootstrap::STACK, "CodeBucket")
        .await
        .ok_or_else(|| {
            crate::project::config::BadConfig(
                "no artifact bucket: set `artifact_bucket` in quickdeploy.toml, or run `quickdeploy bootstrap`, which makes one".into(),
            )
            .into()
        })
}

/// Where each function's code and each local layer's content goes, by logical id.
type Locations = BTreeMap<String, S3Object>;

/// The functions and the layers made from one package.
#[derive(Debug, Default)]
struct Users {
    functions: Vec<String>,
    layers: Vec<String>,
}

/// The function packages and the local layer folders as one map: a folder that is both a
/// function's package and a layer's content is packaged and uploaded once.
fn packages_of(
    project: &Project,
    template: &crate::project::template::Template,
    template_dir: &std::path::Path,
) -> BTreeMap<crate::package::spec::PackageSpec, Users> {
    let config = &project.config;
    let functions =
        crate::plan::groups::local_packages(template, config, &project.root, template_dir);
    let layers =
        crate::plan::groups::local_layer_packages(template, config, &project.root, template_dir);
    let mut out: BTreeMap<crate::package::spec::PackageSpec, Users> = BTreeMap::new();
    for (spec, ids) in functions {
        out.entry(spec).or_default().functions = ids;
    }
    for (spec, ids) in layers {
        out.entry(spec).or_default().layers = ids;
    }
    out
}

/// Packages each distinct package (functions' and layers') and uploads what changed. Every
/// package is read and checked (links, limits) before the first upload, so a bad one stops
/// the deploy with nothing written.
async fn upload_packages(
    project: &Project,
    clients: &Clients,
    packages: &BTreeMap<crate::package::spec::PackageSpec, Users>,
    bucket: &str,
    ui: &dyn Ui,
) -> anyhow::Result<(Locations, Vec<Uploaded>)> {
    let scanned = packages
        .iter()
        .map(|(spec, users)| {
            let files = scan_in(spec, &project.root)?;
            crate::package::limits::check_package(&files)?;
            anyhow::Ok((spec, users, files))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut locations = BTreeMap::new();
    let mut uploaded = Vec::new();
    for (spec, users, files) in scanned {
        let pkg = package(&files, &project.state_dir().join("packages"))?;
        let at = upload_package(project, clients, spec, &pkg, bucket, ui.bars()).await?;
        cache_large_files(project, &files, &pkg);
        for id in users.functions.iter().chain(&users.layers) {
            locations.insert(id.clone(), at.object.clone());
        }
        uploaded.push(Uploaded {
            artifact: at.object.to_string(),
            functions: users.functions.clone(),
            layers: users.layers.clone(),
            code_sha256: pkg.code_sha256,
            size: pkg.size,
            uploaded: at.uploaded,
        });
    }
    Ok((locations, uploaded))
}

/// Keeps the package's large files in the content cache, so the next quick deploy sends them
/// as deltas without reading the artifact back. A file that changed since it was packaged
/// (its SHA-256 no longer the manifest's) is not kept: it is not what was deployed.
fn cache_large_files(project: &Project, files: &[crate::artifact::diff::LocalFile], pkg: &Package) {
    let cache = crate::artifact::bases::Cache::new(
        &project.state_dir(),
        crate::artifact::bases::CACHE_LIMIT,
    );
    for f in files
        .iter()
        .filter(|f| f.size >= crate::artifact::encode::DELTA_OVER as u64)
    {
        let Some(entry) = pkg.files.get(&f.path) else {
            continue;
        };
        if let Ok(data) = std::fs::read(&f.source)
            && zipedit::delta::sha256_hex(&data) == entry.sha256
        {
            let _ = cache.put(&entry.sha256, &data);
        }
    }
}

/// Where a package went, and whether it had to be uploaded.
struct Placed {
    object: S3Object,
    uploaded: bool,
}

/// Uploads one package unless the same bytes are there already; writes its manifests.
async fn upload_package(
    project: &Project,
    clients: &Clients,
    spec: &crate::package::spec::PackageSpec,
    pkg: &crate::package::zip::Package,
    bucket: &str,
    bars: bool,
) -> anyhow::Result<Placed> {
    let config = &project.config;
    let prefix = config.artifact_prefix.as_deref().unwrap_or("quickdeploy/");
    let rel = spec
        .folder
        .strip_prefix(&project.root)
        .unwrap_or(&spec.folder)
        .to_string_lossy()
        .trim_matches('/')
        .replace(['/', '\\', '.', ' '], "-");
    let rel = rel.trim_matches('-');
    let key = format!(
        "{prefix}{}/{}.zip",
        config.stack,
        if rel.is_empty() { "root" } else { rel }
    );
    let mut at = S3Object {
        bucket: bucket.to_owned(),
        key: key.clone(),
        version: None,
    };
    let existing = remote::head(&clients.s3, &at).await.ok();
    let same = match &existing {
        Some(h) => {
            remote::known_code_sha256(&clients.s3, &at, h)
                .await
                .as_deref()
                == Some(pkg.code_sha256.as_str())
        }
        None => false,
    };
    let (etag, version) = match existing {
        Some(h) if same => (h.etag, h.version_id),
        _ => {
            let put = upload::upload(
                &clients.s3,
                bucket,
                &key,
                (pkg.path(), pkg.size),
                &[
                    (zipedit::s3::CHECKPOINT_META, pkg.checkpoint.as_str()),
                    (remote::CODE_SHA_META, pkg.code_sha256.as_str()),
                ],
                bars,
            )
            .await?;
            (put.etag, put.version_id)
        }
    };
    at.version = version.clone();
    let m = Manifest {
        format: FORMAT,
        bucket: bucket.to_owned(),
        key,
        etag,
        version_id: version,
        code_sha256: pkg.code_sha256.clone(),
        size: pkg.size,
        files: pkg.files.clone(),
    };
    manifest::save_local(&manifest::local_path(&project.state_dir(), &at), &m)
        .context("cannot save the local manifest")?;
    remote::put_remote(&clients.s3, &m).await?;
    Ok(Placed {
        object: at,
        uploaded: !same,
    })
}

/// Whether the change set may be executed: by the rules of [`consent::decide`], asking on a
/// terminal. A change set that will not be executed is deleted, and the report says why.
async fn consented(
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
async fn execute(
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

/// Reads every function of the stack back and compares it with its package's CodeSha256 and
/// its template's settings ([`crate::lambda::verify`]): a stack that reports success while a
/// function kept its old code or settings fails the deploy, naming each difference.
async fn verify(
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
async fn observe(
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
async fn reconcile(
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
