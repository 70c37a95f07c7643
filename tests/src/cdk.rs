//! CDK apps on the local rig: the CDK test app (`tests/apps/cdk-app`) copied into a temporary
//! folder, and the app's own CDK CLI (`aws-cdk`, pinned in its package-lock) run against the
//! rig as a user runs it: `cdk synth`, `cdk bootstrap`, `cdk deploy`, `cdk deploy --hotswap`,
//! `cdk watch`.
//!
//! The CLI talks to moto through the rig's proxy ([`crate::proxy::S3Proxy`]), at
//! `http://127.0.0.1:PORT` ([`cdk_endpoint`]): with `localhost` the CDK's S3 client uses
//! virtual-host addressing (`cdk-hnb659fds-assets-….localhost`), which does not resolve, and no
//! asset is published. With `127.0.0.1`, moto alone would then fail the change set (it takes the
//! TemplateURL's bucket from the host, `127`); the proxy reads the template for it, and keeps
//! change sets per stack as CloudFormation does (see `tests/src/proxy.rs`).
//!
//! `make cdk-deps` (part of `make test`) installs the app's `node_modules`; each copy links it
//! instead of copying its 227 MB. Every CDK command here has a deadline and keeps its output
//! (stdout and stderr interleaved) for the failure message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::app::{App, PATCHER, Rig};
use crate::rig::{Moto, Patcher, REGION, lambda_client, s3_client, sdk_config};

/// The account and region the test app's stacks name (`bin/app.js`).
pub const ACCOUNT: &str = "123456789012";
/// The test app's stacks, in deploy order.
pub const STACKS: [&str; 2] = ["QdCdkApi", "QdCdkJobs"];
/// The bootstrap stack's assets bucket (default qualifier `hnb659fds`).
pub const ASSETS_BUCKET: &str = "cdk-hnb659fds-assets-123456789012-us-east-1";
/// The environment `cdk bootstrap` is given.
pub const ENVIRONMENT: &str = "aws://123456789012/us-east-1";

/// Deadline of a synth (bundles four functions with esbuild: about 6 to 18 s here).
pub const SYNTH_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of a bootstrap (about 7 s here).
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of a deploy or hotswap (4 to 8 s here).
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(180);

/// `tests/apps/cdk-app`, the committed CDK test app.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apps/cdk-app")
}

/// The endpoint to give the CDK CLI for the proxy at `endpoint`: the same port at
/// `http://127.0.0.1` (the rig's endpoints read `http://localhost:PORT`, which the CDK's S3
/// client turns into virtual-host names that do not resolve).
pub fn cdk_endpoint(endpoint: &str) -> String {
    endpoint.replacen("://localhost:", "://127.0.0.1:", 1)
}

/// Copies the CDK app in `from` into `to`: every file but `node_modules`, `cdk.out` and
/// `.quickdeploy`, with modification times kept; `node_modules` becomes a link to the
/// original's (`make cdk-deps` installs it). Panics, naming the fix, when it is not installed.
pub fn copy_app(from: &Path, to: &Path) {
    let modules = from.join("node_modules");
    assert!(
        modules.join(".bin/cdk").exists(),
        "{} has no CDK CLI: run `make cdk-deps` (make test does)",
        from.display()
    );
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read the CDK app") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if ["node_modules", "cdk.out", ".quickdeploy"].contains(&name.to_str().unwrap_or("")) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            crate::app::copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
    std::os::unix::fs::symlink(&modules, to.join("node_modules")).expect("link node_modules");
}

/// A CDK command that ran: whether it succeeded, what it printed, how long it took.
#[derive(Debug)]
pub struct CdkRun {
    /// The command line, for messages (`cdk deploy --hotswap QdCdkApi`).
    pub command: String,
    /// Exit code; `None` when it was killed at its deadline.
    pub code: Option<i32>,
    /// stdout and stderr, interleaved as printed.
    pub output: String,
    /// Wall time from start to exit.
    pub took: Duration,
}

impl CdkRun {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the command's output unless it exited 0; `self` otherwise.
    pub fn assert_ok(self) -> Self {
        assert!(
            self.ok(),
            "`{}` failed (exit {:?}, after {:.1?}):\n{}",
            self.command,
            self.code,
            self.took,
            self.output
        );
        self
    }
}

/// The app's CDK CLI pointed at the rig, in a CDK app's folder.
pub struct Cdk {
    /// The app's root (holds `cdk.json`).
    pub root: PathBuf,
    /// `AWS_ENDPOINT_URL` for the CDK: the proxy at `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The CLI's own home (`CDK_HOME`: its caches), and an empty folder to bootstrap from.
    scratch: tempfile::TempDir,
}

impl Cdk {
    /// The CDK of the app at `root`, talking to the proxy at `proxy_endpoint` (any host form:
    /// it is given to the CDK as [`cdk_endpoint`]).
    pub fn new(root: &Path, proxy_endpoint: &str) -> Self {
        let scratch = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(scratch.path().join("empty")).expect("mkdir");
        Self {
            root: root.to_owned(),
            endpoint: cdk_endpoint(proxy_endpoint),
            scratch,
        }
    }

    /// The app's cloud assembly folder (`cdk.out`).
    pub fn assembly(&self) -> PathBuf {
        self.root.join("cdk.out")
    }

    /// `cdk ARGS` as `npx cdk ARGS` runs it (the app's `node_modules/.bin/cdk`, started
    /// directly: one process to time and to kill), in `cwd`, with the environment that points
    /// it at the rig: the endpoint, fake credentials, the region, no shared AWS config, no
    /// version check, telemetry or notices (nothing leaves the machine).
    pub fn command_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.root.join("node_modules/.bin/cdk"));
        cmd.current_dir(cwd)
            .args(args)
            .arg("--no-notices")
            .env_remove("AWS_PROFILE")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.scratch.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.scratch.path().join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CDK_HOME", self.scratch.path().join("cdk-home"))
            .env("CDK_DISABLE_VERSION_CHECK", "1")
            .env("CDK_DISABLE_CLI_TELEMETRY", "true");
        cmd
    }

    /// [`Cdk::command_in`] the app's root.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(&self.root, args)
    }

    /// Runs `cdk ARGS` in `cwd` to its end or its deadline (then it is killed, and the run
    /// says so: `code` is `None`).
    pub fn run_in(&self, cwd: &Path, args: &[&str], timeout: Duration) -> CdkRun {
        let command = format!("cdk {}", args.join(" "));
        let log = self.scratch.path().join("run.log");
        let child = spawn_logged(self.command_in(cwd, args), &log);
        let started = Instant::now();
        let code = wait_until(child, started + timeout);
        let took = started.elapsed();
        let mut output = std::fs::read_to_string(&log).unwrap_or_default();
        if code.is_none() {
            output.push_str(&format!("\n[killed: no exit within {timeout:?}]"));
        }
        CdkRun {
            command,
            code,
            output,
            took,
        }
    }

    /// [`Cdk::run_in`] the app's root.
    pub fn run(&self, args: &[&str], timeout: Duration) -> CdkRun {
        self.run_in(&self.root, args, timeout)
    }

    /// `cdk synth -q`: the app's cloud assembly into `cdk.out`, every stack bundled.
    pub fn synth(&self) -> CdkRun {
        self.run(&["synth", "-q"], SYNTH_TIMEOUT)
    }

    /// `cdk bootstrap aws://123456789012/us-east-1` (the CDKToolkit stack, its assets bucket,
    /// roles and version parameter), run from an empty folder: in the app's folder the CDK
    /// synthesizes the app first, with bundling skipped (it bundles only for deploy, synth,
    /// watch), and writes over `cdk.out` an assembly whose NodejsFunction assets are the whole
    /// project folder.
    pub fn bootstrap(&self) -> CdkRun {
        let empty = self.scratch.path().join("empty");
        self.run_in(&empty, &["bootstrap", ENVIRONMENT], BOOTSTRAP_TIMEOUT)
    }

    /// `cdk deploy --app cdk.out STACKS --require-approval never`: the synthesized assembly
    /// deployed as it is (assets published, one change set per stack, executed).
    pub fn deploy(&self, stacks: &[&str]) -> CdkRun {
        let mut args = vec!["deploy", "--app", "cdk.out"];
        args.extend_from_slice(stacks);
        args.extend(["--require-approval", "never"]);
        self.run(&args, DEPLOY_TIMEOUT)
    }

    /// `cdk deploy --hotswap STACKS --require-approval never`: the CDK's fast path, a synth of
    /// the app, then each changed asset published and its function's code updated directly.
    pub fn hotswap(&self, stacks: &[&str]) -> CdkRun {
        let mut args = vec!["deploy", "--hotswap"];
        args.extend_from_slice(stacks);
        args.extend(["--require-approval", "never"]);
        self.run(&args, DEPLOY_TIMEOUT)
    }

    /// Starts `cdk watch STACKS` (hotswap on each save, `cdk.json`'s `watch` rules), in the
    /// background until the handle drops.
    pub fn watch(&self, stacks: &[&str]) -> CdkWatch {
        let mut args = vec!["watch"];
        args.extend_from_slice(stacks);
        args.extend(["--require-approval", "never"]);
        let log = self.scratch.path().join("watch.log");
        let child = spawn_logged(self.command(&args), &log);
        CdkWatch { child, log }
    }

    /// A stack's synthesized template (`cdk.out/<stack>.template.json`).
    pub fn template(&self, stack: &str) -> serde_json::Value {
        let path = self.assembly().join(format!("{stack}.template.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run cdk synth first)", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The templates of a stack's nested stacks (`NestedStack`: an `AWS::CloudFormation::Stack`
    /// whose template is an asset, `*.nested.template.json`), by the parent's logical id.
    pub fn nested_templates(&self, stack: &str) -> HashMap<String, serde_json::Value> {
        let template = self.template(stack);
        let mut out = HashMap::new();
        for (id, r) in template["Resources"].as_object().into_iter().flatten() {
            if r["Type"] != "AWS::CloudFormation::Stack" {
                continue;
            }
            let Some(file) = r["Metadata"]["aws:asset:path"].as_str() else {
                continue;
            };
            let path = self.assembly().join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(
                id.clone(),
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            );
        }
        out
    }

    /// The asset object key of each function and layer version of a stack's synthesized
    /// template (`Code.S3Key`, `Content.S3Key`: `<hash>.zip` in [`ASSETS_BUCKET`]), by logical
    /// id.
    pub fn asset_keys(&self, stack: &str) -> HashMap<String, String> {
        let template = self.template(stack);
        let Some(resources) = template["Resources"].as_object() else {
            return HashMap::new();
        };
        resources
            .iter()
            .filter_map(|(id, r)| {
                let key = match r["Type"].as_str()? {
                    "AWS::Lambda::Function" => &r["Properties"]["Code"]["S3Key"],
                    "AWS::Lambda::LayerVersion" => &r["Properties"]["Content"]["S3Key"],
                    _ => return None,
                };
                Some((id.clone(), key.as_str()?.to_owned()))
            })
            .collect()
    }
}

/// A `cdk watch` running in the background; killed when dropped.
pub struct CdkWatch {
    child: Child,
    log: PathBuf,
}

impl CdkWatch {
    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its output holds `text` `times` times or more, or `wait` passed; whether
    /// it did.
    pub fn wait_for(&self, text: &str, times: usize, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.output().matches(text).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for CdkWatch {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Starts `cmd` in a process group of its own (the CDK starts the app and esbuild as
/// children: a deadline kills them all), dying with the test process, its stdout and stderr
/// both into `log`.
fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let file = std::fs::File::create(log).expect("CDK log");
    let err = file.try_clone().expect("CDK log");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .expect("start the CDK CLI (tests/apps/cdk-app/node_modules: run `make cdk-deps`)")
}

/// Waits for `child` until `deadline`; its exit code, or `None` when it was killed then.
fn wait_until(mut child: Child, deadline: Instant) -> Option<i32> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // What the CLI left running in its group (none, normally) goes with it.
                kill_group(&mut child);
                return status.code();
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                kill_group(&mut child);
                return None;
            }
        }
    }
}

/// Kills the child's process group (it leads one: [`spawn_logged`]) and reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: a plain syscall on a process group this process made.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

/// Runs `f` (a CDK command: it blocks for seconds) from a test on tokio's multi-thread runtime,
/// without stalling the proxy's tasks on this worker (`tokio::task::block_in_place`; it panics
/// on the current-thread runtime).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The rig with the CDK test app: moto, the proxy in front of it, the patcher, a copy of
/// `tests/apps/cdk-app` as the app quickdeploy runs in ([`Rig::app`], its `endpoint` the
/// proxy's), and the app's CDK CLI pointed at the same proxy. Nothing is bootstrapped or
/// deployed yet.
pub struct CdkRig {
    /// moto, the proxy, the patcher and the app copy, as for the SAM apps.
    pub rig: Rig,
    /// The app's CDK CLI, in the copy.
    pub cdk: Cdk,
}

impl CdkRig {
    /// A fresh rig and a fresh copy of the CDK test app.
    pub async fn start() -> Self {
        let moto = Moto::start();
        let proxy = crate::proxy::S3Proxy::start(&moto.endpoint()).await;
        let patcher =
            Patcher::start_named(&crate::bin("zipedit"), &moto.endpoint(), 1, PATCHER).await;
        let dir = tempfile::tempdir().expect("tmp");
        copy_app(&source(), dir.path());
        let conf = sdk_config(&moto.endpoint()).await;
        let app = App {
            endpoint: proxy.endpoint.clone(),
            patcher_endpoint: patcher.invoke_endpoint.clone(),
            s3: s3_client(&moto.endpoint()).await,
            lambda: lambda_client(&moto.endpoint()).await,
            cfn: aws_sdk_cloudformation::Client::new(&conf),
            dir,
        };
        let cdk = Cdk::new(app.root(), &proxy.endpoint);
        Self {
            rig: Rig {
                moto,
                proxy,
                patcher,
                app,
            },
            cdk,
        }
    }

    /// [`CdkRig::start`], then `cdk synth`, `cdk bootstrap` and `cdk deploy` of both stacks,
    /// each asserted to succeed (about 20 s here).
    pub async fn deployed() -> Self {
        let this = Self::start().await;
        let cdk = &this.cdk;
        blocking(|| {
            std::thread::scope(|s| {
                // The synth (local work) and the bootstrap (the rig) side by side.
                let synth = s.spawn(|| cdk.synth());
                cdk.bootstrap().assert_ok();
                synth.join().expect("synth").assert_ok();
            });
            cdk.deploy(&STACKS).assert_ok();
        });
        this
    }

    /// Each function's CodeSha256 by logical id, over both stacks, as Lambda (moto) reports it.
    pub async fn code_shas(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for stack in STACKS {
            let names = self.rig.app.stack_functions(stack).await;
            out.extend(self.rig.app.code_shas_of(&names).await);
        }
        out
    }

    /// The functions of a stack's nested stacks, physical name by `<nested stack's logical
    /// id>/<function's logical id>`, as CloudFormation names them: DescribeStackResources of
    /// the parent gives each nested stack's ARN (at the proxy, as AWS gives it), then of that.
    pub async fn nested_functions(&self, stack: &str) -> HashMap<String, String> {
        let app = &self.rig.app;
        let mut out = HashMap::new();
        for (id, arn) in self.nested_stacks(stack).await {
            for (f, name) in app.stack_functions(&arn).await {
                out.insert(format!("{id}/{f}"), name);
            }
        }
        out
    }

    /// A stack's nested stacks, physical id by logical id, as CloudFormation at the proxy
    /// answers (the stack ARN).
    pub async fn nested_stacks(&self, stack: &str) -> HashMap<String, String> {
        let at_proxy =
            aws_sdk_cloudformation::Client::new(&sdk_config(&self.rig.proxy.endpoint).await);
        nested_stacks(&at_proxy, stack).await
    }

    /// [`CdkRig::nested_stacks`] as moto alone answers (the nested stack's name).
    pub async fn nested_stacks_at_moto(&self, stack: &str) -> HashMap<String, String> {
        nested_stacks(&self.rig.app.cfn, stack).await
    }

    /// The CodeSha256 of each asset object in [`ASSETS_BUCKET`] that a stack's synthesized
    /// template names, by logical id (functions and layer versions): what Lambda reports for a
    /// function that runs that asset.
    pub async fn asset_shas(&self, stack: &str) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (id, key) in self.cdk.asset_keys(stack) {
            let zip = self.rig.app.object_in(ASSETS_BUCKET, &key, None).await;
            out.insert(id, crate::fixtures::code_sha256(&zip));
        }
        out
    }
}

/// The nested stacks of `stack` as `cfn` answers, physical id by logical id.
async fn nested_stacks(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> HashMap<String, String> {
    crate::app::resources_of_type(cfn, stack, "AWS::CloudFormation::Stack").await
}
