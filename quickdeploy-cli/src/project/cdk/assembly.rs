//! A CDK cloud assembly as `cdk synth` writes it (`cdk.out/`): `manifest.json` names the
//! stacks (their template files, environments and asset manifests, in nested assemblies for
//! stages too), and each `<Stack>.assets.json` names its file assets (the staged folder, the
//! packaging, the bucket and key they are published to).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One stack of the assembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackArtifact {
    /// The artifact id (the construct's id: `QdCdkApi`, `Stage-Api` in a stage).
    pub id: String,
    /// The CloudFormation stack name (`stackName`, else the id).
    pub stack_name: String,
    /// The CDK's display name (`Stage/Api`).
    pub display_name: String,
    /// The synthesized template.
    pub template: PathBuf,
    /// `aws://ACCOUNT/REGION` (either may be `unknown-…`).
    pub environment: String,
    /// Its file assets, by asset hash.
    pub assets: BTreeMap<String, FileAsset>,
    /// The assembly folder it is in (nested assemblies have their own).
    pub dir: PathBuf,
}

/// A file asset: a staged folder (or file) zipped and published to S3.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileAsset {
    /// The staged copy (`asset.<hash>`), relative to the assembly folder.
    pub path: String,
    /// `zip` (a folder) or `file`.
    pub packaging: String,
    /// Where it is published: bucket and key, with `${AWS::AccountId}`-style placeholders.
    pub destinations: Vec<(String, String)>,
}

/// An assembly that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AssemblyError(pub String);

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    artifacts: BTreeMap<String, Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    properties: serde_json::Value,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

/// Every stack of the assembly in `dir`, nested assemblies (stages) included, by id.
pub fn stacks(dir: &Path) -> Result<Vec<StackArtifact>, AssemblyError> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| AssemblyError(format!("cannot read {}: {e}", path.display())))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        AssemblyError(format!(
            "{} is not a cloud assembly manifest: {e}",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (id, a) in &manifest.artifacts {
        match a.kind.as_str() {
            "aws:cloudformation:stack" => {
                let Some(file) = a.properties["templateFile"].as_str() else {
                    continue;
                };
                let mut assets = BTreeMap::new();
                for dep in &a.dependencies {
                    let Some(d) = manifest.artifacts.get(dep) else {
                        continue;
                    };
                    if d.kind != "cdk:asset-manifest" {
                        continue;
                    }
                    if let Some(f) = d.properties["file"].as_str() {
                        assets.extend(file_assets(&dir.join(f))?);
                    }
                }
                out.push(StackArtifact {
                    id: id.clone(),
                    stack_name: a.properties["stackName"].as_str().unwrap_or(id).to_owned(),
                    display_name: a.display_name.clone().unwrap_or_else(|| id.clone()),
                    template: dir.join(file),
                    environment: a.environment.clone().unwrap_or_default(),
                    assets,
                    dir: dir.to_owned(),
                });
            }
            "cdk:cloud-assembly" => {
                if let Some(sub) = a.properties["directoryName"].as_str() {
                    out.extend(stacks(&dir.join(sub))?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The file assets of one asset manifest, by hash.
fn file_assets(path: &Path) -> Result<BTreeMap<String, FileAsset>, AssemblyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AssemblyError(format!("cannot read {}: {e}", path.display())))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AssemblyError(format!("{} is not an asset manifest: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    for (hash, f) in doc["files"].as_object().into_iter().flatten() {
        let Some(p) = f["source"]["path"].as_str() else {
            continue; // An executable source (a command), not a folder.
        };
        let destinations = f["destinations"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, d)| {
                Some((
                    d["bucketName"].as_str()?.to_owned(),
                    d["objectKey"].as_str()?.to_owned(),
                ))
            })
            .collect();
        out.insert(
            hash.clone(),
            FileAsset {
                path: p.to_owned(),
                packaging: f["source"]["packaging"]
                    .as_str()
                    .unwrap_or("file")
                    .to_owned(),
                destinations,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_with_their_assets_and_stages() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        std::fs::write(
            d.join("manifest.json"),
            r#"{"version":"55.0.0","artifacts":{
              "Api.assets":{"type":"cdk:asset-manifest","properties":{"file":"Api.assets.json"}},
              "Api":{"type":"aws:cloudformation:stack","environment":"aws://1/us-east-1",
                     "properties":{"templateFile":"Api.template.json","stackName":"api-dev"},
                     "dependencies":["Api.assets"],"displayName":"Api"},
              "Stage":{"type":"cdk:cloud-assembly","properties":{"directoryName":"assembly-Stage"}},
              "Tree":{"type":"cdk:tree","properties":{"file":"tree.json"}}}}"#,
        )
        .expect("write");
        std::fs::write(
            d.join("Api.assets.json"),
            r#"{"version":"55.0.0","files":{"abc":{"source":{"path":"asset.abc","packaging":"zip"},
              "destinations":{"x":{"bucketName":"cdk-b-${AWS::Region}","objectKey":"abc.zip"}}}},"dockerImages":{}}"#,
        )
        .expect("write");
        std::fs::create_dir(d.join("assembly-Stage")).expect("mkdir");
        std::fs::write(
            d.join("assembly-Stage/manifest.json"),
            r#"{"artifacts":{"StageJobs":{"type":"aws:cloudformation:stack","properties":{"templateFile":"j.json"},"displayName":"Stage/Jobs"}}}"#,
        )
        .expect("write");
        let s = stacks(d).expect("stacks");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].stack_name, "api-dev");
        assert_eq!(s[0].environment, "aws://1/us-east-1");
        assert_eq!(s[0].assets["abc"].path, "asset.abc");
        assert_eq!(
            s[0].assets["abc"].destinations,
            [("cdk-b-${AWS::Region}".to_owned(), "abc.zip".to_owned())]
        );
        assert_eq!(s[1].stack_name, "StageJobs");
        assert_eq!(s[1].display_name, "Stage/Jobs");
        assert_eq!(s[1].template, d.join("assembly-Stage/j.json"));
        assert!(stacks(&d.join("nowhere")).is_err());
    }
}
