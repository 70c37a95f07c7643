//! The example app (`examples/app`) on the local rig: a copy in a temporary folder, its
//! artifact bucket in moto, and the `quickdeploy` binary run against it as a user runs it, with
//! the standard AWS environment pointing at the rig.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::rig::{REGION, lambda_client, s3_client, sdk_config};

/// The example app's stack and bucket, as its quickdeploy.toml names them.
pub const STACK: &str = "quickdeploy-example";
/// The patcher's function name quickdeploy invokes by default.
pub const PATCHER: &str = "quickdeploy-zipedit";
/// The example app's artifact bucket.
pub const BUCKET: &str = "quickdeploy-example-artifacts";

/// A copy of the example app, wired to a rig.
pub struct App {
    /// The copy's root (holds quickdeploy.toml).
    pub dir: tempfile::TempDir,
    /// `AWS_ENDPOINT_URL` for the CLI: moto, or a proxy in front of it.
    pub endpoint: String,
    /// The patcher's Invoke API.
    pub patcher_endpoint: String,
    /// Clients straight to moto, for checking what the CLI did.
    pub s3: aws_sdk_s3::Client,
    /// Lambda on moto.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudFormation on moto.
    pub cfn: aws_sdk_cloudformation::Client,
}

/// Copies the folder `from` into `to`, keeping each file's modification time (as `cp -p`).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
            // The original's modification time, as `cp -p` keeps it: cargo decides by
            // times, and a copy that looked newer than the shared build of its crate
            // ([`rust_target_dir`]) would recompile it in every test.
            let modified = entry.metadata().and_then(|m| m.modified()).expect("mtime");
            std::fs::File::options()
                .write(true)
                .open(&target)
                .and_then(|f| f.set_modified(modified))
                .expect("set mtime");
        }
    }
}

/// cargo's target folder for the Rust functions of every copy of the test apps
/// (`CARGO_TARGET_DIR` for the CLI): their dependencies (lambda_runtime, tokio) are compiled
/// once for all tests, not once per temporary copy.
pub fn rust_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("rust-apps")
}

/// Compiles the crate in `source/src/wordcount` (the example app's Rust function) into
/// [`rust_target_dir`] once per test process, before any test's clock starts: on a fresh
/// clone that compiles its dependencies (about 50 s on two cores), which would otherwise
/// land inside the first tests' deadlines. cargo's lock keeps processes from doing it twice.
fn warm_rust(source: &Path) {
    static WARM: std::sync::Once = std::sync::Once::new();
    let krate = source.join("src/wordcount");
    if !krate.join("Cargo.toml").is_file() {
        return;
    }
    WARM.call_once(|| {
        let triple = match std::env::consts::ARCH {
            "aarch64" => "aarch64-unknown-linux-gnu",
            _ => "x86_64-unknown-linux-gnu",
        };
        let out = Command::new("cargo")
            .args(["build", "--release", "--target", triple, "--target-dir"])
            .arg(rust_target_dir())
            .current_dir(&krate)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building {} failed:\n{}",
            krate.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

impl App {
    /// Copies the example app and creates its (versioned) bucket in moto at `moto_endpoint`.
    /// The CLI will talk to `endpoint` (moto itself, or a proxy in front of it).
    pub async fn new(moto_endpoint: &str, endpoint: &str, patcher_endpoint: &str) -> Self {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/app");
        Self::from_dir(&example, BUCKET, moto_endpoint, endpoint, patcher_endpoint).await
    }

    /// Like [`App::new`], for the app in `source` whose artifact bucket is `bucket`.
    pub async fn from_dir(
        source: &Path,
        bucket: &str,
        moto_endpoint: &str,
        endpoint: &str,
        patcher_endpoint: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let warm = source.to_owned();
        tokio::task::spawn_blocking(move || warm_rust(&warm))
            .await
            .expect("join");
        copy_dir(source, dir.path());
        let s3 = s3_client(moto_endpoint).await;
        crate::rig::make_bucket(&s3, bucket, true).await;
        let conf = sdk_config(moto_endpoint).await;
        Self {
            dir,
            endpoint: endpoint.to_owned(),
            patcher_endpoint: patcher_endpoint.to_owned(),
            s3,
            lambda: lambda_client(moto_endpoint).await,
            cfn: aws_sdk_cloudformation::Client::new(&conf),
        }
    }

    /// The app's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The `quickdeploy` command, ready to run in the app's root against the rig.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::bin("quickdeploy"));
        cmd.current_dir(self.root())
            .args(args)
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("QUICKDEPLOY_PATCHER_ENDPOINT", &self.patcher_endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            // No shared config or credentials files from the machine running the tests.
            .env("AWS_CONFIG_FILE", self.root().join(".no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.root().join(".no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CARGO_TARGET_DIR", rust_target_dir());
        cmd
    }

    /// Runs `quickdeploy ARGS` to the end (off the async runtime's threads).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("run quickdeploy"))
            .await
            .expect("join")
    }

    /// Runs `quickdeploy ARGS --json`, and parses the one document it prints.
    pub async fn run_json(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        let out = self.run(&all).await;
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "quickdeploy {args:?} printed no JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, doc)
    }

    /// Writes a file of the app (creating folders).
    pub fn write(&self, path: &str, body: &str) {
        let p = self.root().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    /// Physical function names by logical id, from the example app's stack.
    pub async fn function_names(&self) -> HashMap<String, String> {
        self.stack_functions(STACK).await
    }

    /// Physical function names by logical id, from a stack.
    pub async fn stack_functions(&self, stack: &str) -> HashMap<String, String> {
        resources_of_type(&self.cfn, stack, "AWS::Lambda::Function").await
    }
    /// Each function's CodeSha256 by logical id, as Lambda (moto) reports it.
    pub async fn code_shas(&self) -> HashMap<String, String> {
        self.code_shas_of(&self.function_names().await).await
    }

    /// Each of these functions' CodeSha256 (physical names by logical id), by logical id.
    pub async fn code_shas_of(&self, names: &HashMap<String, String>) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (id, name) in names {
            let c = self
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .expect("get_function_configuration");
            out.insert(id.clone(), c.code_sha256().unwrap_or_default().to_owned());
        }
        out
    }

    /// The latest version of a stack's layer, straight from moto, which names it
    /// `<stack>-<logical id>-<suffix>` (SAM's logical id: `<id><hash>`).
    pub async fn stack_layer(&self, stack: &str, id: &str) -> String {
        let prefix = format!("{stack}-{id}");
        let layers = self.lambda.list_layers().send().await.expect("list_layers");
        layers
            .layers()
            .iter()
            .find(|l| l.layer_name().is_some_and(|n| n.starts_with(&prefix)))
            .and_then(|l| l.latest_matching_version()?.layer_version_arn())
            .unwrap_or_else(|| panic!("no layer {prefix}* in {layers:?}"))
            .to_owned()
    }

    /// A function's layer ARNs and CodeSha256, at `qualifier` (a version or alias) or
    /// `$LATEST`.
    pub async fn running(&self, name: &str, qualifier: Option<&str>) -> (Vec<String>, String) {
        let c = self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await
            .expect("get_function_configuration");
        let layers = c
            .layers()
            .iter()
            .filter_map(|l| l.arn().map(str::to_owned))
            .collect();
        (layers, c.code_sha256().unwrap_or_default().to_owned())
    }

    /// The version a function's alias points at.
    pub async fn alias_version(&self, name: &str, alias: &str) -> String {
        self.lambda
            .get_alias()
            .function_name(name)
            .name(alias)
            .send()
            .await
            .expect("get_alias")
            .function_version()
            .expect("a version")
            .to_owned()
    }

    /// A function's MemorySize, as Lambda (moto) reports it, by logical id.
    pub async fn memory_size(&self, id: &str) -> Option<i32> {
        let name = self.function_names().await.remove(id)?;
        self.lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("get_function_configuration")
            .memory_size()
    }

    /// The bytes of an object in the example app's bucket.
    pub async fn object(&self, key: &str, version: Option<&str>) -> Vec<u8> {
        self.object_in(BUCKET, key, version).await
    }

    /// The object that the patch of the artifact whose key ends with `key_suffix` wrote, at
    /// the version a `deploy --json` report names: what the function runs.
    pub async fn patched(&self, report: &serde_json::Value, key_suffix: &str) -> Vec<u8> {
        let a = crate::fixtures::artifact(report, key_suffix);
        let key = a["patch"]["key"].as_str().expect("patched key");
        self.object(key, a["patch"]["version_id"].as_str()).await
    }

    /// The keys in `bucket` under `prefix` (up to S3's 1,000 a listing): what a test checks
    /// when nothing may have been uploaded.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// The bytes of an object.
    pub async fn object_in(&self, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
        let mut get = self.s3.get_object().bucket(bucket).key(key);
        if let Some(v) = version {
            get = get.version_id(v);
        }
        get.send()
            .await
            .expect("get_object")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    }

    /// A path in the app.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// `quickdeploy ARGS` on a pseudo-terminal (util-linux `script`), as a person at a
    /// terminal runs it: stdin, stdout and stderr are the terminal. Type with
    /// [`Terminal::type_line`], read what it showed with [`Terminal::wait_for`].
    pub fn on_terminal(&self, args: &[&str]) -> Terminal {
        self.on_terminal_with(args, &[])
    }

    /// [`App::on_terminal`] with more environment.
    pub fn on_terminal_with(&self, args: &[&str], env: &[(&str, &str)]) -> Terminal {
        let mut template = self.command(args);
        for (k, v) in env {
            template.env(k, v);
        }
        let line = std::iter::once(crate::bin("quickdeploy").display().to_string())
            .chain(args.iter().map(|a| (*a).to_owned()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &line, "/dev/null"])
            .current_dir(self.root())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd
            .spawn()
            .expect("run `script` (util-linux) for a pseudo-terminal");
        let mut stdout = child.stdout.take().expect("stdout");
        let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shown = screen.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        });
        Terminal { child, screen }
    }
}

/// A command running on a pseudo-terminal; killed when dropped.
pub struct Terminal {
    child: std::process::Child,
    screen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Types `text` and Enter.
    pub fn type_line(&mut self, text: &str) {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{text}\n").as_bytes())
            .expect("type");
        stdin.flush().expect("flush");
    }

    /// Everything the terminal showed so far, control sequences included.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// Waits until the terminal shows `text` (true), or `wait` passes (false).
    pub fn wait_for(&self, text: &str, wait: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if self.screen().contains(text) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    /// Waits for the command to end; its exit code.
    pub fn wait(&mut self, wait: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    /// Sends Ctrl-C, as a person at the terminal does.
    pub fn interrupt(&mut self) {
        use std::io::Write as _;
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"\x03");
            let _ = stdin.flush();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rig with the example app deployed: moto, a proxy in front of it that the CLI talks to,
/// the patcher, and the app after `quickdeploy full`.
pub struct Rig {
    /// moto.
    pub moto: crate::rig::Moto,
    /// Between the CLI and moto.
    pub proxy: crate::proxy::S3Proxy,
    /// The zipedit binary behind the Invoke API, as `quickdeploy-zipedit`.
    pub patcher: crate::rig::Patcher,
    /// The example app.
    pub app: App,
}

impl Rig {
    /// A fresh rig and the example app copied into it, not yet deployed.
    pub async fn start() -> Self {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/app");
        Self::start_with(&example, BUCKET).await
    }

    /// A fresh rig and the test app `tests/apps/<name>` (artifact bucket `bucket`) copied into
    /// it, not yet deployed.
    pub async fn start_app(name: &str, bucket: &str) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("apps")
            .join(name);
        Self::start_with(&source, bucket).await
    }

    /// A fresh rig and the app in `source` (artifact bucket `bucket`) copied into it, not yet
    /// deployed: for apps a test writes itself.
    pub async fn start_with(source: &Path, bucket: &str) -> Self {
        let moto = crate::rig::Moto::start();
        let proxy = crate::proxy::S3Proxy::start(&moto.endpoint()).await;
        let patcher = crate::rig::Patcher::start_named_via(
            &crate::bin("zipedit"),
            &moto.endpoint(),
            &proxy.endpoint,
            1,
            PATCHER,
        )
        .await;
        let app = App::from_dir(
            source,
            bucket,
            &moto.endpoint(),
            &proxy.endpoint,
            &patcher.invoke_endpoint,
        )
        .await;
        Self {
            moto,
            proxy,
            patcher,
            app,
        }
    }

    /// [`Rig::start`], then `quickdeploy full --yes`.
    pub async fn deployed() -> Self {
        let rig = Self::start().await;
        let (out, doc) = rig.app.run_json(&["full", "--yes"]).await;
        assert!(
            out.status.success(),
            "full deploy of the example app failed: {doc}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(doc["outcome"], "deployed", "{doc}");
        rig
    }
}

/// The physical ids of a stack's resources of `kind`, by logical id (DescribeStackResources).
pub async fn resources_of_type(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    kind: &str,
) -> HashMap<String, String> {
    cfn.describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .expect("describe_stack_resources")
        .stack_resources()
        .iter()
        .filter(|r| r.resource_type() == Some(kind))
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_owned(),
                r.physical_resource_id()?.to_owned(),
            ))
        })
        .collect()
}
