//! The local side of a deploy, done once however many targets it goes to: each package's
//! scan, each changed file's read and SHA-256, and each file's encoding for the patcher
//! (zstd or a delta). Every target's remote side (its artifacts, manifests, patch and
//! updates) asks this memo, and the first to ask does the work while the others wait for it
//! (one flight per key). A failure is not kept: whoever asks next tries again, and errors
//! keep their types (a scan error is still the user's to fix).
//!
//! A deploy to one target makes a memo of its own and pays nothing for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::artifact::diff::{LocalFile, Put};
use crate::artifact::encode::{self, Encoded};
use crate::artifact::manifest::sha256_hex;
use crate::package::spec::PackageSpec;

/// A file's identity for its content: where it is, its size and mtime as the scan saw them.
type FileKey = (PathBuf, u64, Option<u64>);

/// An encoding's identity: the new content's SHA-256, the base's (for a delta), compressed.
type EncodeKey = (String, Option<String>, bool, bool);

/// One package's scan, done by the first target that asks.
type ScanSlot = Arc<tokio::sync::OnceCell<Arc<Vec<LocalFile>>>>;

/// One file's content and SHA-256, read by the first target that asks.
type FileSlot = Arc<Mutex<Option<Arc<(Vec<u8>, String)>>>>;

/// The memo: shared by every target of one command (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Local {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    scans: Mutex<HashMap<PackageSpec, ScanSlot>>,
    files: Mutex<HashMap<FileKey, FileSlot>>,
    encoded: Mutex<HashMap<EncodeKey, Arc<Mutex<Option<Encoded>>>>>,
    counts: Mutex<Counts>,
    /// While the builds run, scans wait for this to open ([`Local::gated`]).
    gate: Mutex<Option<tokio::sync::watch::Receiver<bool>>>,
}

/// Holds the memo's scans back while the builds write the packages: the remote reads go on
/// meanwhile. Opened, or dropped (a failed build: what is scanned then is not used), it lets
/// them go.
#[derive(Debug)]
pub struct Gate(tokio::sync::watch::Sender<bool>);

impl Gate {
    /// Lets the scans go: the packages are built.
    pub fn open(self) {
        let _ = self.0.send(true);
    }
}

/// What the memo did: how often each kind of work ran, and how often it was reused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Package scans run.
    pub scans: usize,
    /// Files read and hashed.
    pub hashed: usize,
    /// Files encoded.
    pub encoded: usize,
    /// Times a result was reused instead.
    pub reused: usize,
}

/// A lock that a panicking holder poisoned still holds good data here (whole values only).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Local {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// A gate that every scan waits for until it is opened or dropped: the packages are
    /// scanned once built, while what needs no package (the stack, the artifacts) is read.
    pub fn gated(&self) -> Gate {
        let (open, wait) = tokio::sync::watch::channel(false);
        *lock(&self.inner.gate) = Some(wait);
        Gate(open)
    }

    /// What it did so far.
    pub fn counts(&self) -> Counts {
        *lock(&self.inner.counts)
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.inner.counts));
    }

    /// The package's files: `scan` runs (off the async threads) for the first target that
    /// asks; the others get its result.
    pub async fn scan<E>(
        &self,
        spec: &PackageSpec,
        scan: impl FnOnce() -> Result<Vec<LocalFile>, E> + Send + 'static,
    ) -> Result<Arc<Vec<LocalFile>>, E>
    where
        E: From<tokio::task::JoinError> + Send + 'static,
    {
        let gate = lock(&self.inner.gate).clone();
        if let Some(mut gate) = gate {
            // Closed without opening (the build failed): go on, the caller drops the result.
            let _ = gate.wait_for(|open| *open).await;
        }
        let cell = lock(&self.inner.scans)
            .entry(spec.clone())
            .or_default()
            .clone();
        let mut ran = false;
        let files = cell
            .get_or_try_init(|| async {
                ran = true;
                tokio::task::spawn_blocking(scan).await?.map(Arc::new)
            })
            .await?
            .clone();
        self.count(|c| if ran { c.scans += 1 } else { c.reused += 1 });
        Ok(files)
    }

    /// A file's content and SHA-256, read and hashed once (blocking: call it off the async
    /// threads, as the diff does).
    pub fn read(
        &self,
        file: &LocalFile,
        read: impl FnOnce(&LocalFile) -> std::io::Result<Vec<u8>>,
    ) -> std::io::Result<(Vec<u8>, String)> {
        let key = (file.source.clone(), file.size, file.mtime_ns);
        let slot = lock(&self.inner.files).entry(key).or_default().clone();
        let mut held = lock(&slot);
        if let Some(done) = held.as_ref() {
            let done = done.clone();
            drop(held);
            self.count(|c| c.reused += 1);
            return Ok((done.0.clone(), done.1.clone()));
        }
        let data = read(file)?;
        let sha = sha256_hex(&data);
        let done = Arc::new((data, sha));
        *held = Some(done.clone());
        drop(held);
        self.count(|c| c.hashed += 1);
        Ok((done.0.clone(), done.1.clone()))
    }

    /// A changed file encoded for the patcher, against `base` (its previous content, whose
    /// SHA-256 is `base_sha`) when there is one: encoded once for every target that sends
    /// the same change from the same base (blocking: compression is CPU work).
    pub fn encode(&self, put: &Put, base: Option<(&str, &[u8])>, compress: bool) -> Encoded {
        let key = (
            put.sha256.clone(),
            base.map(|(sha, _)| sha.to_owned()),
            compress,
            put.executable,
        );
        let slot = lock(&self.inner.encoded).entry(key).or_default().clone();
        let mut held = lock(&slot);
        if let Some(done) = held.as_ref() {
            let done = done.clone();
            drop(held);
            self.count(|c| c.reused += 1);
            return done;
        }
        let done = encode::encode(put, base.map(|(_, b)| b), compress);
        *held = Some(done.clone());
        drop(held);
        self.count(|c| c.encoded += 1);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> LocalFile {
        LocalFile {
            path: path.into(),
            source: PathBuf::from("/nowhere").join(path),
            size,
            mtime_ns: Some(7),
            executable: false,
        }
    }

    #[tokio::test]
    async fn a_gated_scan_waits_for_the_build_and_a_dropped_gate_lets_it_go() {
        let spec = PackageSpec {
            folder: PathBuf::from("/p"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        let local = Local::new();
        let gate = local.gated();
        let built = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = built.clone();
        let scan = local.scan(&spec, move || {
            // The scan sees what the build wrote.
            assert!(
                seen.load(std::sync::atomic::Ordering::SeqCst),
                "scanned before the build"
            );
            Ok::<_, tokio::task::JoinError>(vec![file("a", 1)])
        });
        let build = async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            built.store(true, std::sync::atomic::Ordering::SeqCst);
            gate.open();
        };
        let (files, ()) = tokio::join!(scan, build);
        assert_eq!(files.expect("scan").len(), 1);

        let failed = Local::new();
        drop(failed.gated());
        let files = failed
            .scan(&spec, || Ok::<_, tokio::task::JoinError>(Vec::new()))
            .await;
        assert!(files.expect("not held forever").is_empty());
    }

    #[tokio::test]
    async fn each_package_is_scanned_once_however_many_targets_ask() {
        let local = Local::new();
        let spec = PackageSpec {
            folder: PathBuf::from("src/api"),
            include: Vec::new(),
            ignore: Vec::new(),
        };
        let asks =
            (0..5).map(|_| local.scan(&spec, || Ok::<_, anyhow::Error>(vec![file("a.py", 1)])));
        let all = futures::future::join_all(asks).await;
        assert!(all.iter().all(|r| r.as_ref().is_ok_and(|f| f.len() == 1)));
        assert_eq!(local.counts().scans, 1);
        assert_eq!(local.counts().reused, 4);
        // A failure is not kept: the next ask scans again.
        let other = PackageSpec {
            folder: PathBuf::from("src/other"),
            ..spec.clone()
        };
        let failed = local
            .scan(&other, || Err::<Vec<LocalFile>, _>(anyhow::anyhow!("gone")))
            .await;
        assert!(failed.is_err());
        let again = local
            .scan(&other, || Ok::<_, anyhow::Error>(Vec::new()))
            .await;
        assert!(again.is_ok());
        assert_eq!(local.counts().scans, 2);
    }

    #[test]
    fn a_file_is_read_and_hashed_once_per_content_and_a_new_mtime_reads_again() {
        let local = Local::new();
        let reads = std::cell::Cell::new(0);
        let read = |_: &LocalFile| {
            reads.set(reads.get() + 1);
            Ok(b"print(1)\n".to_vec())
        };
        let (data, sha) = local.read(&file("a.py", 9), read).expect("read");
        assert_eq!(data, b"print(1)\n");
        assert_eq!(sha, sha256_hex(b"print(1)\n"));
        let again = local.read(&file("a.py", 9), read).expect("again");
        assert_eq!(again.1, sha);
        assert_eq!(reads.get(), 1);
        let mut touched = file("a.py", 9);
        touched.mtime_ns = Some(8);
        local.read(&touched, read).expect("touched");
        assert_eq!(reads.get(), 2, "another mtime is another read");
        let missing = local.read(&file("b.py", 1), |_| {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        });
        assert!(missing.is_err());
        assert_eq!(local.counts().hashed, 2);
    }

    #[test]
    fn an_encoding_is_made_once_per_content_base_and_compression() {
        let local = Local::new();
        let data = b"x".repeat(100_000);
        let put = Put {
            path: "big.bin".into(),
            sha256: sha256_hex(&data),
            data,
            executable: false,
            added: false,
        };
        let a = local.encode(&put, None, true);
        let b = local.encode(&put, None, true);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(local.counts().encoded, 1);
        local.encode(&put, None, false);
        assert_eq!(
            local.counts().encoded,
            2,
            "uncompressed is another encoding"
        );
    }
}
