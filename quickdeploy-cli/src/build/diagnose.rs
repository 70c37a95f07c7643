//! Why a build tool failed, from what it printed (pure): the lines worth showing (its first
//! error lines and its last ones, not only the tail, where npm's usage text buries npm's
//! reason), and, where the cause is known, the fix and whether the cause is the user's
//! files (exit 2) or not (exit 1).

use crate::build::go;
use crate::build::method::{Build, Command, Method};
use crate::build::python;

/// How many of a failed tool's first error lines its error shows.
pub const FIRST: usize = 12;

/// A known cause of a failure: what to do, and whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The fix, in words, with the command to run where there is one.
    pub fix: String,
    /// True when the user's files are the cause (exit 2).
    pub bad_input: bool,
}

/// True for a line that reports an error: `error`, npm's `ERR!`, `fatal`, Go's
/// `file.go:line:col:` diagnostics (npm's blank `npm error` lines are not).
pub fn is_error_line(line: &str) -> bool {
    if is_blank(line) {
        return false;
    }
    let lower = line.to_ascii_lowercase();
    lower.contains("error")
        || line.contains("ERR!")
        || lower.starts_with("fatal")
        || go_diagnostic(line)
}

/// True for a line that says nothing: empty, or only a tool's prefix (npm's `npm error`).
fn is_blank(line: &str) -> bool {
    let bare = line.trim();
    bare.is_empty() || ["npm error", "npm ERR!", "error", "ERROR:"].contains(&bare)
}

/// `./main.go:12:3: ...`: a Go compiler diagnostic.
fn go_diagnostic(line: &str) -> bool {
    let Some((file, rest)) = line.split_once(".go:") else {
        return false;
    };
    !file.contains(' ')
        && rest
            .split(':')
            .take(2)
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The lines a failure shows: `(first, last)`. `head` holds the output's first lines (as
/// many as were kept), `tail` its last ones, `total` how many there were. When the tail
/// holds everything, it is all there is to show; else the first error lines before the
/// tail (or, with none, the first lines) come first. Lines that say nothing (npm's bare
/// `npm error` ones) are left out of the tail.
pub fn excerpt(head: &[String], tail: &[String], total: usize) -> (Vec<String>, Vec<String>) {
    let last: Vec<String> = tail.iter().filter(|l| !is_blank(l)).cloned().collect();
    if total <= tail.len() {
        return (Vec::new(), last);
    }
    let before_tail = total - tail.len();
    let early = &head[..head.len().min(before_tail)];
    let mut first: Vec<String> = early
        .iter()
        .filter(|l| is_error_line(l))
        .take(FIRST)
        .cloned()
        .collect();
    if first.is_empty() {
        first = early.iter().take(5).cloned().collect();
    }
    (first, last)
}

/// The known cause of a failed `cmd` of build `b`, from its output `lines` (the first and
/// the last ones).
pub fn diagnose(b: &Build, cmd: &Command, lines: &[String]) -> Option<Diagnosis> {
    let has = |s: &str| lines.iter().any(|l| l.contains(s));
    let folder = b.source.display();
    let user = |fix: String| {
        Some(Diagnosis {
            fix,
            bad_input: true,
        })
    };
    if cmd.program == "npm"
        && (has("are in sync") || has("not in sync") || (has("Missing: ") && has("from lock file")))
    {
        return user(format!(
            "package.json and package-lock.json in {folder} do not agree (`npm ci` installs the lock file only): run `npm install` in {folder} and commit the updated package-lock.json"
        ));
    }
    if let Method::Python { runtime } = &b.method {
        let target = python::pip_target(runtime, &b.architecture).ok()?;
        if python::index_unreachable(lines) {
            return Some(Diagnosis {
                fix: "pip could not reach the package index: check the network (or pip's index-url) and run the command again".into(),
                bad_input: false,
            });
        }
        if let Some(req) = python::missing_wheel(lines) {
            return user(python::no_wheel_fix(&req, &target, &b.ids.join(", ")));
        }
    }
    if cmd.program == "go" {
        if has("go.mod file not found") {
            return user(format!(
                "{folder} is not a Go module: run `go mod init <module name>` there (a Go function's CodeUri is its module's folder)"
            ));
        }
        if let Some(v) = go::newer_go_needed(lines) {
            return user(format!(
                "{folder}/go.mod asks for Go {v}, newer than this machine's: {}, or lower the `go` line of go.mod",
                go::INSTALL_GO.replace("install Go", &format!("install Go {v} or later"))
            ));
        }
    }
    if let Some(t) = lines
        .iter()
        .find_map(|l| l.split_once("target may not be installed").map(|(a, _)| a))
        .and_then(|a| a.rsplit('`').nth(1))
    {
        return user(format!(
            "the Rust target {t} is missing: `rustup target add {t}`"
        ));
    }
    None
}

/// What to do when a build's tool cannot be started because it is not installed: the
/// install line (the user's machine lacks it: exit 2).
pub fn missing_tool(b: &Build, program: &str) -> String {
    match program {
        "go" => go::INSTALL_GO.into(),
        "npm" => {
            "install Node.js and npm: `apt-get install nodejs npm`, or https://nodejs.org".into()
        }
        "python3" => "install Python 3 and pip: `apt-get install python3 python3-pip`".into(),
        "make" => "install make: `apt-get install make`".into(),
        p if p.ends_with("/esbuild") => format!(
            "esbuild is not among the dependencies in {}/package.json: `npm install --save-dev esbuild` there",
            b.source.display()
        ),
        p => format!("install {p}, or put it on PATH"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn build(method: Method, arch: &str) -> Build {
        Build {
            ids: vec!["Fn".into()],
            method,
            source: PathBuf::from("/app/src"),
            out: PathBuf::from("/app/.quickdeploy/build/Fn"),
            target: PathBuf::from("/app/.quickdeploy/build/Fn"),
            architecture: arch.into(),
            ignore: Vec::new(),
            runtimes: Vec::new(),
        }
    }

    fn cmd(program: &str) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            cwd: PathBuf::from("/c"),
            env: Vec::new(),
        }
    }

    const NPM_CI: &str = "npm error code EUSAGE
npm error
npm error `npm ci` can only install packages when your package.json and package-lock.json or npm-shrinkwrap.json are in sync. Please update your lock file with `npm install` before continuing.
npm error
npm error Missing: is-odd@3.0.1 from lock file
npm error
npm error Clean install a project
npm error
npm error Usage:
npm error npm ci
npm error
npm error Options:
npm error [--install-strategy <hoisted|nested|shallow|linked>] [--legacy-bundling]";

    #[test]
    fn the_first_error_lines_come_before_the_tail() {
        let all = lines(NPM_CI);
        let tail = all[all.len() - 4..].to_vec();
        let (first, last) = excerpt(&all, &tail, all.len());
        assert_eq!(first[0], "npm error code EUSAGE");
        assert!(first.iter().any(|l| l.contains("are in sync")), "{first:?}");
        assert!(first.len() <= FIRST);
        assert_eq!(
            last,
            vec![tail[0].clone(), tail[2].clone(), tail[3].clone()],
            "without the bare `npm error`"
        );
        // Short output: all of it, once (but the line that says nothing).
        let (first, last) = excerpt(&all[..3], &all[..3], 3);
        assert!(first.is_empty());
        assert_eq!(last, [all[0].clone(), all[2].clone()]);
        // No error line before the tail: the first lines.
        let plain = lines("a\nb\nc\nd\ne\nf\ng\nh");
        let (first, _) = excerpt(&plain, &plain[6..], 8);
        assert_eq!(first, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn a_lock_out_of_sync_says_to_run_npm_install() {
        let b = build(
            Method::Node {
                runtime: "nodejs22.x".into(),
            },
            "x86_64",
        );
        let d = diagnose(&b, &cmd("npm"), &lines(NPM_CI)).expect("known");
        assert!(d.bad_input);
        assert!(
            d.fix
                .contains("run `npm install` in /app/src and commit the updated package-lock.json"),
            "{}",
            d.fix
        );
        assert_eq!(
            diagnose(&b, &cmd("npm"), &lines("npm error 404 Not Found")),
            None
        );
    }

    #[test]
    fn pips_missing_wheel_names_the_platform_and_an_unreachable_index_is_not_the_users() {
        let b = build(
            Method::Python {
                runtime: "python3.12".into(),
            },
            "arm64",
        );
        let out = lines(
            "ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)\nERROR: No matching distribution found for docopt==0.6.2",
        );
        let d = diagnose(&b, &cmd("python3"), &out).expect("known");
        assert!(d.bad_input);
        assert!(d.fix.contains("manylinux2014_aarch64"), "{}", d.fix);
        assert!(d.fix.contains("docopt==0.6.2"), "{}", d.fix);
        let mut offline = lines(
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError('x')'",
        );
        offline.extend(out);
        let d = diagnose(&b, &cmd("python3"), &offline).expect("known");
        assert!(!d.bad_input, "{d:?}");
    }

    #[test]
    fn go_and_rust_toolchain_gaps_say_the_install_line() {
        let g = build(Method::Go, "arm64");
        let d = diagnose(
            &g,
            &cmd("go"),
            &lines("go: go.mod requires go >= 1.22 (running go 1.19.8; GOTOOLCHAIN=local)"),
        )
        .expect("known");
        assert!(d.bad_input && d.fix.contains("Go 1.22"), "{d:?}");
        assert!(missing_tool(&g, "go").contains("apt-get install golang-go"));
        let r = build(Method::Rust { binary: None }, "arm64");
        let out = lines(
            "error[E0463]: can't find crate for `core`\n  = note: the `aarch64-unknown-linux-gnu` target may not be installed",
        );
        let d = diagnose(&r, &cmd("cargo"), &out).expect("known");
        assert_eq!(
            d.fix,
            "the Rust target aarch64-unknown-linux-gnu is missing: `rustup target add aarch64-unknown-linux-gnu`"
        );
        assert!(missing_tool(&g, "/c/node_modules/.bin/esbuild").contains("--save-dev esbuild"));
    }

    #[test]
    fn error_lines_are_recognised() {
        for l in [
            "npm ERR! code E404",
            "error[E0308]: mismatched types",
            "./main.go:12:3: undefined: foo",
            "fatal: not a git repository",
            "ERROR: No matching distribution found for x",
        ] {
            assert!(is_error_line(l), "{l}");
        }
        for l in [
            "compiling app.py",
            "main.go is fine",
            "Usage:",
            "npm error",
            "npm ERR! ",
        ] {
            assert!(!is_error_line(l), "{l}");
        }
    }
}
