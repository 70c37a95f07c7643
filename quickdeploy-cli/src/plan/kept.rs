//! What `watch` keeps of the remote side between its rounds: the deployed stack (template,
//! parameters, physical ids), each artifact's HEAD and manifest, and the CodeSha256 each
//! function runs. The first round reads them; each round after learns from its own results
//! (the patcher's answer is the artifact's new ETag, version and manifest; an update's answer
//! the function's code), so a round after a save reads none of them again.
//!
//! Kept state is an assumption, and the writes check it: the patch goes with the kept ETag
//! (If-Match: another writer's artifact refuses it as ArtifactChanged), and a function is
//! updated whenever its kept code is not the target. A round that fails with kept state is
//! run once more afresh (`ops::watch`), and anything but a clean quick deploy forgets it all.
//!
//! Each package's last scan is kept too, with the paths the next round's file events name:
//! that round looks at those paths only (`package::scan::rescan`), not the whole tree.
//!
//! The state is pure ([`Kept`]); [`Memory`] is the handle a deploy is given, and
//! [`running`] the one read it saves (GetFunction).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::artifact::diff::LocalFile;
use crate::package::spec::PackageSpec;

use crate::artifact::manifest::Manifest;
use crate::artifact::remote::Head;
use crate::lambda::current::{self, Current};
use crate::lambda::pace::Quotas;
use crate::project::template::S3Object;
use crate::stack::deployed::Deployed;

/// What is known of the remote side, and nothing that was not read or written by us.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// The stack's name and what was read of it.
    stack: Option<(String, Deployed)>,
    /// Each artifact (`s3://bucket/key`): its HEAD and the manifest of what it holds.
    artifacts: HashMap<String, (Head, Manifest)>,
    /// Each function (by name): the CodeSha256 it runs, successfully.
    functions: HashMap<String, String>,
    /// Each package's files as last scanned (local, but kept and forgotten with the rest).
    scans: HashMap<PackageSpec, Arc<Vec<LocalFile>>>,
    /// The paths this round's file events named; `None` when they cannot be trusted to
    /// name every change (the first round, an overflow).
    saved: Option<BTreeSet<PathBuf>>,
}

/// The key of an artifact, whatever version it is at.
fn key(at: &S3Object) -> String {
    format!("s3://{}/{}", at.bucket, at.key)
}

impl Kept {
    /// The stack, when it is `name`'s and known.
    pub fn stack(&self, name: &str) -> Option<&Deployed> {
        self.stack.as_ref().filter(|(n, _)| n == name).map(|s| &s.1)
    }

    /// The stack as just read.
    pub fn learn_stack(&mut self, name: &str, deployed: &Deployed) {
        self.stack = Some((name.to_owned(), deployed.clone()));
    }

    /// The artifact's HEAD and manifest, when known.
    pub fn artifact(&self, at: &S3Object) -> Option<(Head, Manifest)> {
        self.artifacts.get(&key(at)).cloned()
    }

    /// An artifact as read (its HEAD, and the manifest that describes that object).
    pub fn learn_artifact(&mut self, at: &S3Object, head: &Head, manifest: &Manifest) {
        self.artifacts
            .insert(key(at), (head.clone(), manifest.clone()));
    }

    /// Artifacts as the patcher left them: each manifest carries the new object's ETag,
    /// version and size, which is what a HEAD would say next.
    pub fn patched(&mut self, manifests: &[Manifest]) {
        for m in manifests {
            let head = Head {
                etag: m.etag.clone(),
                version_id: m.version_id.clone(),
                size: m.size,
                uploaded_code_sha256: None,
            };
            self.artifacts.insert(
                key(&crate::artifact::manifest::artifact_of(m)),
                (head, m.clone()),
            );
        }
    }

    /// The CodeSha256 the function runs, when known.
    pub fn function(&self, name: &str) -> Option<&str> {
        self.functions.get(name).map(String::as_str)
    }

    /// The function runs this code successfully (`Some`), or is not known to (`None`: it
    /// failed, or was not read).
    pub fn learn_function(&mut self, name: &str, code_sha256: Option<&str>) {
        match code_sha256 {
            Some(sha) => {
                self.functions.insert(name.to_owned(), sha.to_owned());
            }
            None => {
                self.functions.remove(name);
            }
        }
    }

    /// The paths this round's events named (`None`: they may not name every change).
    pub fn saved(&mut self, paths: Option<BTreeSet<PathBuf>>) {
        self.saved = paths;
    }

    /// The package's last scan and the paths saved since, when both are known: what a
    /// rescan of only those paths needs (`package::scan::rescan`).
    pub fn scan_of(&self, spec: &PackageSpec) -> Option<(Arc<Vec<LocalFile>>, BTreeSet<PathBuf>)> {
        Some((self.scans.get(spec)?.clone(), self.saved.clone()?))
    }

    /// The package's files as just scanned.
    pub fn learn_scan(&mut self, spec: &PackageSpec, files: Arc<Vec<LocalFile>>) {
        self.scans.insert(spec.clone(), files);
    }

    /// Nothing is kept any more: the next round reads everything.
    pub fn forget(&mut self) {
        *self = Self::default();
    }

    /// Nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.stack.is_none()
            && self.artifacts.is_empty()
            && self.functions.is_empty()
            && self.scans.is_empty()
    }
}

/// The kept state one watch shares with each of its rounds' deploys (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Memory(Arc<Mutex<Kept>>);

impl Memory {
    /// Nothing kept yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads or changes the kept state (a poisoned lock holds whole values still).
    pub fn with<T>(&self, f: impl FnOnce(&mut Kept) -> T) -> T {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut held)
    }
}

/// One function's code as [`current::current_code`] gives it: by name, or why not read.
type Read = (String, Result<Current, String>);

/// What each function runs: from `memory` when it knows, else read (GetFunction or a list,
/// [`current::current_code`]) and learned. The kept value is safe to act on: a function whose
/// kept code is not the target is updated anyway, and one that runs it is left as it is.
pub async fn running(
    memory: Option<&Memory>,
    lambda: &aws_sdk_lambda::Client,
    quotas: &Quotas,
    names: Vec<String>,
) -> Vec<Read> {
    let Some(memory) = memory else {
        return current::current_code(lambda, quotas, names).await;
    };
    let (known, unknown) = memory.with(|k| split(k, names));
    let read = current::current_code(lambda, quotas, unknown).await;
    memory.with(|k| {
        for (name, r) in &read {
            let ok = r.as_ref().ok().filter(|c| !c.failed && !c.listed);
            k.learn_function(name, ok.and_then(|c| c.code_sha256.as_deref()));
        }
    });
    known.into_iter().chain(read).collect()
}

/// The functions whose code is kept (as if read), and the names still to read.
fn split(kept: &Kept, names: Vec<String>) -> (Vec<Read>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match kept.function(&name) {
            Some(sha) => {
                let c = Current {
                    code_sha256: Some(sha.to_owned()),
                    failed: false,
                    listed: false,
                };
                known.push((name, Ok(c)));
            }
            None => unknown.push(name),
        }
    }
    (known, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::manifest::FORMAT;

    fn manifest(etag: &str, version: &str) -> Manifest {
        Manifest {
            format: FORMAT,
            bucket: "b".into(),
            key: "app.zip".into(),
            etag: etag.into(),
            version_id: Some(version.into()),
            code_sha256: format!("sha-{etag}"),
            size: 10,
            files: Default::default(),
        }
    }

    fn at(version: Option<&str>) -> S3Object {
        S3Object {
            bucket: "b".into(),
            key: "app.zip".into(),
            version: version.map(str::to_owned),
        }
    }

    #[test]
    fn a_patch_answer_is_the_next_rounds_head_and_manifest() {
        let mut k = Kept::default();
        assert!(k.is_empty());
        assert!(k.artifact(&at(None)).is_none());
        let head = Head {
            etag: "\"e1\"".into(),
            version_id: Some("v1".into()),
            size: 10,
            uploaded_code_sha256: Some("up".into()),
        };
        k.learn_artifact(&at(None), &head, &manifest("\"e1\"", "v1"));
        assert_eq!(k.artifact(&at(Some("v0"))).expect("known").0, head);
        // The patcher answered: that object is what the artifact is now, at any version the
        // template names (the stack pins none or an old one).
        k.patched(&[manifest("\"e2\"", "v2")]);
        let (head, m) = k.artifact(&at(Some("v1"))).expect("known");
        assert_eq!(
            (head.etag.as_str(), head.version_id.as_deref(), head.size),
            ("\"e2\"", Some("v2"), 10)
        );
        assert_eq!(m.code_sha256, "sha-\"e2\"");
        k.forget();
        assert!(k.is_empty() && k.artifact(&at(None)).is_none());
    }

    #[test]
    fn functions_are_known_only_while_they_run_what_we_set() {
        let mut k = Kept::default();
        k.learn_function("f", Some("A"));
        assert_eq!(k.function("f"), Some("A"));
        k.learn_function("f", Some("B"));
        assert_eq!(k.function("f"), Some("B"));
        // A failed update: whatever it runs, it is read again next time.
        k.learn_function("f", None);
        assert_eq!(k.function("f"), None);
        k.learn_function("g", Some("C"));
        let (known, unknown) = split(&k, vec!["f".into(), "g".into()]);
        assert_eq!(unknown, ["f"]);
        assert_eq!(known.len(), 1);
        let c = known[0].1.as_ref().expect("kept");
        assert!(c.runs("C") && !c.runs("A"));
    }

    #[tokio::test]
    async fn kept_functions_are_not_read_and_read_ones_are_learned() {
        let memory = Memory::new();
        memory.with(|k| k.learn_function("f", Some("A")));
        // An endpoint nobody serves: a read would fail, so what succeeds was not read.
        let conf = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        let lambda = aws_sdk_lambda::Client::from_conf(conf);
        let quotas = Quotas::new(&Default::default());
        let got = running(Some(&memory), &lambda, &quotas, vec!["f".into()]).await;
        assert!(matches!(&got[0].1, Ok(c) if c.runs("A")), "{got:?}");
        let got = running(Some(&memory), &lambda, &quotas, vec!["g".into()]).await;
        assert!(got[0].1.is_err(), "g was read, and the read failed");
        assert_eq!(memory.with(|k| k.function("g").map(str::to_owned)), None);
    }

    #[test]
    fn a_scan_is_reused_only_with_the_paths_saved_since() {
        let mut k = Kept::default();
        let spec = PackageSpec {
            folder: PathBuf::from("/p/fn"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        k.learn_scan(&spec, Arc::new(Vec::new()));
        assert!(k.scan_of(&spec).is_none(), "no events known: a full scan");
        k.saved(Some(BTreeSet::from([PathBuf::from("/p/fn/a.py")])));
        assert_eq!(k.scan_of(&spec).expect("both").1.len(), 1);
        k.saved(None);
        assert!(k.scan_of(&spec).is_none(), "an overflow: a full scan");
        k.forget();
        k.saved(Some(BTreeSet::new()));
        assert!(k.scan_of(&spec).is_none(), "forgotten");
    }

    #[test]
    fn the_stack_is_kept_by_its_name() {
        let mut k = Kept::default();
        let d = Deployed {
            template: crate::project::template::Template::parse("Resources: {}").expect("t"),
            parameters: Default::default(),
            physical: Default::default(),
            status: "UPDATE_COMPLETE".into(),
            tags: Default::default(),
        };
        k.learn_stack("one", &d);
        assert!(k.stack("one").is_some());
        assert!(k.stack("two").is_none(), "another stack's config");
    }
}
