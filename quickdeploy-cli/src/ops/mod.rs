//! The work of each command, with its I/O injected: every function here takes its clients
//! (`aws::Clients`) and typed options (never clap's structs), returns a typed report
//! (`crate::report`), and prints nothing. What happens along the way reaches the caller as
//! [`Event`]s through a [`Ui`], which the command renders (`crate::render`), the tests record,
//! and `--json` ignores.
//!
//! One module per command. A command that grew is a folder whose `mod.rs` keeps the
//! command's sequence, with its decisions in a pure `decide.rs` (`deploy`, `destroy`,
//! `rollback`) and its side work in files of their own.
//!
//! May use: every folder below (`report` and the concept folders). Must not: import
//! `commands` or `render`. Ops may call each other (`deploy` falls back to `full`).

pub mod bootstrap;
pub mod cdk;
pub mod deploy;
pub mod destroy;
pub mod fanout;
pub mod full;
pub mod history;
pub mod init;
pub mod patch_zip;
pub mod rollback;
pub mod status;
pub mod watch;

/// Something that happened during an operation, for people to see as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// What is under way now (a spinner's message).
    Step(&'a str),
    /// A function's state changed during a rollout (`InProgress`, `live`, a retry).
    Function {
        /// Function name.
        name: &'a str,
        /// Its new state, in a few words.
        state: &'a str,
    },
    /// Something went wrong that does not stop the operation.
    Warning(&'a str),
    /// A line worth keeping on screen (a build command, a stack event, a fallback's reason).
    Line(&'a str),
    /// A full deploy packaged these artifacts (uploaded or found unchanged).
    Packaged(&'a [crate::report::Uploaded]),
    /// An AWS call has waited long for its answer (`aws::trace::SLOW_AFTER`, and again each
    /// time as long again): no wait is silent.
    Waiting {
        /// `Service.Operation`.
        call: &'a str,
        /// Where it went (`aws::endpoint`).
        endpoint: &'a str,
        /// Which attempt (1 for the first).
        attempt: u32,
        /// Seconds waited so far.
        waited_s: u64,
    },
    /// A change set was made: what it would do to the stack.
    ChangeSet {
        /// The stack.
        stack: &'a str,
        /// It creates the stack.
        create: bool,
        /// Its changes.
        changes: &'a [crate::stack::change::Planned],
    },
}

/// Where an operation's events go, and how it asks the user.
pub trait Ui: Sync {
    /// Hears an event.
    fn event(&self, event: Event<'_>);

    /// Asks a yes/no question on the terminal (only called when the operation's consent rules
    /// allow asking, i.e. there is a terminal). The default answers no.
    fn confirm(&self, _question: &str, _details: &[String]) -> anyhow::Result<bool> {
        Ok(false)
    }

    /// Whether long transfers should draw their own progress bars (on a terminal, not JSON).
    fn bars(&self) -> bool {
        false
    }
}

/// Builds what the template's `BuildMethod`s and quickdeploy.toml's `build` commands say
/// ([`crate::build`]), the tools' output shown live as [`Event::Line`]s: `deploy`, `status`
/// and `full` run it before they read the packages, which are the build folders.
pub fn build(
    project: &crate::project::Project,
    ui: &dyn Ui,
) -> anyhow::Result<Vec<crate::build::decide::Built>> {
    let crate::project::Model {
        template,
        dir: template_dir,
        ..
    } = project.model()?;
    crate::plan::groups::check_config_functions(&template, &project.config)?;
    let builds =
        crate::build::decide::plan(&template, &project.config, &project.root, &template_dir);
    if builds.items.is_empty() {
        return Ok(Vec::new());
    }
    /// The builder's progress as events.
    struct Shown<'a>(&'a dyn Ui);
    impl crate::build::tool::Output for Shown<'_> {
        fn step(&self, what: &str) {
            self.0.event(Event::Step(what));
        }
        fn line(&self, line: &str) {
            self.0.event(Event::Line(line));
        }
    }
    Ok(crate::build::runner::run(
        &builds,
        &project.root,
        &Shown(ui),
    )?)
}

/// [`build`] on a thread of its own, its events passed to `ui` as they come, so that the
/// caller's async work (the remote reads of a deploy) goes on while the tools run.
pub async fn build_meanwhile(
    project: &crate::project::Project,
    ui: &dyn Ui,
) -> anyhow::Result<Vec<crate::build::decide::Built>> {
    /// The builder's events, owned, for the trip to the async side.
    enum Said {
        Step(String),
        Line(String),
    }
    struct Sent(tokio::sync::mpsc::UnboundedSender<Said>);
    impl Ui for Sent {
        fn event(&self, event: Event<'_>) {
            let said = match event {
                Event::Step(s) => Said::Step(s.to_owned()),
                Event::Line(s) => Said::Line(s.to_owned()),
                _ => return,
            };
            let _ = self.0.send(said);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let project = project.clone();
    let mut done = tokio::task::spawn_blocking(move || build(&project, &Sent(tx)));
    loop {
        tokio::select! {
            said = rx.recv() => match said {
                Some(Said::Step(s)) => ui.event(Event::Step(&s)),
                Some(Said::Line(s)) => ui.event(Event::Line(&s)),
                // The builder is done: its result is next.
                None => return done.await.map_err(|e| anyhow::anyhow!("the build stopped: {e}"))?,
            },
            result = &mut done => {
                // What it said before it ended, in order.
                while let Ok(said) = rx.try_recv() {
                    match said {
                        Said::Step(s) => ui.event(Event::Step(&s)),
                        Said::Line(s) => ui.event(Event::Line(&s)),
                    }
                }
                return result.map_err(|e| anyhow::anyhow!("the build stopped: {e}"))?;
            }
        }
    }
}

/// Runs `work`, showing through `ui` each AWS call that waits long for its answer
/// ([`Event::Waiting`], noted by `clients`' trace): what every command runs its op in.
pub async fn shown<F: std::future::Future>(
    clients: &crate::aws::Clients,
    ui: &dyn Ui,
    work: F,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let endpoint = crate::aws::endpoint();
    loop {
        tokio::select! {
            out = &mut work => return out,
            () = clients.trace.slow_noted() => {
                for s in clients.trace.take_slow() {
                    ui.event(Event::Waiting {
                        call: &s.call,
                        endpoint: &endpoint,
                        attempt: s.attempt,
                        waited_s: s.waited_s,
                    });
                }
            }
        }
    }
}

/// A [`Ui`] that hears nothing and answers no: for tests and machine callers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Ui for Silent {
    fn event(&self, _event: Event<'_>) {}
}
