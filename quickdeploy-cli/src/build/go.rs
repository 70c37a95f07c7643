//! A Go function's build (pure): `BuildMethod: go1.x`, on a `provided.al2023` or
//! `provided.al2` runtime (what `sam init` makes for Go), compiled for the function's
//! architecture into an executable `bootstrap`, statically (no cgo), with the tag that
//! leaves out aws-lambda-go's RPC mode (`lambda.norpc`), the module and build caches reused.

use std::path::Path;

use crate::build::method::{Build, Command};

/// Go's `GOARCH` for a Lambda architecture.
pub fn goarch(architecture: &str) -> Result<&'static str, String> {
    match architecture {
        "x86_64" => Ok("amd64"),
        "arm64" => Ok("arm64"),
        other => Err(format!(
            "architecture {other} is not one Lambda runs: use x86_64 or arm64"
        )),
    }
}

/// What the environment already says about Go's caches (whether each variable is set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoEnv {
    /// `HOME` is set (Go's default caches live under it).
    pub home: bool,
    /// `XDG_CACHE_HOME` is set (the default build cache lives under it).
    pub xdg_cache: bool,
    /// `GOCACHE` is set.
    pub gocache: bool,
    /// `GOMODCACHE` or `GOPATH` is set.
    pub modcache: bool,
}

/// `go build` for a Go function: in its source folder, `GOOS=linux GOARCH=<arch>
/// CGO_ENABLED=0 go build -tags lambda.norpc -o <work>/bootstrap .`. Go's own caches are kept
/// (they outlive builds and are shared with the user's other Go work); where the environment
/// gives Go none, they go under the build cache `cache` (`go-build`, `go-mod`).
pub fn go_build(build: &Build, work: &Path, cache: &Path, env: GoEnv) -> Result<Command, String> {
    let arch = goarch(&build.architecture)?;
    let mut vars = vec![
        ("GOOS".to_owned(), "linux".to_owned()),
        ("GOARCH".to_owned(), arch.to_owned()),
        ("CGO_ENABLED".to_owned(), "0".to_owned()),
    ];
    if !env.gocache && !env.xdg_cache && !env.home {
        vars.push((
            "GOCACHE".into(),
            cache.join("go-build").display().to_string(),
        ));
    }
    if !env.modcache && !env.home {
        vars.push((
            "GOMODCACHE".into(),
            cache.join("go-mod").display().to_string(),
        ));
    }
    Ok(Command {
        program: "go".into(),
        args: vec![
            "build".into(),
            "-tags".into(),
            "lambda.norpc".into(),
            "-o".into(),
            work.join("bootstrap").display().to_string(),
            ".".into(),
        ],
        cwd: build.source.clone(),
        env: vars,
    })
}

/// How to get Go, for an error that finds none.
pub const INSTALL_GO: &str = "install Go: `apt-get install golang-go` (Debian, Ubuntu), `brew install go` (macOS), or https://go.dev/dl";

/// The Go version a module asks for and this toolchain lacks, from `go build`'s output
/// (`go.mod requires go >= 1.21 (running go 1.19; ...)`, or Go 1.19's `note: module
/// requires Go 1.21`).
pub fn newer_go_needed(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        let after = l
            .split_once("requires go >= ")
            .or_else(|| l.split_once("module requires Go "))?
            .1;
        let v: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        (!v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::method::Method;
    use std::path::PathBuf;

    fn build(arch: &str) -> Build {
        Build {
            ids: vec!["Hello".into()],
            method: Method::Go,
            source: PathBuf::from("/app/hello"),
            out: PathBuf::from("/app/.quickdeploy/build/Hello"),
            target: PathBuf::from("/app/.quickdeploy/build/Hello"),
            architecture: arch.into(),
            ignore: Vec::new(),
            runtimes: vec!["provided.al2023".into()],
        }
    }

    #[test]
    fn go_builds_a_static_bootstrap_for_the_functions_architecture() {
        let home = GoEnv {
            home: true,
            ..GoEnv::default()
        };
        let c = go_build(
            &build("arm64"),
            Path::new("/w/Hello"),
            Path::new("/c"),
            home,
        )
        .expect("arm64");
        assert_eq!(
            c.to_string(),
            "go build -tags lambda.norpc -o /w/Hello/bootstrap ."
        );
        assert_eq!(c.cwd, Path::new("/app/hello"));
        let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(env, ["GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"]);
        let x86 = go_build(&build("x86_64"), Path::new("/w"), Path::new("/c"), home).expect("x");
        assert!(x86.env.contains(&("GOARCH".into(), "amd64".into())));
        assert!(go_build(&build("s390x"), Path::new("/w"), Path::new("/c"), home).is_err());
    }

    #[test]
    fn without_a_home_the_caches_go_under_the_build_cache() {
        let c = go_build(
            &build("x86_64"),
            Path::new("/w"),
            Path::new("/c"),
            GoEnv::default(),
        )
        .expect("go");
        assert!(c.env.contains(&("GOCACHE".into(), "/c/go-build".into())));
        assert!(c.env.contains(&("GOMODCACHE".into(), "/c/go-mod".into())));
        // The user's own settings win.
        let own = GoEnv {
            gocache: true,
            modcache: true,
            ..GoEnv::default()
        };
        let c = go_build(&build("x86_64"), Path::new("/w"), Path::new("/c"), own).expect("go");
        assert_eq!(c.env.len(), 3, "{:?}", c.env);
    }

    #[test]
    fn a_module_for_a_newer_go_is_read_from_its_output() {
        let new =
            ["go: go.mod requires go >= 1.21 (running go 1.19.8; GOTOOLCHAIN=local)".to_owned()];
        assert_eq!(newer_go_needed(&new).as_deref(), Some("1.21"));
        let old = ["note: module requires Go 1.22".to_owned()];
        assert_eq!(newer_go_needed(&old).as_deref(), Some("1.22"));
        assert_eq!(
            newer_go_needed(&["./main.go:3:1: syntax error".to_owned()]),
            None
        );
    }
}
