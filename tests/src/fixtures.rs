//! Setups that several tests and benchmarks share: Lambda's CodeSha256 of a zip, packages of
//! incompressible files, and the patcher alone on the rig (moto, a fault proxy in front of it,
//! the zipedit binary behind the Invoke API) with the calls its tests make.

use aws_sdk_lambda::primitives::Blob;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::proxy::S3Proxy;
use crate::rig::{Moto, Patcher, lambda_client, s3_client};

/// Lambda's CodeSha256 of a zip: the base64 of its SHA-256.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Files of 1 MiB of incompressible bytes each (mode 0644), as a packaging tool writes
/// vendored libraries: file `i` is named `name(i)` and holds `noise(seed + i, 1 MiB)`.
pub struct NoiseFiles(Vec<(String, Vec<u8>)>);

impl NoiseFiles {
    /// `count` files of 1 MiB.
    pub fn mib(count: u64, seed: u64, name: impl Fn(u64) -> String) -> Self {
        Self(
            (0..count)
                .map(|i| (name(i), crate::noise(seed + i, 1024 * 1024)))
                .collect(),
        )
    }

    /// The files as `zipcheck::zip_crate_archive` takes them: (name, bytes, mode).
    pub fn files(&self) -> Vec<(&str, &[u8], u32)> {
        self.0
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice(), 0o644))
            .collect()
    }
}

/// What an invocation of the patcher gave: its answer, or (errorType, errorMessage).
pub type Invoked = Result<Value, (String, String)>;

/// The patcher alone on the rig: moto, a fault proxy between the patcher and moto, and the
/// zipedit binary behind the Invoke API as function `zipedit`.
pub struct PatcherRig {
    /// moto.
    pub moto: Moto,
    /// Between the patcher and moto, for what moto cannot do itself.
    pub proxy: S3Proxy,
    /// The zipedit processes and their Invoke API.
    pub patcher: Patcher,
    /// S3 straight at moto, for setting up and checking.
    pub s3: aws_sdk_s3::Client,
    /// Lambda at the patcher's Invoke API.
    pub lambda: aws_sdk_lambda::Client,
}

impl PatcherRig {
    /// Starts it with `instances` zipedit processes (Lambda runs concurrent invocations in
    /// separate instances).
    pub async fn start(instances: usize) -> Self {
        let moto = Moto::start();
        let proxy = S3Proxy::start(&moto.endpoint()).await;
        let patcher = Patcher::start(&crate::bin("zipedit"), &proxy.endpoint, instances).await;
        let s3 = s3_client(&moto.endpoint()).await;
        let lambda = lambda_client(&patcher.invoke_endpoint).await;
        Self {
            moto,
            proxy,
            patcher,
            s3,
            lambda,
        }
    }

    /// Makes a bucket, versioned when asked.
    pub async fn bucket(&self, name: &str, versioned: bool) {
        crate::rig::make_bucket(&self.s3, name, versioned).await;
    }

    /// Puts an object.
    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        crate::rig::put_object(&self.s3, bucket, key, body).await;
    }

    /// An object's bytes.
    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        crate::rig::get_object(&self.s3, bucket, key).await
    }

    /// The setup most patcher tests start with: a new bucket holding one artifact.
    pub async fn artifact(&self, bucket: &str, versioned: bool, key: &str, zip: Vec<u8>) {
        self.bucket(bucket, versioned).await;
        self.put(bucket, key, zip).await;
    }

    /// Invokes the patcher as the SDK does (Lambda answers 200 even to a function error,
    /// which it marks `Unhandled`).
    pub async fn invoke(&self, event: &Value) -> Invoked {
        let out = self
            .lambda
            .invoke()
            .function_name("zipedit")
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .expect("the Invoke API answers");
        assert_eq!(out.status_code(), 200);
        let body: Value =
            serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("JSON answer");
        match out.function_error() {
            None => Ok(body),
            Some(kind) => {
                assert_eq!(kind, "Unhandled");
                Err((
                    body["errorType"].as_str().unwrap_or_default().into(),
                    body["errorMessage"].as_str().unwrap_or_default().into(),
                ))
            }
        }
    }

    /// Checks a patch answer against the object now in S3 (size, CodeSha256, ETag); its bytes.
    pub async fn check_answer(&self, answer: &Value) -> Vec<u8> {
        let (bucket, key) = (
            answer["bucket"].as_str().expect("bucket"),
            answer["key"].as_str().expect("key"),
        );
        let head = self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        let bytes = self.get(bucket, key).await;
        assert_eq!(answer["size"].as_u64(), Some(bytes.len() as u64), "size");
        assert_eq!(
            answer["code_sha256"].as_str(),
            Some(code_sha256(&bytes).as_str()),
            "CodeSha256 is the SHA-256 of the object"
        );
        assert_eq!(answer["etag"].as_str(), head.e_tag(), "ETag");
        bytes
    }
}

/// The entry of `logical_id` in a `deploy`/`rollback --json` report's `functions`.
pub fn function<'a>(doc: &'a Value, logical_id: &str) -> &'a Value {
    doc["functions"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["logical_id"] == logical_id))
        .unwrap_or_else(|| panic!("no {logical_id} in {doc}"))
}

/// Each function of a `deploy`/`rollback --json` report with its status, in report order.
pub fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| {
            (
                f["logical_id"].as_str().unwrap_or_default().to_owned(),
                f["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The entry of the artifact whose key ends with `key_suffix` in a report's `artifacts`.
pub fn artifact<'a>(doc: &'a Value, key_suffix: &str) -> &'a Value {
    doc["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["artifact"]
                    .as_str()
                    .unwrap_or_default()
                    .ends_with(key_suffix)
            })
        })
        .unwrap_or_else(|| panic!("no artifact *{key_suffix} in {doc}"))
}
