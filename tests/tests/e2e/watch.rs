//! `quickdeploy watch` end to end: the real CLI watching a copy of the example app, deploying
//! through the real zipedit binary into moto. Each case saves files the way editors and tools
//! do, then polls moto until the functions' CodeSha256 changes or a timeout passes, and counts
//! the deploy rounds `watch --json` reports (one JSON line each).

use std::io::BufRead as _;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::app::{App, Rig};
use testkit::proxy::LambdaFault;

/// A running `quickdeploy watch --json`, its JSON lines on a channel (used by the other
/// modules that watch too).
pub(crate) struct Watch {
    child: Child,
    lines: Receiver<Value>,
    /// The round watch runs as it starts, for what was pending then.
    pub(crate) initial: Value,
}

impl Watch {
    /// Starts watch and waits for its first round (what was pending at start).
    pub(crate) async fn start(app: &App, extra: &[&str]) -> Self {
        // 250 ms rather than the default 100: a loaded CI machine can stall a burst of saves.
        let mut args = vec!["watch", "--json", "--debounce-ms", "250"];
        args.extend_from_slice(extra);
        let mut cmd = app.command(&args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start quickdeploy watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        // Its watches are registered before the first round starts.
        let initial = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the round watch runs as it starts");
        Self {
            child,
            lines,
            initial,
        }
    }

    /// Presses Enter in watch's input.
    fn enter(&mut self) {
        use std::io::Write as _;
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
    }

    /// The next round, or `None` if none comes within `wait`.
    pub(crate) fn next(&self, wait: Duration) -> Option<Value> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Every round that comes within `wait`.
    pub(crate) fn rounds(&self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until `id`'s CodeSha256 differs from `before`; the new one.
async fn changed(app: &App, id: &str, before: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let now = app.code_shas().await.remove(id).unwrap_or_default();
        if now != before {
            return Some(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn outcome(round: &Value) -> &str {
    round["report"]["outcome"].as_str().unwrap_or("error")
}

pub(crate) fn greeting(text: &str) -> String {
    format!("def greeting(name):\n    return f\"{text}, {{name}}!\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_of_every_kind_deploy_once_and_noise_does_not() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    std::fs::write(app.path(".gitignore"), "*.log\n").expect("gitignore");
    // --yes: without a terminal, a fallback to full needs it (the dependency change below).
    let watch = Watch::start(app, &["--yes"]).await;

    // A plain save.
    let before = app.code_shas().await;
    app.write("src/shared/greeting.py", &greeting("Plain"));
    let after = changed(app, "HelloFunction", &before["HelloFunction"]).await;
    assert!(after.is_some(), "a plain save went live");
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    let shas = app.code_shas().await;
    assert_eq!(
        shas["GreetFunction"], shas["HelloFunction"],
        "the shared folder's functions both"
    );
    assert_eq!(
        shas["ReportFunction"], before["ReportFunction"],
        "and nothing else"
    );

    // An atomic save: write a temporary file, rename it over.
    let before = shas;
    let tmp = app.path("src/shared/.greeting.py.tmp~");
    std::fs::write(&tmp, greeting("Atomic")).expect("write temp");
    std::fs::rename(&tmp, app.path("src/shared/greeting.py")).expect("rename");
    assert!(
        changed(app, "HelloFunction", &before["HelloFunction"])
            .await
            .is_some()
    );
    let rounds = watch.rounds(Duration::from_secs(2));
    assert_eq!(
        rounds.len(),
        1,
        "one deploy for one atomic save: {rounds:?}"
    );
    assert_eq!(outcome(&rounds[0]), "deployed");

    // The same bytes again: a round that deploys nothing.
    let before = app.code_shas().await;
    app.write("src/shared/greeting.py", &greeting("Atomic"));
    let rounds = watch.rounds(Duration::from_secs(2));
    assert!(
        rounds.iter().all(|r| outcome(r) == "nothing-to-deploy"),
        "{rounds:?}"
    );
    assert_eq!(app.code_shas().await, before);

    // Five saves in 50 ms: one deploy, of the last.
    for i in 0..5 {
        app.write("src/shared/greeting.py", &greeting(&format!("Burst {i}")));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        changed(app, "HelloFunction", &before["HelloFunction"])
            .await
            .is_some()
    );
    let rounds = watch.rounds(Duration::from_secs(2));
    assert_eq!(rounds.len(), 1, "one deploy for a burst: {rounds:?}");

    // A new file, then its deletion: each a quick deploy.
    let before = app.code_shas().await;
    app.write("src/shared/extra.py", "X = 1\n");
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    assert!(
        round["report"]["artifacts"]
            .to_string()
            .contains("\"added\":1"),
        "{round}"
    );
    let added = changed(app, "HelloFunction", &before["HelloFunction"])
        .await
        .expect("live");
    std::fs::remove_file(app.path("src/shared/extra.py")).expect("delete");
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    assert!(
        round["report"]["artifacts"]
            .to_string()
            .contains("\"deleted\":1"),
        "{round}"
    );
    assert!(changed(app, "HelloFunction", &added).await.is_some());

    // A dependency file: the full way (no terminal here, so no question: --yes said it).
    let before = app.code_shas().await;
    app.write("src/shared/requirements.txt", "# changed\n");
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "full", "{round}");
    assert_eq!(round["report"]["full"]["outcome"], "deployed", "{round}");
    assert_ne!(
        app.code_shas().await["HelloFunction"],
        before["HelloFunction"]
    );

    // Ignored files: editor swap files, caches, what .gitignore ignores.
    let before = app.code_shas().await;
    app.write("src/shared/.greeting.py.swp", "swap");
    app.write("src/shared/__pycache__/greeting.cpython-312.pyc", "cache");
    app.write("src/shared/debug.log", "log");
    let rounds = watch.rounds(Duration::from_secs(2));
    assert_eq!(rounds, Vec::<Value>::new(), "no deploy for ignored files");
    assert_eq!(app.code_shas().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_a_deploy_makes_exactly_one_follow_up() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let names = app.function_names().await;
    // Fault-injecting proxy: Hello stays InProgress for a while, so the deploy takes long
    // enough (about 2 s of polling, at 50 ms a poll for the first 2 s) to save twice more
    // while it runs.
    rig.proxy.lambda_fault(
        &names["HelloFunction"],
        LambdaFault {
            in_progress: 40,
            ..LambdaFault::default()
        },
    );
    let watch = Watch::start(app, &[]).await;
    app.write("src/shared/greeting.py", &greeting("First"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.write("src/shared/greeting.py", &greeting("Second"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.write("src/shared/greeting.py", &greeting("Third"));
    let rounds = watch.rounds(Duration::from_secs(12));
    assert_eq!(
        rounds.len(),
        2,
        "the deploy, then one follow-up: {rounds:?}"
    );
    assert!(
        rounds.iter().all(|r| outcome(r) == "deployed"),
        "{rounds:?}"
    );
    let follow_up = &rounds[1]["report"]["artifacts"];
    assert!(follow_up.to_string().contains("greeting.py"), "{follow_up}");
    // What is live is the last save.
    let live = rounds[1]["report"]["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["artifact"]
                    .as_str()
                    .is_some_and(|k| k.ends_with("src-shared.zip"))
            })
        })
        .and_then(|x| x["code_sha256"].as_str())
        .expect("code sha")
        .to_owned();
    assert_eq!(app.code_shas().await["HelloFunction"], live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_is_reported_and_the_next_change_recovers() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let names = app.function_names().await;
    let hello = names["HelloFunction"].clone();
    rig.proxy.lambda_fault(
        &hello,
        LambdaFault {
            fail_with: Some("The function could not be updated (injected)".into()),
            ..LambdaFault::default()
        },
    );
    let watch = Watch::start(app, &["--no-fallback"]).await;
    app.write("src/shared/greeting.py", &greeting("Doomed"));
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "failed", "{round}");
    assert!(round.to_string().contains("injected"), "{round}");

    // Watching goes on; the fault is gone; the next change retries what is not live.
    rig.proxy.lambda_fault(&hello, LambdaFault::default());
    app.write("src/shared/greeting.py", &greeting("Recovered"));
    let round = watch.next(Duration::from_secs(10)).expect("a second round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    let shas = app.code_shas().await;
    assert_eq!(shas["HelloFunction"], shas["GreetFunction"]);

    // A template change with --no-fallback is reported and left for later.
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 384", 1),
    );
    let round = watch
        .next(Duration::from_secs(10))
        .expect("a round for the template");
    assert_eq!(outcome(&round), "needs-full", "{round}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refuses_links_out_of_the_package_and_fallbacks_without_consent() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // No --yes, and no terminal (stdin is not one): nothing may go the full way.
    let watch = Watch::start(app, &[]).await;
    let before = app.code_shas().await;

    // A planted link to a file outside the package: refused, naming the link; nothing deployed.
    std::os::unix::fs::symlink("/etc/passwd", app.path("src/shared/passwd_link")).expect("link");
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    let error = round["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("passwd_link") && error.contains("outside the package"),
        "{round}"
    );
    assert_eq!(app.code_shas().await, before);

    // Gone again, and a dependency change: a full deploy is needed, and refused for want of
    // consent; the stack is untouched.
    std::fs::remove_file(app.path("src/shared/passwd_link")).expect("unlink");
    app.write("src/shared/requirements.txt", "# changed\n");
    let rounds = watch.rounds(Duration::from_secs(6));
    let last = rounds.last().expect("a round");
    assert_eq!(outcome(last), "needs-full", "{rounds:?}");
    assert!(
        last["report"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("--yes")),
        "{last}"
    );
    assert_eq!(app.code_shas().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_saved_before_watch_started_is_deployed_first() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let before = app.code_shas().await;
    app.write(
        "src/shared/greeting.py",
        &greeting("Saved while nobody watched"),
    );
    let watch = Watch::start(app, &[]).await;
    let first = &watch.initial;
    assert_eq!(outcome(first), "deployed", "{first}");
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["round"], 1);
    // RFC 3339, as every timestamp in --json.
    assert!(
        first["at"]
            .as_str()
            .is_some_and(|t| t.len() >= 20 && t.ends_with('Z') && t.contains('T')),
        "{first}"
    );
    assert_ne!(
        app.code_shas().await["HelloFunction"],
        before["HelloFunction"]
    );
    // Nothing pending: the first round of a watch started again deploys nothing.
    drop(watch);
    let watch = Watch::start(app, &[]).await;
    assert_eq!(
        outcome(&watch.initial),
        "nothing-to-deploy",
        "{}",
        watch.initial
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_retries_a_failed_round() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let hello = app.function_names().await["HelloFunction"].clone();
    rig.proxy.lambda_fault(
        &hello,
        LambdaFault {
            fail_with: Some("The function could not be updated (injected)".into()),
            ..LambdaFault::default()
        },
    );
    let mut watch = Watch::start(app, &["--no-fallback"]).await;
    app.write("src/shared/greeting.py", &greeting("Retried"));
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "failed", "{round}");
    assert_eq!(round["ok"], false, "{round}");
    // No key, no retry.
    assert_eq!(watch.rounds(Duration::from_secs(1)), Vec::<Value>::new());

    rig.proxy.lambda_fault(&hello, LambdaFault::default());
    watch.enter();
    let round = watch.next(Duration::from_secs(10)).expect("the retry");
    assert_eq!(outcome(&round), "deployed", "{round}");
    assert!(
        round["paths"].to_string().contains("greeting.py"),
        "{round}"
    );
    let live = app.code_shas().await["HelloFunction"].clone();
    assert!(round.to_string().contains(&live), "{round}");
}

/// A save in a local layer's folder is a round of the quick layer path (issue 12): watch
/// watches layer folders, publishes a new version of the layer and moves its users to it
/// (tests/apps/sam-layer-users, with the moto gaps closed as in `layers`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_in_a_layer_folder_publishes_a_layer_version_and_moves_its_users() {
    let (users, deps1) = crate::layers::UsersApp::deployed().await;
    let app = &users.rig.app;
    let w = Watch::start(app, &[]).await;
    assert_eq!(outcome(&w.initial), "nothing-to-deploy", "{}", w.initial);
    app.write(
        "layers/deps/python/greeting/words.py",
        "def hello_to(name):\n    return f\"hello again, {name}\"\n",
    );
    let round = w
        .next(Duration::from_secs(30))
        .expect("a round for the save");
    assert_eq!(outcome(&round), "deployed", "{round}");
    let report = &round["report"];
    let published = crate::layers::layer_report(report, "Deps")["layers"][0]["published"]
        .as_str()
        .unwrap_or_else(|| panic!("a published version: {round}"))
        .to_owned();
    assert_ne!(published, deps1);
    users.check_users(report, &published, None).await;
}

/// The calls of a round that read what watch keeps: CloudFormation, artifacts' HEADs and the
/// manifests beside them.
fn kept_reads(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|c| {
            c.starts_with("cloudformation ")
                || c.starts_with("s3 HeadObject")
                || (c.starts_with("s3 GetObject") && c.contains(".manifest.json"))
        })
        .collect()
}

/// Watch keeps what it learned (through the proxy's call log): after its first round, a
/// save's round asks CloudFormation nothing and reads no artifact HEAD or manifest. A burst
/// of saves to many files is one round. When another writer changes the artifact behind
/// watch's back, the patch's If-Match refuses the kept ETag, and the round reads afresh and
/// deploys the package correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_reads_nothing_watch_kept_and_another_writer_is_caught() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let watch = Watch::start(app, &["--no-fallback"]).await;
    // The first round (at start) read the stack, the artifacts and the functions.
    let first = rig.proxy.take_call_log();
    assert!(
        first
            .iter()
            .any(|c| c.starts_with("cloudformation GetTemplate")),
        "{first:?}"
    );

    app.write("src/shared/greeting.py", &greeting("Kept"));
    let round = watch.next(Duration::from_secs(10)).expect("a round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    let log = rig.proxy.take_call_log();
    assert_eq!(kept_reads(&log), Vec::<&String>::new(), "{log:#?}");
    assert!(
        log.iter()
            .any(|c| c.starts_with("lambda UpdateFunctionCode")),
        "{log:#?}"
    );
    let live = app.code_shas().await;
    let object = app.patched(&round["report"], "src-shared.zip").await;
    assert_eq!(live["HelloFunction"], zipedit::code_sha256(&object));

    // A burst: twelve new files written at once are one round.
    for i in 0..12 {
        app.write(&format!("src/shared/burst_{i}.py"), &format!("N = {i}\n"));
    }
    let rounds = watch.rounds(Duration::from_secs(3));
    assert_eq!(rounds.len(), 1, "one round for a burst: {rounds:?}");
    assert!(
        rounds[0]["report"]["artifacts"]
            .to_string()
            .contains("\"added\":12"),
        "{rounds:?}"
    );
    assert_eq!(kept_reads(&rig.proxy.take_call_log()).len(), 0);

    // Another writer patches the artifact (a file of its own).
    let report = &rounds[0]["report"];
    let artifact = testkit::fixtures::artifact(report, "src-shared.zip");
    let key = artifact["patch"]["key"].as_str().expect("key").to_owned();
    let old = app.object(&key, None).await;
    let mut change = zipedit::ChangeSet::new();
    change
        .puts
        .push(zipedit::PutFile::new("other.py", b"OTHER = 1\n".to_vec()));
    let patched = zipedit::patch_bytes(&old, &change, &Default::default()).expect("patch");
    let mut theirs = Vec::new();
    patched
        .write_to(std::io::Cursor::new(&old), &mut theirs)
        .expect("write");
    app.s3
        .put_object()
        .bucket(testkit::app::BUCKET)
        .key(&key)
        .body(theirs.into())
        .send()
        .await
        .expect("the other writer's put");

    app.write("src/shared/greeting.py", &greeting("After another writer"));
    let round = watch.next(Duration::from_secs(15)).expect("a round");
    assert_eq!(outcome(&round), "deployed", "{round}");
    let log = rig.proxy.take_call_log();
    assert!(
        log.iter().any(|c| c.starts_with("s3 HeadObject")),
        "it read the artifact afresh: {log:#?}"
    );
    // What runs is the package: the save in, the other writer's file out.
    let object = app.patched(&round["report"], "src-shared.zip").await;
    assert_eq!(
        app.code_shas().await["HelloFunction"],
        zipedit::code_sha256(&object)
    );
    let tree = testkit::zipcheck::stream_tree(&object);
    let text = String::from_utf8_lossy(&tree["greeting.py"]).into_owned();
    assert!(text.contains("After another writer"), "{text}");
    assert!(!tree.contains_key("other.py"), "{:?}", tree.keys());
}
