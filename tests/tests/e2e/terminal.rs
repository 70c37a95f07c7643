//! The CLI on a pseudo-terminal (util-linux `script`), as a person runs it: prompts are shown
//! and stay visible, removals are listed apart, answers are taken, Ctrl-C leaves no spinner.

use std::time::Duration;

use testkit::app::Rig;

/// The app's template without GreetFunction: a full deploy would remove it.
fn without_greet(template: &str) -> String {
    let start = template.find("  GreetFunction:").expect("GreetFunction");
    let end = template.find("  ReportFunction:").expect("ReportFunction");
    format!("{}{}", &template[..start], &template[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_on_a_terminal_lists_removals_and_no_executes_nothing() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write("template.yaml", &without_greet(&template));

    let mut term = app.on_terminal(&["full"]);
    assert!(
        term.wait_for("execute this change set? [y/N]", Duration::from_secs(30)),
        "{}",
        term.screen()
    );
    let screen = term.screen();
    assert!(screen.contains("REMOVES or REPLACES"), "{screen}");
    assert!(screen.contains("GreetFunction"), "{screen}");
    term.type_line("n");
    assert_eq!(
        term.wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        term.screen()
    );
    assert!(term.screen().contains("cancelled"), "{}", term.screen());
    assert!(app.function_names().await.contains_key("GreetFunction"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_on_a_terminal_keeps_its_question_visible_and_takes_the_answer() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    let mut term = app.on_terminal(&["watch"]);
    assert!(
        term.wait_for("waiting for changes", Duration::from_secs(30)),
        "{}",
        term.screen()
    );
    let template = std::fs::read_to_string(app.path("template.yaml")).expect("read");
    app.write(
        "template.yaml",
        &template.replacen("MemorySize: 256", "MemorySize: 512", 1),
    );
    let prompt = "execute this change set? [y/N]";
    assert!(
        term.wait_for(prompt, Duration::from_secs(30)),
        "{}",
        term.screen()
    );
    // A second later the question is still the last thing on the terminal: no status line
    // was redrawn over it.
    std::thread::sleep(Duration::from_millis(1200));
    let screen = term.screen();
    let after = &screen[screen.rfind(prompt).expect("prompt") + prompt.len()..];
    assert!(
        !after.contains('\r') && !after.contains("\u{1b}["),
        "something was drawn over the question: {after:?}"
    );
    term.type_line("y");
    assert!(
        term.wait_for("ms answering)", Duration::from_secs(30)),
        "{}",
        term.screen()
    );
    // The time spent answering is reported apart from the deploy's (at least the 1.2 s above).
    let screen = term.screen();
    let line = screen
        .lines()
        .find(|l| l.contains("ms answering)"))
        .expect("the verdict");
    let answer: f64 = line
        .rsplit("and ")
        .next()
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the answer time");
    assert!(answer >= 1000.0, "{line}");
    assert!(line.contains("UPDATE_COMPLETE"), "{line}");
    assert_eq!(app.memory_size("ReportFunction").await, Some(512));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_no_spinner_behind() {
    let rig = Rig::deployed().await;
    let app = &rig.app;
    // An endpoint that never answers keeps the spinner turning.
    let (url, _held) = testkit::rig::stalled_endpoint();
    let mut term = {
        let mut t = app.on_terminal_with(&["deploy"], &[("AWS_ENDPOINT_URL", &url)]);
        assert!(
            t.wait_for("reading the stack", Duration::from_secs(20)),
            "{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(500));
        t.interrupt();
        t
    };
    assert_eq!(
        term.wait(Duration::from_secs(20)),
        Some(130),
        "{}",
        term.screen()
    );
    let screen = term.screen();
    let cleared = screen
        .rfind("\r\u{1b}[2K")
        .expect("the spinner line is cleared");
    let spun = screen
        .rfind("reading the stack")
        .expect("the spinner was shown");
    assert!(cleared > spun, "{screen:?}");
    assert!(screen[cleared..].contains("interrupted"), "{screen:?}");
}
