//! Restoring the manifests beside rolled-back artifacts: the manifest version each restored
//! artifact version was written with, found from the history or by listing, and copied back.

use std::collections::BTreeMap;

use anyhow::Context;
use futures::StreamExt as _;

use crate::artifact::manifest::{FORMAT, Manifest};
use crate::artifact::remote;
use crate::aws::Clients;
use crate::history::entry::Code;
use crate::ops::{Event, Ui};
use crate::project::template::S3Object;

use super::decide::ArtifactPlan;

/// Writes the manifest of each restored artifact beside it (while the functions are
/// updated): the earlier manifest that describes that code, with the copy's ETag and version.
/// One that cannot be written is a warning (the next deploy then reads the artifact itself).
pub async fn restore_manifests(clients: &Clients, artifacts: &[ArtifactPlan], ui: &dyn Ui) {
    let restored: Vec<&ArtifactPlan> = artifacts
        .iter()
        .filter(|a| a.copied_etag.is_some())
        .collect();
    if restored.is_empty() {
        return;
    }
    // The manifest version the history recorded, when it still describes that code: one GET.
    let direct = restored.iter().map(|a| async move {
        let version = a.report.to.manifest_version.as_deref()?;
        manifest_version(&clients.s3, &a.at, version, &a.report.to).await
    });
    let direct = futures::future::join_all(direct).await;
    // Else the newest earlier manifest that names that CodeSha256: one listing for them all.
    let missing: Vec<&ArtifactPlan> = restored
        .iter()
        .zip(&direct)
        .filter(|(_, m)| m.is_none())
        .map(|(a, _)| *a)
        .collect();
    let listed = if missing.is_empty() {
        BTreeMap::new()
    } else {
        manifest_versions(&clients.s3, &missing).await
    };
    let work = restored.into_iter().zip(direct).map(|(a, found)| {
        let key = crate::artifact::manifest::remote_key(&a.at.key);
        let candidates = listed.get(&(a.at.bucket.clone(), key)).cloned();
        async move {
            let at = &a.at;
            let found = match found {
                Some(m) => Ok(m),
                None => manifest_of(&clients.s3, at, &a.report.to, candidates).await,
            };
            let manifest = match found {
                Ok(m) => Manifest {
                    etag: a.copied_etag.clone().unwrap_or_default(),
                    version_id: a.report.restored_version.clone(),
                    ..m
                },
                Err(e) => {
                    ui.event(Event::Warning(&format!(
                        "{at} is restored, but its manifest is not ({e:#}): the next deploy reads the artifact instead"
                    )));
                    return;
                }
            };
            if let Err(e) = remote::put_remote(&clients.s3, &manifest).await {
                ui.event(Event::Warning(&format!(
                    "{e:#}: the next deploy reads the artifact {at} instead of its manifest"
                )));
            }
        }
    });
    futures::future::join_all(work).await;
}

/// One version of an artifact's manifest, if it describes `code`.
pub async fn manifest_version(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    version: &str,
    code: &Code,
) -> Option<Manifest> {
    let got = s3
        .get_object()
        .bucket(&at.bucket)
        .key(crate::artifact::manifest::remote_key(&at.key))
        .version_id(version)
        .send()
        .await
        .ok()?;
    let body = got.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice::<Manifest>(&body)
        .ok()
        .filter(|m| m.format == FORMAT && m.code_sha256 == code.code_sha256)
}

/// Versions listed at once, when looking for earlier manifests.
pub const LISTED_VERSIONS: i32 = 1000;

/// The versions of the restored artifacts' manifests, newest first, by (bucket, key): one
/// ListObjectVersions per bucket over the manifests' common prefix (a manifest not in its
/// first page is listed alone by [`manifest_of`]).
pub async fn manifest_versions(
    s3: &aws_sdk_s3::Client,
    restored: &[&ArtifactPlan],
) -> BTreeMap<(String, String), Vec<String>> {
    let mut by_bucket: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in restored {
        by_bucket
            .entry(a.at.bucket.as_str())
            .or_default()
            .push(crate::artifact::manifest::remote_key(&a.at.key));
    }
    let lists = by_bucket.into_iter().map(|(bucket, keys)| async move {
        let prefix = keys.iter().skip(1).fold(keys[0].clone(), |p, k| {
            p.chars()
                .zip(k.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let listed = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(LISTED_VERSIONS)
            .send()
            .await
            .ok();
        let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for v in listed.iter().flat_map(|l| l.versions()) {
            if let (Some(key), Some(id)) = (v.key(), v.version_id())
                && keys.iter().any(|k| k == key)
            {
                out.entry((bucket.to_owned(), key.to_owned()))
                    .or_default()
                    .push(id.to_owned());
            }
        }
        out
    });
    futures::future::join_all(lists)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// How many versions of one manifest are listed when it was not in the common listing.
pub const MANIFEST_VERSIONS: i32 = 100;

/// The manifest of the artifact's contents at `code`: the newest version of the manifest
/// beside it that names that CodeSha256 (among `candidates`, newest first, else listed
/// here), else read from the artifact version itself.
pub async fn manifest_of(
    s3: &aws_sdk_s3::Client,
    at: &S3Object,
    code: &Code,
    candidates: Option<Vec<String>>,
) -> anyhow::Result<Manifest> {
    let key = crate::artifact::manifest::remote_key(&at.key);
    let versions = match candidates {
        Some(v) => v,
        None => s3
            .list_object_versions()
            .bucket(&at.bucket)
            .prefix(&key)
            .max_keys(MANIFEST_VERSIONS)
            .send()
            .await
            .map_err(crate::aws::err)
            .with_context(|| format!("cannot list the versions of s3://{}/{key}", at.bucket))?
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key.as_str()))
            .filter_map(|v| v.version_id().map(str::to_owned))
            .collect(),
    };
    // Newest first, two at a time: the one wanted is usually among the newest few.
    let mut found = futures::stream::iter(versions)
        .map(|v| async move { manifest_version(s3, at, &v, code).await })
        .buffered(2);
    while let Some(m) = found.next().await {
        if let Some(m) = m {
            return Ok(m);
        }
    }
    drop(found);
    // None of them: read the version itself and hash its entries.
    let mut get = s3.get_object().bucket(&at.bucket).key(&at.key);
    if let Some(v) = &code.version_id {
        get = get.version_id(v);
    }
    let bytes = get
        .send()
        .await
        .map_err(crate::aws::err)
        .with_context(|| format!("cannot read {at} to rebuild its manifest"))?
        .body
        .collect()
        .await
        .with_context(|| format!("cannot read {at} to rebuild its manifest"))?
        .into_bytes();
    Ok(Manifest {
        format: FORMAT,
        bucket: at.bucket.clone(),
        key: at.key.clone(),
        etag: String::new(),
        version_id: code.version_id.clone(),
        code_sha256: zipedit::code_sha256(&bytes),
        size: bytes.len() as u64,
        files: remote::entries(&bytes).with_context(|| format!("{at} is not a readable zip"))?,
    })
}
