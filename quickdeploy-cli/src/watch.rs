//! Which file events matter to `quickdeploy watch`, and how a burst of them becomes one batch.
//!
//! A path matters when it is the template, `quickdeploy.toml`, or a file inside a package
//! folder (or one of its extra paths), unless it is version-control or editor noise (the
//! package ignore patterns: `.git/`, swap and backup files, caches, our own state) or git
//! ignores it. A package folder that git ignores as a whole (a build output folder) is still
//! watched: it is what that function's package is made of.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::scan::DEFAULT_IGNORES;

/// Decides which paths matter.
#[derive(Debug)]
pub struct Filter {
    roots: Vec<(PathBuf, Gitignore, bool)>,
    files: Vec<PathBuf>,
    git: Gitignore,
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

impl Filter {
    /// Watches `roots` (package folders and extra paths, with `ignores` besides the defaults)
    /// and `files` (template, config); `project` is where `.gitignore` is read.
    pub fn new(project: &Path, roots: &[PathBuf], files: &[PathBuf], ignores: &[String]) -> Self {
        let mut git = GitignoreBuilder::new(absolute(project));
        let _ = git.add(project.join(".gitignore"));
        let git = git.build().unwrap_or_else(|_| Gitignore::empty());
        let roots = roots
            .iter()
            .map(|r| {
                let root = absolute(r);
                let mut b = GitignoreBuilder::new(&root);
                for p in DEFAULT_IGNORES
                    .iter()
                    .copied()
                    .chain(ignores.iter().map(String::as_str))
                {
                    let _ = b.add_line(None, p);
                }
                let own = b.build().unwrap_or_else(|_| Gitignore::empty());
                let root_ignored = git.matched_path_or_any_parents(&root, true).is_ignore();
                (root, own, root_ignored)
            })
            .collect();
        Self {
            roots,
            files: files.iter().map(|f| absolute(f)).collect(),
            git,
        }
    }

    /// The folders to watch recursively.
    pub fn watch_roots(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|(r, _, _)| r.clone()).collect()
    }

    /// The single files to watch (through their folders).
    pub fn watch_files(&self) -> &[PathBuf] {
        &self.files
    }

    /// True when a change at `path` may need a deploy.
    pub fn relevant(&self, path: &Path) -> bool {
        if self.files.iter().any(|f| f == path) {
            return true;
        }
        // A deleted path's kind is unknown: it counts as a file.
        let dir = path.is_dir();
        self.roots.iter().any(|(root, own, root_ignored)| {
            path.starts_with(root)
                && path != root
                && !own.matched_path_or_any_parents(path, dir).is_ignore()
                && (*root_ignored || !self.git.matched_path_or_any_parents(path, dir).is_ignore())
        })
    }
}

/// Collects one batch: the first path, then every path that comes until the stream has been
/// quiet for `window` (an editor's save is a burst: temp file, rename, metadata). `None` when
/// the stream ended.
pub async fn next_batch(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    window: Duration,
) -> Option<BTreeSet<PathBuf>> {
    let first = rx.recv().await?;
    let mut batch = BTreeSet::from([first]);
    drain(rx, window, &mut batch).await;
    Some(batch)
}

/// Adds to `batch` every path that comes until `window` passes without one.
pub async fn drain(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<PathBuf>,
    window: Duration,
    batch: &mut BTreeSet<PathBuf>,
) {
    while let Ok(Some(p)) = tokio::time::timeout(window, rx.recv()).await {
        batch.insert(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        for p in [
            "src/fn/app.py",
            "build/out/bootstrap",
            "template.yaml",
            "README.md",
        ] {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "x").expect("write");
        }
        std::fs::write(dir.path().join(".gitignore"), "build/\n*.log\n").expect("gitignore");
        dir
    }

    #[test]
    fn packages_template_and_config_matter_noise_does_not() {
        let dir = project();
        let root = absolute(dir.path());
        let f = Filter::new(
            &root,
            &[root.join("src/fn"), root.join("build/out")],
            &[root.join("template.yaml")],
            &["*.md".into()],
        );
        assert!(f.relevant(&root.join("src/fn/app.py")));
        assert!(f.relevant(&root.join("src/fn/new/module.py")));
        assert!(f.relevant(&root.join("template.yaml")));
        assert!(
            !f.relevant(&root.join("README.md")),
            "outside every package"
        );
        assert!(
            !f.relevant(&root.join("src/fn/.app.py.swp")),
            "editor swap file"
        );
        assert!(!f.relevant(&root.join("src/fn/app.py~")), "backup file");
        assert!(!f.relevant(&root.join("src/fn/__pycache__/app.pyc")));
        assert!(!f.relevant(&root.join("src/fn/run.log")), "git ignores it");
        assert!(
            !f.relevant(&root.join("src/fn/NOTES.md")),
            "a configured ignore"
        );
        assert!(
            f.relevant(&root.join("build/out/bootstrap")),
            "a build output folder that git ignores is still a package"
        );
    }

    #[tokio::test]
    async fn a_burst_is_one_batch_and_a_pause_splits_batches() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..5 {
            tx.send(PathBuf::from(format!("f{}", i % 2))).expect("send");
        }
        let batch = next_batch(&mut rx, Duration::from_millis(50))
            .await
            .expect("batch");
        assert_eq!(batch.len(), 2, "five events on two paths");
        tokio::spawn(async move {
            tx.send(PathBuf::from("a")).expect("send");
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(PathBuf::from("b")).expect("send");
        });
        let one = next_batch(&mut rx, Duration::from_millis(50))
            .await
            .expect("batch");
        let two = next_batch(&mut rx, Duration::from_millis(50))
            .await
            .expect("batch");
        assert_eq!((one.len(), two.len()), (1, 1));
        assert!(
            next_batch(&mut rx, Duration::from_millis(50))
                .await
                .is_none(),
            "sender gone"
        );
    }
}
