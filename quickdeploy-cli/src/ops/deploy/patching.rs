//! Patching one artifact: its changed files encoded (whole, zstd or a delta against their
//! previous content, off the async threads), then sent to the patcher (or patched locally).

use std::collections::BTreeMap;

use anyhow::{Context as _, anyhow};
use zipedit::event::Content;

use crate::artifact::bases;
use crate::artifact::encode;
use crate::artifact::manifest::{FORMAT, Manifest};
use crate::artifact::patch::{self, PatchFailure, Patcher};
use crate::aws::Clients;
use crate::plan::inspect::GroupState;
use crate::plan::local::Local;
use crate::report::SentFile;

use super::decide::{Patched, PatchedArtifact, Sent};

/// What patching reads of the deploy's options.
#[derive(Debug, Clone, Copy)]
pub struct How<'a> {
    /// Who patches: this machine, or the zipedit Lambda.
    pub patcher: &'a Patcher,
    /// Send large modified files as deltas against their previous content, when smaller.
    pub deltas: bool,
    /// How the patcher writes.
    pub mode: zipedit::Mode,
    /// The local side: each change encoded once for every target.
    pub local: &'a Local,
    /// The stack guard the patches carry, when the deploy was planned from the local copies
    /// ([`crate::plan::inspect::Inspected::assumed`]).
    pub guard: Option<&'a zipedit::event::StackGuard>,
}

/// Patches one artifact if its package changed.
pub async fn patch_group(
    g: &GroupState,
    opts: How<'_>,
    clients: &Clients,
    cache: &bases::Cache,
) -> anyhow::Result<Patched> {
    if g.diff.is_empty() {
        return Ok(None);
    }
    let seeded: crate::artifact::remote::Head;
    let mut copy_version = None;
    let head = match (&g.group.seed, g.seeded) {
        (Some(seed), true) => {
            seeded =
                crate::artifact::upload::copy_seed(&clients.s3, seed, &g.head, &g.group.artifact)
                    .await?;
            copy_version = seeded.version_id.clone();
            &seeded
        }
        _ => &g.head,
    };
    let (changes, mut sent) = encode_changes(g, head, opts, clients, cache).await?;
    let encoded = sent.files.iter().any(|f| f.sent != encode::Sent::Whole);
    let event = |changes| zipedit::event::PatchEvent {
        stack: opts.guard.cloned(),
        ..patch::event(
            &g.group.artifact,
            changes,
            &g.diff.deletes,
            &head.etag,
            opts.mode,
        )
    };
    let mut ran = patch::run(opts.patcher, &clients.s3, event(changes), &g.group.artifact).await;
    let bad_event = matches!(&ran, Err(PatchFailure::Refused { kind, .. }) if kind == "BadEvent");
    if bad_event && opts.guard.is_some() {
        // A patcher older than stack guards (nothing written): the deploy reads the stack
        // and patches again without one.
        return Err(anyhow!(
            "the patcher does not take stack guards (it is older than this quickdeploy)"
        ));
    }
    if bad_event {
        // A patcher older than encoded changes or kept manifests refuses them as a bad event
        // (nothing written): send the event as it reads them, and say how to update it.
        sent.warnings.push(if encoded {
            "the patcher does not read compressed changes or deltas (it is older than this quickdeploy), so the files went whole: update it with `quickdeploy bootstrap`".into()
        } else {
            "the patcher does not keep manifests (it is older than this quickdeploy), so this machine wrote it: update it with `quickdeploy bootstrap`".into()
        });
        for f in &mut sent.files {
            (f.sent, f.bytes, f.base) = (encode::Sent::Whole, f.size, None);
        }
        let whole = g
            .diff
            .puts
            .iter()
            .map(|p| (p.path.clone(), encode::encode(p, None, false).content))
            .collect();
        let oldest = patch::oldest_form(event(BTreeMap::new()), whole);
        ran = patch::run(opts.patcher, &clients.s3, oldest, &g.group.artifact).await;
    }
    let (answer, wire) = ran.map_err(|e| match e {
        PatchFailure::Refused { kind, message } if kind == "ArtifactChanged" => {
            anyhow!("{message} (someone else deployed this artifact meanwhile: run deploy again)")
        }
        other => anyhow!(other),
    })?;
    sent.wire = wire;
    // The next deploy's deltas are made against what this one deployed.
    for put in g
        .diff
        .puts
        .iter()
        .filter(|p| p.data.len() >= encode::DELTA_OVER)
    {
        let _ = cache.put(&put.sha256, &put.data);
    }
    let manifest = Manifest {
        format: FORMAT,
        bucket: answer.bucket.clone(),
        key: answer.key.clone(),
        etag: answer.etag.clone(),
        version_id: answer.version_id.clone(),
        code_sha256: answer.code_sha256.clone(),
        size: answer.size,
        files: g.diff.next.clone(),
    };
    Ok(Some(PatchedArtifact {
        answer,
        sent,
        manifest,
        copy_version,
    }))
}

/// Each changed file encoded for the patcher (whole, compressed or as a delta against its
/// previous content, whichever is smaller), off the async threads: compressing a large
/// binary is CPU work. A local patch sends everything whole: there is no wire to save.
pub async fn encode_changes(
    g: &GroupState,
    head: &crate::artifact::remote::Head,
    opts: How<'_>,
    clients: &Clients,
    cache: &bases::Cache,
) -> anyhow::Result<(BTreeMap<String, Content>, Sent)> {
    let compress = matches!(opts.patcher, Patcher::Lambda { .. });
    let deltas = compress && opts.deltas;
    let wanted: Vec<(String, String)> = g
        .diff
        .puts
        .iter()
        .filter(|p| deltas && !p.added && p.data.len() >= encode::DELTA_OVER)
        .filter_map(|p| Some((p.path.clone(), g.base.files.get(&p.path)?.sha256.clone())))
        .collect();
    let (found, base_error) =
        bases::find(&clients.s3, cache, &g.group.artifact, head, &wanted).await;
    let puts = g.diff.puts.clone();
    let bases::Bases {
        content,
        from,
        read_bytes,
    } = found;
    let base_shas: BTreeMap<String, String> = wanted.into_iter().collect();
    let local = opts.local.clone();
    let encoded = tokio::task::spawn_blocking(move || {
        puts.iter()
            .map(|p| {
                let base = content
                    .get(&p.path)
                    .zip(base_shas.get(&p.path))
                    .map(|(b, sha)| (sha.as_str(), b.as_slice()));
                let e = local.encode(p, base, compress);
                (p.path.clone(), p.data.len(), e)
            })
            .collect::<Vec<_>>()
    })
    .await
    .context("encoding the changed files failed")?;
    let mut sent = Sent {
        base_bytes: read_bytes,
        warnings: base_error
            .map(|e| {
                format!("previous content not read ({e:#}); those files went compressed instead of as deltas")
            })
            .into_iter()
            .collect(),
        ..Sent::default()
    };
    let mut changes = BTreeMap::new();
    for (path, size, e) in encoded {
        sent.files.push(SentFile {
            path: path.clone(),
            sent: e.sent,
            size: size as u64,
            bytes: e.bytes as u64,
            base: e
                .sent
                .uses_base()
                .then(|| from.get(&path).copied())
                .flatten(),
        });
        changes.insert(path, e.content);
    }
    Ok((changes, sent))
}
