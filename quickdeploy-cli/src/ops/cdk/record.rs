//! Making the record of a synth ([`crate::project::cdk::record`]): each bundle matched to the
//! esbuild call that made it and checked by building it again the same way, each copied
//! asset matched to its project folder by content, and the app's files stamped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::project::cdk::record::{self as rec, Bundle, FolderSource, NOT_APP, Record, Stamp};
use crate::project::cdk::{self as cdk, assembly, sources};

/// SHA-256 of `data`, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One esbuild call the wrapper saw.
#[derive(Debug, serde::Deserialize)]
struct Call {
    tool: String,
    pre: Vec<String>,
    args: Vec<String>,
    cwd: PathBuf,
    sha256: Option<String>,
}

/// The record of the synth whose assembly is `out`, from the wrapper's log `calls`.
pub fn make(root: &Path, out: &Path, calls: &str) -> anyhow::Result<Record> {
    let manifest = std::fs::read(out.join("manifest.json"))
        .with_context(|| format!("the synth wrote no {}", out.join("manifest.json").display()))?;
    let calls: Vec<Call> = calls
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let stacks = assembly::stacks(out)?;
    let files = app_files_stamped(root, out, None);
    let hashes: BTreeMap<String, String> = files
        .iter()
        .map(|(p, s)| (p.clone(), s.sha256.clone()))
        .collect();
    let mut record = Record {
        format: rec::FORMAT,
        assembly: sha256_hex(&manifest),
        files,
        ..Record::default()
    };
    for stack in &stacks {
        // Its nested stacks' functions and layers too; a nested template is itself an
        // asset (TemplateURL), not code.
        let Ok(template) = cdk::template_of(stack) else {
            continue;
        };
        for r in template.doc["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
        {
            let meta = &r["Metadata"];
            let Some(asset) = meta["aws:asset:path"].as_str() else {
                continue;
            };
            if meta["aws:asset:property"] == "TemplateURL" {
                continue;
            }
            if record.bundles.contains_key(asset) || record.folders.contains_key(asset) {
                continue;
            }
            let staged = stack.dir.join(asset);
            if !staged.is_dir() {
                record.opaque.insert(
                    asset.into(),
                    "its asset is a file, not a folder: it is deployed by `quickdeploy full`"
                        .into(),
                );
                continue;
            }
            let staged_files = tree_hashes(&staged);
            if meta["aws:asset:is-bundled"] == serde_json::Value::Bool(true) {
                match bundle_of(root, &staged, &staged_files, &calls) {
                    Ok(b) => {
                        record.bundles.insert(asset.into(), b);
                    }
                    Err(why) => {
                        record.opaque.insert(asset.into(), why);
                    }
                }
            } else {
                match sources::find_folder(&staged_files, &hashes) {
                    Some((folder, ignore)) => {
                        record
                            .folders
                            .insert(asset.into(), FolderSource { folder, ignore });
                    }
                    None => {
                        record.opaque.insert(
                            asset.into(),
                            "no folder of the project holds what its asset holds (is it made by a command, or outside the project?): it is deployed by `quickdeploy full`".into(),
                        );
                    }
                }
            }
        }
    }
    Ok(record)
}

/// The bundle in `staged`: the recorded esbuild call whose output is one of its files, built
/// again the same way (into a scratch folder, with a metafile to learn its inputs) and
/// refused unless that gives the very same bytes.
fn bundle_of(
    root: &Path,
    staged: &Path,
    staged_files: &BTreeMap<String, String>,
    calls: &[Call],
) -> Result<Bundle, String> {
    let (call, outfile) = calls
        .iter()
        .find_map(|c| {
            let out = c.args.iter().find_map(|a| a.strip_prefix("--outfile="))?;
            let name = Path::new(out.trim_matches('"')).file_name()?.to_str()?.to_owned();
            (c.sha256.is_some() && staged_files.get(&name) == c.sha256.as_ref()).then_some((c, name))
        })
        .ok_or("the CDK bundled it without esbuild through npx, pnpm or yarn (Docker bundling, or its own command): it is deployed by `quickdeploy full`")?;
    let program = esbuild_of(call);
    let scratch = tempfile::tempdir().map_err(|e| format!("no scratch folder: {e}"))?;
    let meta = scratch.path().join("meta.json");
    let c = crate::build::method::CdkBundle {
        program: program.clone(),
        args: call.args.clone(),
        cwd: call.cwd.clone(),
        outfile: outfile.clone(),
        asset: staged.to_owned(),
    };
    let ran = std::process::Command::new(&program[0])
        .args(&program[1..])
        .args(crate::build::method::cdk_bundle_args(&c, scratch.path()))
        .arg(format!("--metafile={}", meta.display()))
        .current_dir(&call.cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} again: {e}", program.join(" ")))?;
    let again = std::fs::read(scratch.path().join(&outfile)).unwrap_or_default();
    if !ran.status.success() || Some(&sha256_hex(&again)) != staged_files.get(&outfile) {
        return Err(format!(
            "building it again as the CDK did ({} in {}) did not give the CDK's bundle: it is deployed by `quickdeploy full`",
            program.join(" "),
            call.cwd.display()
        ));
    }
    let inputs: Vec<String> = std::fs::read_to_string(&meta)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| {
            m["inputs"]
                .as_object()
                .map(|i| i.keys().cloned().collect::<Vec<_>>())
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| {
            let p = crate::project::normalize(&call.cwd.join(i));
            Some(p.strip_prefix(root).ok()?.to_string_lossy().into_owned())
        })
        .collect();
    let cwd = call.cwd.strip_prefix(root).unwrap_or(&call.cwd).to_owned();
    Ok(Bundle {
        program,
        args: call.args.clone(),
        cwd,
        outfile,
        inputs,
    })
}

/// The esbuild a call ran: for `npx --no-install esbuild` the one `npx` finds
/// (`node_modules/.bin/esbuild` from the call's folder up), run directly (`npx` itself takes
/// a few hundred milliseconds); else the call's own runner.
fn esbuild_of(call: &Call) -> Vec<String> {
    if call.tool == "npx"
        && let Some(bin) = call
            .cwd
            .ancestors()
            .map(|d| d.join("node_modules/.bin/esbuild"))
            .find(|p| p.is_file())
    {
        return vec![bin.display().to_string()];
    }
    std::iter::once(call.tool.clone())
        .chain(call.pre.iter().cloned())
        .collect()
}

/// Each file under `dir` by its path from `dir`, with its SHA-256.
fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some((rel, sha256_hex(&std::fs::read(e.path()).ok()?)))
        })
        .collect()
}

/// The app's files now, by path from `root`, each with its content hash: everything but
/// [`NOT_APP`] folders and the assembly `out`. A file whose size and modification time are
/// those of `known` keeps its known hash (it is not read).
pub fn app_files(
    root: &Path,
    out: &Path,
    known: Option<&BTreeMap<String, Stamp>>,
) -> BTreeMap<String, String> {
    app_files_stamped(root, out, known)
        .into_iter()
        .map(|(p, s)| (p, s.sha256))
        .collect()
}

fn app_files_stamped(
    root: &Path,
    out: &Path,
    known: Option<&BTreeMap<String, Stamp>>,
) -> BTreeMap<String, Stamp> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0 || !(NOT_APP.contains(&name.as_ref()) || e.path() == out)
        })
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .ok()?
                .to_string_lossy()
                .into_owned();
            let m = e.metadata().ok()?;
            let mtime_ns = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            if let Some(k) = known.and_then(|k| k.get(&rel))
                && k.size == m.len()
                && k.mtime_ns == mtime_ns
            {
                return Some((rel, k.clone()));
            }
            let sha256 = sha256_hex(&std::fs::read(e.path()).ok()?);
            Some((
                rel,
                Stamp {
                    size: m.len(),
                    mtime_ns,
                    sha256,
                },
            ))
        })
        .collect()
}

/// Writes the record (through a temporary file, so a reader never sees half of one).
pub fn save(root: &Path, record: &Record) -> anyhow::Result<()> {
    let path = root.join(".quickdeploy").join(rec::RECORD_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(record)?)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
