//! What pip installs a Python build's dependencies for: the function's architecture and its
//! runtime's Python version, not this machine's (pure). The wheels pip may take are SAM's
//! (aws-lambda-builders' `python_pip`): manylinux wheels for the architecture up to the
//! runtime's glibc, for CPython of the runtime's version, binary only, so a package with
//! no such wheel stops the build instead of deploying `.so` files the function cannot load.

/// The platform and interpreter pip installs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipTarget {
    /// `x86_64` or `arm64`, as the template says.
    pub architecture: String,
    /// The runtime, as the BuildMethod names it (`python3.12`).
    pub runtime: String,
    /// pip's `--python-version` (`3.12`): required, since this machine's Python may differ.
    pub python_version: String,
    /// pip's `--platform` values, oldest first.
    pub platforms: Vec<String>,
}

/// The runtimes a Python build may target, as minor versions of Python 3.
const MINORS: std::ops::RangeInclusive<u32> = 8..=14;

/// The pip target of a `python3.X` runtime on `architecture`; an error says what is wrong.
pub fn pip_target(runtime: &str, architecture: &str) -> Result<PipTarget, String> {
    let minor = runtime
        .strip_prefix("python3.")
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| MINORS.contains(m))
        .ok_or_else(|| {
            format!(
                "BuildMethod {runtime} names no Python runtime quickdeploy can install for: use python3.{}..python3.{}",
                MINORS.start(),
                MINORS.end()
            )
        })?;
    let machine = match architecture {
        "x86_64" => "x86_64",
        "arm64" => "aarch64",
        other => {
            return Err(format!(
                "architecture {other} is not one Lambda runs: use x86_64 or arm64"
            ));
        }
    };
    // Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), the older ones on Amazon
    // Linux 2 (glibc 2.26): manylinux_2_17 is the newest tag below 2.26 that wheels use.
    let mut tags = vec!["manylinux2014", "manylinux_2_17"];
    if minor >= 12 {
        tags.extend(["manylinux_2_28", "manylinux_2_34"]);
    }
    Ok(PipTarget {
        architecture: architecture.to_owned(),
        runtime: runtime.to_owned(),
        python_version: format!("3.{minor}"),
        platforms: tags.iter().map(|t| format!("{t}_{machine}")).collect(),
    })
}

impl PipTarget {
    /// pip's arguments for this target (after `install`): only wheels, for CPython of the
    /// runtime's version, on the target's platforms.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for p in &self.platforms {
            args.extend(["--platform".to_owned(), p.clone()]);
        }
        args.extend([
            "--implementation".into(),
            "cp".into(),
            "--python-version".into(),
            self.python_version.clone(),
            "--only-binary=:all:".into(),
        ]);
        args
    }

    /// What the target is, in words: `python3.12 on arm64 (manylinux2014_aarch64, ...)`.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} ({})",
            self.runtime,
            self.architecture,
            self.platforms.join(", ")
        )
    }
}

/// The requirement pip could not find a wheel for, from its output (`ERROR: No matching
/// distribution found for docopt==0.6.2`), when that is why it failed.
pub fn missing_wheel(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        l.split_once("No matching distribution found for ")
            .map(|(_, r)| r.trim().to_owned())
            .filter(|r| !r.is_empty())
    })
}

/// True when pip's output says it could not reach the package index (its retries, or a
/// connection error): then no wheel being found says nothing about the platform.
pub fn index_unreachable(lines: &[String]) -> bool {
    lines.iter().any(|l| {
        l.contains("NewConnectionError")
            || l.contains("Failed to establish a new connection")
            || l.contains("Temporary failure in name resolution")
            || (l.contains("Retrying (Retry(") && l.contains("connection"))
    })
}

/// What to do when `requirement` has no wheel for the target: the ways out.
pub fn no_wheel_fix(requirement: &str, target: &PipTarget, ids: &str) -> String {
    format!(
        "{requirement} has no wheel for {}: pip would have to build it on this machine, for this machine. Ways out: \
         use a version or an alternative of it that publishes such a wheel (or a pure-Python one); \
         or build the package with a command of your own: `build = \"...\"` and `package = \"<its output folder>\"` under [functions.{}] in quickdeploy.toml; \
         or build it in a container of the Lambda image (`sam build --use-container`) and deploy that folder with `package =`",
        target.describe(),
        ids.split(", ").next().unwrap_or(ids)
    )
}

/// True for a wheel file that is pure Python (`name-1.0-py3-none-any.whl`, `py2.py3`): it
/// runs wherever its Python runs, so one built on this machine is as good on the function.
pub fn is_pure_wheel(file_name: &str) -> bool {
    let Some(stem) = file_name.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    let [.., python, abi, platform] = parts.as_slice() else {
        return false;
    };
    parts.len() >= 5
        && *abi == "none"
        && *platform == "any"
        && python.split('.').all(|t| t.starts_with("py"))
}

/// The requirements file that builds one `requirement` from source on this machine: the
/// project's options (its index, its find-links) and that requirement alone.
pub fn source_build_requirements(requirements: &str, requirement: &str) -> String {
    let mut out: String = requirements
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('-'))
        .filter(|l| {
            !["-r", "--requirement", "-c", "--constraint"]
                .iter()
                .any(|o| l.starts_with(o))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(requirement);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_installs_for_the_functions_architecture_and_python() {
        let arm = pip_target("python3.12", "arm64").expect("arm64");
        assert_eq!(
            arm.args().join(" "),
            "--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
             --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
             --implementation cp --python-version 3.12 --only-binary=:all:"
        );
        let x86 = pip_target("python3.13", "x86_64").expect("x86_64");
        assert_eq!(x86.python_version, "3.13");
        assert_eq!(x86.platforms[0], "manylinux2014_x86_64");
        // Amazon Linux 2's glibc (2.26): no manylinux_2_28 wheels for python3.11 and older.
        let old = pip_target("python3.9", "x86_64").expect("3.9");
        assert_eq!(
            old.platforms,
            ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
        );
        assert!(
            old.describe()
                .starts_with("python3.9 on x86_64 (manylinux2014_x86_64")
        );
    }

    #[test]
    fn runtimes_and_architectures_lambda_lacks_are_refused() {
        for runtime in [
            "python3",
            "python3.7",
            "python3.x",
            "python2.7",
            "python3.99",
        ] {
            let e = pip_target(runtime, "x86_64").expect_err(runtime);
            assert!(e.contains("python3.8..python3.14"), "{e}");
        }
        let e = pip_target("python3.12", "aarch64").expect_err("aarch64");
        assert!(e.contains("x86_64 or arm64"), "{e}");
    }

    #[test]
    fn pips_missing_wheel_is_read_from_its_output() {
        let out: Vec<String> = [
            "ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)",
            "ERROR: No matching distribution found for docopt==0.6.2",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(missing_wheel(&out).as_deref(), Some("docopt==0.6.2"));
        assert!(!index_unreachable(&out));
        let offline = vec![
            "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError(...)'".to_owned(),
        ];
        assert!(index_unreachable(&offline));
        assert_eq!(missing_wheel(&["ERROR: other".to_owned()]), None);
        let t = pip_target("python3.12", "arm64").expect("t");
        let fix = no_wheel_fix("docopt==0.6.2", &t, "A, B");
        for part in [
            "docopt==0.6.2 has no wheel for python3.12 on arm64 (manylinux2014_aarch64",
            "pure-Python",
            "[functions.A]",
            "`build = \"...\"`",
            "--use-container",
        ] {
            assert!(fix.contains(part), "{part}: {fix}");
        }
    }

    #[test]
    fn only_pure_python_wheels_are_taken_from_a_build_here() {
        for pure in [
            "docopt-0.6.2-py2.py3-none-any.whl",
            "six-1.16.0-py3-none-any.whl",
            "a_b-1.0-1-py3-none-any.whl",
        ] {
            assert!(is_pure_wheel(pure), "{pure}");
        }
        for not in [
            "native-1.0-cp311-cp311-linux_x86_64.whl",
            "abi3-1.0-cp38-abi3-linux_x86_64.whl",
            "odd-1.0-cp311-none-any.whl",
            "docopt-0.6.2.tar.gz",
            "short-py3-none-any.whl",
        ] {
            assert!(!is_pure_wheel(not), "{not}");
        }
        assert_eq!(
            source_build_requirements(
                "--find-links ./dist\n-r more.txt\nmarkupsafe==3.0.2\n  --index-url https://pypi.org/simple\ndocopt==0.6.2\n",
                "docopt==0.6.2"
            ),
            "--find-links ./dist\n--index-url https://pypi.org/simple\ndocopt==0.6.2\n"
        );
    }
}
