//! A full deploy's packages: each package once whatever number of functions and layers use
//! it, packaged deterministically, uploaded only when its object is not there already.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::artifact::manifest::{self, FORMAT, Manifest};
use crate::artifact::{remote, upload};
use crate::aws::Clients;
use crate::ops::Ui;
use crate::package::scan::scan_in;
use crate::package::zip::{Package, package};
use crate::project::Project;
use crate::project::template::S3Object;
use crate::report::Uploaded;

/// Where each function's code and each local layer's content goes, by logical id.
pub type Locations = BTreeMap<String, S3Object>;

/// The functions and the layers made from one package.
#[derive(Debug, Default)]
pub struct Users {
    pub functions: Vec<String>,
    pub layers: Vec<String>,
}

/// The function packages and the local layer folders as one map: a folder that is both a
/// function's package and a layer's content is packaged and uploaded once.
pub fn packages_of(
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
pub async fn upload_packages(
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
pub fn cache_large_files(
    project: &Project,
    files: &[crate::artifact::diff::LocalFile],
    pkg: &Package,
) {
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
pub struct Placed {
    pub object: S3Object,
    pub uploaded: bool,
}

/// Uploads one package unless the same bytes are there already; writes its manifests.
pub async fn upload_package(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_that_is_both_a_package_and_a_layer_is_one_package_with_both_users() {
        let template = crate::project::template::Template::parse(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src/, Handler: a.h, Runtime: python3.12}\n  Worker:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src/, Handler: w.h, Runtime: python3.12}\n  Other:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: other/, Handler: o.h, Runtime: python3.12}\n  Shared:\n    Type: AWS::Serverless::LayerVersion\n    Properties: {ContentUri: src/}\n",
        )
        .expect("template");
        let project = Project {
            config: crate::project::config::Config {
                stack: "app".into(),
                template: "template.yaml".into(),
                ..Default::default()
            },
            root: std::path::PathBuf::from("/p"),
        };
        let packages = packages_of(&project, &template, std::path::Path::new("/p"));
        let users: Vec<(String, Vec<String>, Vec<String>)> = packages
            .iter()
            .map(|(spec, u)| {
                (
                    spec.folder.display().to_string(),
                    u.functions.clone(),
                    u.layers.clone(),
                )
            })
            .collect();
        assert_eq!(
            users,
            [
                ("/p/other".to_owned(), vec!["Other".to_owned()], vec![]),
                (
                    "/p/src".to_owned(),
                    vec!["Api".to_owned(), "Worker".to_owned()],
                    vec!["Shared".to_owned()]
                ),
            ]
        );
    }
}
