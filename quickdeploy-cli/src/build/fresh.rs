//! Whether a build must run, decided purely: a build whose inputs did not change since its
//! last successful run, and whose output is still what that run left, is skipped (an
//! unchanged Rust crate's `cargo` costs 90-280 ms for nothing, a `make` or esbuild as much).
//!
//! What counts as input, per method ([`inputs_of`]): the source folder with its ignores (the
//! files the build copies or compiles), the dependency files, for a Rust crate the
//! `Cargo.toml`/`Cargo.lock`/toolchain/`.cargo/config` files of the folders above it and its
//! path dependencies' folders, for Go the `go.work` files above it and the folders its
//! `go.mod` replaces modules with; the build's own settings
//! (method, arguments, architecture, ignores, runtimes, where it writes) and the environment
//! variables its tool reads (`PATH`, and `CARGO_*`/`RUST*`, `GO*`, `NODE_*`/`npm_config_*`,
//! `PIP_*`, `MAKEFLAGS` by method). A file counts as unchanged when its size and
//! modification time (ns) are those recorded, or else when its SHA-256 is (a `touch`, a
//! checkout of the same content): the same rule as cargo's and make's own, plus the hash.
//! The output is compared by size and modification time of every file of the build folder.
//! The record of a build is kept in `.quickdeploy/build-state/` ([`record_path`]); deleting
//! it makes every build run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build::method::{Build, DependencySource, Method};
use crate::package::spec::PackageSpec;

/// Where the builds' records go, under the project's `.quickdeploy/`.
pub const STATE_DIR: &str = "build-state";

/// The record's format: a record of another version is no record.
const VERSION: u32 = 1;

/// A file's size and modification time (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime_ns: u64,
}

/// One input as recorded: its stamp (`None`: it did not exist, and its appearing counts as
/// a change) and the SHA-256 of its content (`None` for a folder, or when unreadable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Size and modification time.
    pub stamp: Option<Stamp>,
    /// Hex SHA-256 of the content.
    pub sha256: Option<String>,
}

/// What a successful build was made from and what it left, written after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`VERSION`].
    pub version: u32,
    /// The hash of the build's settings and environment ([`settings_hash`]).
    pub settings: String,
    /// Every input, by absolute path.
    pub inputs: BTreeMap<String, Input>,
    /// Every file of the build folder, by path inside it.
    pub outputs: BTreeMap<String, Stamp>,
    /// Where its dependencies came from (reported again when the build is skipped).
    pub dependencies: DependencySource,
    /// Their cache entry.
    pub cache_key: Option<String>,
}

/// What the inputs of a build are: folders scanned as packages (their ignores and
/// `.gitignore`s apply), single files (present or not), and the environment variables read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// Folders whose files are inputs.
    pub folders: Vec<PackageSpec>,
    /// Files that are inputs whether or not they exist.
    pub files: Vec<PathBuf>,
    /// Environment variables, by exact name or by prefix (ending in `*`).
    pub env: Vec<&'static str>,
}

/// Whether to run a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// Inputs and output as recorded: the build is not run.
    Skip,
    /// Run it, and why.
    Run(String),
}

/// The names of files, in the crate's folder and every folder above it, that cargo reads
/// for a build besides the sources: the workspace's manifest and lock, the toolchain file,
/// cargo's configuration.
const CARGO_FILES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain",
    "rust-toolchain.toml",
    ".cargo/config.toml",
    ".cargo/config",
];

/// What counts as input of `b`; `path_deps` are the folders of a Rust crate's path
/// dependencies (found by [`path_dependencies`] in the manifests) or of a Go module's local
/// replacements ([`go_local_replacements`]), `rustup` the rustup
/// home, whose settings and toolchains folder say which compiler cargo runs.
pub fn inputs_of(b: &Build, path_deps: &[PathBuf], rustup: Option<&Path>) -> InputSpec {
    let mut source = b.source_spec();
    // A `build` command runs in the project root and writes its package there: that
    // package is its output, not its input.
    if let Ok(rel) = b.out.strip_prefix(&source.folder) {
        let rel = rel.to_string_lossy();
        if !rel.is_empty() {
            source.ignore.push(format!("/{rel}/"));
        }
    }
    let mut files: Vec<PathBuf> = b
        .method
        .dependency_files()
        .iter()
        .map(|f| b.source.join(f))
        .collect();
    let above = |names: &[&str], files: &mut Vec<PathBuf>| {
        for dir in b.source.ancestors() {
            files.extend(names.iter().map(|n| dir.join(n)));
        }
    };
    let mut folders = vec![source];
    let env: Vec<&'static str> = match &b.method {
        Method::Rust { .. } => {
            above(CARGO_FILES, &mut files);
            folders.extend(path_deps.iter().map(|d| PackageSpec {
                folder: d.clone(),
                include: Vec::new(),
                ignore: vec!["target/".into()],
            }));
            if let Some(home) = rustup {
                files.extend([home.join("settings.toml"), home.join("toolchains")]);
            }
            vec!["PATH", "CARGO_*", "RUST*"]
        }
        Method::Go => {
            above(&["go.work", "go.work.sum"], &mut files);
            folders.extend(path_deps.iter().map(|d| PackageSpec {
                folder: d.clone(),
                include: Vec::new(),
                ignore: Vec::new(),
            }));
            vec!["PATH", "GO*", "CGO_*"]
        }
        Method::Python { .. } => vec!["PATH", "PIP_*"],
        Method::Node { .. } | Method::Esbuild(_) | Method::CdkBundle(_) => {
            vec!["PATH", "NODE_*", "npm_config_*", "NPM_CONFIG_*"]
        }
        Method::Makefile { .. } => vec!["PATH", "MAKEFLAGS"],
        Method::Command(_) | Method::Unsupported { .. } => vec!["PATH"],
    };
    InputSpec {
        folders,
        files,
        env,
    }
}

/// The environment variables of `all` that `spec` names, sorted.
pub fn env_of(
    spec: &InputSpec,
    all: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all
        .filter(|(k, _)| {
            spec.env.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => k.starts_with(prefix),
                None => k == p,
            })
        })
        .collect();
    v.sort();
    v
}

/// The hash of what decides a build besides its files: the method with its arguments, the
/// architecture, the ignores, the runtimes, where it writes, and the environment `env`.
pub fn settings_hash(b: &Build, env: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    h.update(b"quickdeploy-build-settings/1\0");
    let parts = [
        format!("{:?}", b.method),
        b.architecture.clone(),
        format!("{:?}", b.ignore),
        format!("{:?}", b.runtimes),
        b.out.display().to_string(),
        b.target.display().to_string(),
    ];
    for part in parts
        .iter()
        .map(String::as_bytes)
        .chain(env.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]))
    {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex(&h.finalize())
}

/// The folders a Cargo manifest's path dependencies name (`path = "..."` under any
/// `*dependencies` table, `[workspace.dependencies]`, `[patch.*]` and `[replace]`), as
/// written (relative to the manifest's folder). A manifest that does not parse names none:
/// cargo then fails, and a failed build records nothing.
pub fn path_dependencies(cargo_toml: &str) -> Vec<String> {
    fn walk(v: &toml::Value, in_deps: bool, out: &mut Vec<String>) {
        let toml::Value::Table(t) = v else {
            return;
        };
        for (k, v) in t {
            if in_deps && k == "path" {
                if let Some(p) = v.as_str() {
                    out.push(p.to_owned());
                }
                continue;
            }
            let deps = in_deps || k.ends_with("dependencies") || k == "patch" || k == "replace";
            walk(v, deps, out);
        }
    }
    let mut out = Vec::new();
    if let Ok(t) = toml::from_str::<toml::Table>(cargo_toml) {
        walk(&toml::Value::Table(t), false, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The local folders a `go.mod` replaces modules with (`replace m => ../m`, one line or in a
/// `replace ( ... )` block), as written (relative to its folder): Go compiles their files.
pub fn go_local_replacements(go_mod: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block = false;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if block && line.starts_with(')') {
            block = false;
            continue;
        }
        let rest = match line.strip_prefix("replace") {
            Some(r) if r.trim_start().starts_with('(') => {
                block = true;
                continue;
            }
            Some(r) => r,
            None if block => line,
            None => continue,
        };
        if let Some((_, to)) = rest.split_once("=>") {
            let to = to.split_whitespace().next().unwrap_or("");
            if to.starts_with("./") || to.starts_with("../") || to.starts_with('/') {
                out.push(to.to_owned());
            }
        }
    }
    out
}

/// True when a Cargo manifest has a `[workspace]` table: the root of its workspace, above
/// which cargo reads no manifest.
pub fn is_workspace_root(cargo_toml: &str) -> bool {
    toml::from_str::<toml::Table>(cargo_toml).is_ok_and(|t| t.contains_key("workspace"))
}

/// Whether to run the build whose last record is `record`, given its settings' hash now,
/// its inputs' stamps now (`None`: absent) and its output's; `hash` reads an input's
/// SHA-256 (only asked for an input whose stamp moved).
pub fn decide(
    record: Option<&Record>,
    settings: &str,
    inputs: &BTreeMap<String, Option<Stamp>>,
    outputs: &BTreeMap<String, Stamp>,
    hash: &mut dyn FnMut(&str) -> Option<String>,
) -> Fresh {
    let Some(r) = record.filter(|r| r.version == VERSION) else {
        return Fresh::Run("no record of a previous build".into());
    };
    if r.settings != settings {
        return Fresh::Run("its settings or environment changed".into());
    }
    if let Some(p) = inputs.keys().find(|p| !r.inputs.contains_key(*p)) {
        return Fresh::Run(format!("{p} is new"));
    }
    if let Some(p) = r.inputs.keys().find(|p| !inputs.contains_key(*p)) {
        return Fresh::Run(format!("{p} is gone"));
    }
    for (path, now) in inputs {
        let was = &r.inputs[path];
        if *now == was.stamp {
            continue;
        }
        let same = now.is_some()
            && was.stamp.is_some()
            && was.sha256.is_some()
            && hash(path) == was.sha256;
        if !same {
            return Fresh::Run(format!("{path} changed"));
        }
    }
    if *outputs != r.outputs {
        let which = outputs
            .iter()
            .find(|(p, s)| r.outputs.get(*p) != Some(*s))
            .map(|(p, _)| p.clone())
            .or_else(|| {
                r.outputs
                    .keys()
                    .find(|p| !outputs.contains_key(*p))
                    .cloned()
            })
            .unwrap_or_default();
        return Fresh::Run(format!("its output {which} is not what it built"));
    }
    Fresh::Skip
}

/// The inputs to record for a build about to run: each input's stamp now, and its SHA-256
/// taken from `prev` when the stamp did not move, else read by `hash`.
pub fn inputs_to_record(
    prev: Option<&Record>,
    inputs: &BTreeMap<String, Option<Stamp>>,
    hash: &mut dyn FnMut(&str) -> Option<String>,
) -> BTreeMap<String, Input> {
    inputs
        .iter()
        .map(|(path, stamp)| {
            let known = prev
                .and_then(|r| r.inputs.get(path))
                .filter(|i| i.stamp == *stamp && i.sha256.is_some())
                .and_then(|i| i.sha256.clone());
            let sha256 = match (stamp, known) {
                (None, _) => None,
                (Some(_), Some(k)) => Some(k),
                (Some(_), None) => hash(path),
            };
            (
                path.clone(),
                Input {
                    stamp: *stamp,
                    sha256,
                },
            )
        })
        .collect()
}

/// Where, in the records' folder `records`, the record of the build writing `out` is kept:
/// named by a hash of that folder, so two builds never share one.
pub fn record_path(records: &Path, out: &Path) -> PathBuf {
    let digest = Sha256::digest(out.as_os_str().as_encoded_bytes());
    records.join(format!("{}.json", hex(&digest[..12])))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::method::Esbuild;

    fn build(method: Method) -> Build {
        Build {
            ids: vec!["Fn".into()],
            method,
            source: PathBuf::from("/app/src/fn"),
            out: PathBuf::from("/app/.quickdeploy/build/Fn"),
            target: PathBuf::from("/app/.quickdeploy/build/Fn"),
            architecture: "x86_64".into(),
            ignore: Vec::new(),
            runtimes: vec!["provided.al2023".into()],
        }
    }

    fn stamp(size: u64, mtime_ns: u64) -> Option<Stamp> {
        Some(Stamp { size, mtime_ns })
    }

    /// A record of inputs `main.rs` (content "a") and `Cargo.lock` (content "l"), output
    /// `bootstrap`.
    fn record() -> (
        Record,
        BTreeMap<String, Option<Stamp>>,
        BTreeMap<String, Stamp>,
    ) {
        let inputs: BTreeMap<_, _> = [
            ("/c/src/main.rs".to_owned(), stamp(1, 10)),
            ("/c/Cargo.lock".to_owned(), stamp(1, 20)),
            ("/Cargo.lock".to_owned(), None),
        ]
        .into();
        let outputs: BTreeMap<_, _> = [(
            "bootstrap".to_owned(),
            Stamp {
                size: 100,
                mtime_ns: 30,
            },
        )]
        .into();
        let mut hash = |p: &str| Some(if p.ends_with(".rs") { "a" } else { "l" }.to_owned());
        let r = Record {
            version: VERSION,
            settings: "s".into(),
            inputs: inputs_to_record(None, &inputs, &mut hash),
            outputs: outputs.clone(),
            dependencies: DependencySource::None,
            cache_key: None,
        };
        (r, inputs, outputs)
    }

    fn never(_: &str) -> Option<String> {
        panic!("hashed although no stamp moved")
    }

    #[test]
    fn an_unchanged_build_is_skipped_without_reading_a_file() {
        let (r, inputs, outputs) = record();
        assert_eq!(r.inputs["/Cargo.lock"].sha256, None, "absent");
        assert_eq!(r.inputs["/c/src/main.rs"].sha256.as_deref(), Some("a"));
        assert_eq!(
            decide(Some(&r), "s", &inputs, &outputs, &mut never),
            Fresh::Skip
        );
    }

    #[test]
    fn a_touched_file_with_the_same_content_is_no_change_an_edited_one_is() {
        let (r, mut inputs, outputs) = record();
        inputs.insert("/c/src/main.rs".into(), stamp(1, 11));
        let mut same = |_: &str| Some("a".to_owned());
        assert_eq!(
            decide(Some(&r), "s", &inputs, &outputs, &mut same),
            Fresh::Skip
        );
        let mut edited = |_: &str| Some("b".to_owned());
        assert_eq!(
            decide(Some(&r), "s", &inputs, &outputs, &mut edited),
            Fresh::Run("/c/src/main.rs changed".into())
        );
        // The next record keeps the known hash for an unmoved stamp, reads the moved one.
        let mut asked = Vec::new();
        let next = inputs_to_record(Some(&r), &inputs, &mut |p: &str| {
            asked.push(p.to_owned());
            Some("b".into())
        });
        assert_eq!(asked, ["/c/src/main.rs"]);
        assert_eq!(next["/c/Cargo.lock"].sha256.as_deref(), Some("l"));
    }

    #[test]
    fn a_changed_lock_a_new_or_gone_file_settings_or_output_run_it() {
        let (r, inputs, outputs) = record();
        let mut lock = inputs.clone();
        lock.insert("/c/Cargo.lock".into(), stamp(2, 21));
        let mut other = |_: &str| Some("l2".to_owned());
        assert_eq!(
            decide(Some(&r), "s", &lock, &outputs, &mut other),
            Fresh::Run("/c/Cargo.lock changed".into())
        );
        let mut appeared = inputs.clone();
        appeared.insert("/Cargo.lock".into(), stamp(5, 1));
        assert!(matches!(
            decide(Some(&r), "s", &appeared, &outputs, &mut other),
            Fresh::Run(why) if why == "/Cargo.lock changed"
        ));
        let mut added = inputs.clone();
        added.insert("/c/src/lib.rs".into(), stamp(1, 1));
        assert_eq!(
            decide(Some(&r), "s", &added, &outputs, &mut never),
            Fresh::Run("/c/src/lib.rs is new".into())
        );
        let mut gone = inputs.clone();
        gone.remove("/c/src/main.rs");
        assert_eq!(
            decide(Some(&r), "s", &gone, &outputs, &mut never),
            Fresh::Run("/c/src/main.rs is gone".into())
        );
        assert_eq!(
            decide(Some(&r), "s2", &inputs, &outputs, &mut never),
            Fresh::Run("its settings or environment changed".into())
        );
        let mut out = outputs.clone();
        out.insert(
            "bootstrap".into(),
            Stamp {
                size: 100,
                mtime_ns: 31,
            },
        );
        assert_eq!(
            decide(Some(&r), "s", &inputs, &out, &mut never),
            Fresh::Run("its output bootstrap is not what it built".into())
        );
        assert!(matches!(
            decide(Some(&r), "s", &inputs, &BTreeMap::new(), &mut never),
            Fresh::Run(why) if why.contains("bootstrap")
        ));
        assert!(matches!(
            decide(None, "s", &inputs, &outputs, &mut never),
            Fresh::Run(_)
        ));
        let old = Record {
            version: VERSION + 1,
            ..r
        };
        assert!(matches!(
            decide(Some(&old), "s", &inputs, &outputs, &mut never),
            Fresh::Run(_)
        ));
    }

    #[test]
    fn settings_and_the_tools_environment_are_inputs() {
        let b = build(Method::Rust { binary: None });
        let spec = inputs_of(&b, &[], None);
        let env = |pairs: &[(&str, &str)]| {
            env_of(
                &spec,
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
        };
        let base = env(&[
            ("PATH", "/bin"),
            ("RUSTFLAGS", ""),
            ("HOME", "/h"),
            ("TERM", "x"),
        ]);
        assert_eq!(
            base,
            [
                ("PATH".into(), "/bin".into()),
                ("RUSTFLAGS".into(), "".into())
            ],
            "only what cargo reads"
        );
        let s = settings_hash(&b, &base);
        assert_eq!(
            s,
            settings_hash(
                &b,
                &env(&[("PATH", "/bin"), ("RUSTFLAGS", ""), ("TERM", "y")])
            )
        );
        assert_ne!(
            s,
            settings_hash(
                &b,
                &env(&[("PATH", "/bin"), ("RUSTFLAGS", "-Copt-level=1")])
            )
        );
        assert_ne!(
            s,
            settings_hash(
                &b,
                &env(&[
                    ("PATH", "/bin"),
                    ("RUSTFLAGS", ""),
                    ("CARGO_PROFILE_RELEASE_LTO", "true")
                ])
            )
        );
        let named = build(Method::Rust {
            binary: Some("api".into()),
        });
        assert_ne!(s, settings_hash(&named, &base), "another binary");
        let arm = Build {
            architecture: "arm64".into(),
            ..b.clone()
        };
        assert_ne!(s, settings_hash(&arm, &base));
        let e = |minify| {
            settings_hash(
                &build(Method::Esbuild(Esbuild {
                    entry_points: vec!["app.ts".into()],
                    minify,
                    ..Esbuild::default()
                })),
                &[],
            )
        };
        assert_ne!(e(Some(true)), e(Some(false)), "an argument");
        let c = |cmd: &str| settings_hash(&build(Method::Command(cmd.into())), &[]);
        assert_ne!(c("make a"), c("make b"));
    }

    #[test]
    fn what_counts_as_input_per_method() {
        let rust = build(Method::Rust { binary: None });
        let spec = inputs_of(
            &rust,
            &[PathBuf::from("/app/shared")],
            Some(Path::new("/h/.rustup")),
        );
        assert_eq!(spec.folders[0].folder, Path::new("/app/src/fn"));
        assert!(spec.folders[0].ignore.contains(&"target/".to_owned()));
        assert_eq!(
            spec.folders[1].folder,
            Path::new("/app/shared"),
            "a path dependency"
        );
        for f in [
            "/app/src/fn/Cargo.lock",
            "/app/Cargo.lock",
            "/Cargo.toml",
            "/app/rust-toolchain.toml",
            "/app/src/.cargo/config.toml",
            "/h/.rustup/toolchains",
        ] {
            assert!(
                spec.files.contains(&PathBuf::from(f)),
                "{f}: {:?}",
                spec.files
            );
        }
        let py = build(Method::Python {
            runtime: "python3.12".into(),
        });
        let spec = inputs_of(&py, &[], None);
        assert_eq!(spec.files, [PathBuf::from("/app/src/fn/requirements.txt")]);
        assert!(spec.env.contains(&"PIP_*"));
        let go = inputs_of(&build(Method::Go), &[], None);
        assert!(go.files.contains(&PathBuf::from("/app/go.work")));
        assert!(go.env.contains(&"GO*"));
        // A command runs in the root and writes its package there: not an input of itself.
        let cmd = Build {
            source: PathBuf::from("/app"),
            out: PathBuf::from("/app/dist/f"),
            target: PathBuf::from("/app/dist/f"),
            ..build(Method::Command("make f".into()))
        };
        let spec = inputs_of(&cmd, &[], None);
        assert_eq!(spec.folders[0].ignore, ["/dist/f/"]);
    }

    #[test]
    fn path_dependencies_are_found_wherever_cargo_reads_them() {
        let toml = r#"
[package]
name = "fn"
path = "not/a/dependency"
[dependencies]
shared = { path = "../shared" }
serde = "1"
[target.'cfg(unix)'.dependencies]
unixy = { path = "../unixy", version = "0.1" }
[build-dependencies.gen]
path = "../gen"
[workspace.dependencies]
common = { path = "crates/common" }
[patch.crates-io]
foo = { path = "vendor/foo" }
"#;
        assert_eq!(
            path_dependencies(toml),
            [
                "../gen",
                "../shared",
                "../unixy",
                "crates/common",
                "vendor/foo"
            ]
        );
        assert!(path_dependencies("not toml [").is_empty());
        assert!(is_workspace_root(toml));
        assert!(!is_workspace_root("[package]\nname = \"a\"\n"));
        assert!(is_workspace_root("[package]\nname = \"a\"\n[workspace]\n"));
    }

    #[test]
    fn go_local_replacements_are_inputs_and_module_ones_are_not() {
        let go_mod = "module example.com/hello\n\ngo 1.22\n\nrequire example.com/greet v0.0.0\n\n\
replace example.com/greet => ../greet // ours\nreplace golang.org/x/net => golang.org/x/net v0.1.0\n\
replace (\n\texample.com/a v1.0.0 => ./a\n\texample.com/b => /abs/b\n)\n";
        assert_eq!(go_local_replacements(go_mod), ["../greet", "./a", "/abs/b"]);
        assert!(go_local_replacements("module m\n").is_empty());
    }

    #[test]
    fn each_build_has_a_record_of_its_own() {
        let state = Path::new("/app/.quickdeploy/build-state");
        let a = record_path(state, Path::new("/app/.quickdeploy/build/A"));
        assert!(a.starts_with(state));
        assert_ne!(
            a,
            record_path(state, Path::new("/app/.quickdeploy/build/B"))
        );
        assert_eq!(
            a,
            record_path(state, Path::new("/app/.quickdeploy/build/A"))
        );
    }
}
