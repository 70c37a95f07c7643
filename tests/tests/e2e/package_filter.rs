//! One rule for what belongs to a package, end to end: a file that a nested `.gitignore` (in
//! a subfolder of a package) ignores is neither a change for `quickdeploy status` nor a reason
//! for `quickdeploy watch` to start a round; a normal file is both. The real CLI against the
//! example app on the rig (moto, the real zipedit binary as the patcher).

use std::time::Duration;

use serde_json::Value;
use testkit::app::{App, Rig};
use testkit::fixtures::function;

use crate::watch::{Watch, greeting};

fn shared_paths(doc: &Value) -> Value {
    doc["artifacts"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["artifact"]
                    .as_str()
                    .is_some_and(|k| k.ends_with("src-shared.zip"))
            })
        })
        .map(|x| x["paths"].clone())
        .unwrap_or(Value::Null)
}

/// Files the nested `.gitignore` (in `src/shared/data/`) ignores: a folder and a pattern.
fn write_ignored(app: &App, body: &str) {
    app.write("src/shared/data/scratch/out.json", body);
    app.write("src/shared/data/cache.tmp", body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_gitignore_hides_a_file_from_status_and_watch_alike() {
    let rig = Rig::start().await;
    let app = &rig.app;
    // In a subfolder of the shared package, deployed with it.
    app.write("src/shared/data/.gitignore", "scratch/\n*.tmp\n");
    app.write("src/shared/data/table.csv", "a,b\n");
    let (out, doc) = app.run_json(&["full", "--yes"]).await;
    assert!(out.status.success(), "full: {doc}");
    assert_eq!(doc["outcome"], "deployed", "{doc}");

    // Ignored files appear: no change.
    write_ignored(app, "one");
    let (out, status) = app.run_json(&["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{status}");
    assert_eq!(status["outcome"], "nothing-to-deploy", "{status}");
    for id in ["HelloFunction", "GreetFunction", "ReportFunction"] {
        assert_eq!(function(&status, id)["action"], "none", "{id}: {status}");
    }

    // A normal file changes: that change, and only it.
    app.write("src/shared/greeting.py", &greeting("Filtered"));
    let (_, status) = app.run_json(&["status"]).await;
    assert_eq!(
        function(&status, "HelloFunction")["action"],
        "quick",
        "{status}"
    );
    assert_eq!(
        shared_paths(&status),
        serde_json::json!(["greeting.py"]),
        "{status}"
    );

    // watch deploys it as it starts (it was pending), with the ignored files left out.
    let before = app.code_shas().await;
    let watch = Watch::start(app, &[]).await;
    assert_eq!(
        watch.initial["report"]["outcome"], "deployed",
        "{}",
        watch.initial
    );
    assert_eq!(
        shared_paths(&watch.initial["report"]),
        serde_json::json!(["greeting.py"])
    );
    let deployed = app.code_shas().await;
    assert_ne!(deployed["HelloFunction"], before["HelloFunction"]);

    // Ignored files change again: watch starts no round, nothing is deployed.
    write_ignored(app, "two");
    std::fs::remove_file(app.path("src/shared/data/cache.tmp")).expect("delete");
    let rounds = watch.rounds(Duration::from_secs(2));
    assert_eq!(rounds, Vec::<Value>::new(), "no round for ignored files");
    assert_eq!(app.code_shas().await, deployed);

    // A normal file in the same folder: a round, deployed.
    app.write("src/shared/data/table.csv", "a,b\n1,2\n");
    let round = watch
        .next(Duration::from_secs(10))
        .expect("a round for a normal file");
    assert_eq!(round["report"]["outcome"], "deployed", "{round}");
    assert_eq!(
        shared_paths(&round["report"]),
        serde_json::json!(["data/table.csv"])
    );
    assert_ne!(
        app.code_shas().await["HelloFunction"],
        deployed["HelloFunction"]
    );
}
