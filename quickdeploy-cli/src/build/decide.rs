//! Which functions and layers quickdeploy builds, how, and where: pure decisions from the
//! template's `Metadata.BuildMethod` (SAM's convention) and `quickdeploy.toml`'s `build`
//! commands. [`crate::build::runner`] runs what is decided here.
//!
//! A build goes into `.quickdeploy/build/<LogicalId>/`, which is then the package: `full`
//! uploads it, `deploy` and `status` diff it. Dependencies are installed once per content of
//! the dependency files (and method, runtime, architecture) into
//! `.quickdeploy/build-cache/<key>/`, so a code-only change copies source files and nothing
//! else: the quick path stays O(change).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::package::spec::PackageSpec;
use crate::project::config::Config;
use crate::project::normalize;
use crate::project::template::{CodeLocation, Template};

/// Where builds go, under the project's `.quickdeploy/`.
pub const BUILD_DIR: &str = "build";
/// Where dependency installs are cached, under the project's `.quickdeploy/`.
pub const CACHE_DIR: &str = "build-cache";
/// Where tools that write a fresh output folder (esbuild, make) write it, under
/// `.quickdeploy/`; their output is then copied into the build folder file by file, so
/// unchanged files keep their modification times.
pub const WORK_DIR: &str = "build-work";

/// How a package is built.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// `python3.x`: the source files, and `requirements.txt` installed by pip.
    Python {
        /// The runtime (the BuildMethod), part of the cache key.
        runtime: String,
    },
    /// `nodejs*`: the source files, and the production dependencies installed by npm.
    Node {
        /// The runtime (the BuildMethod), part of the cache key.
        runtime: String,
    },
    /// `esbuild`: every dependency (dev ones too: esbuild is one) installed by npm, then the
    /// entry points bundled.
    Esbuild(Esbuild),
    /// `rust-cargolambda`: the crate in the source folder built in release mode for the
    /// function's architecture, its binary packaged as `bootstrap` (0755).
    Rust {
        /// `BuildProperties.Binary`: the binary to package (else the crate's only one, by
        /// its package name).
        binary: Option<String>,
    },
    /// `makefile`: `make build-<LogicalId> ARTIFACTS_DIR=...` in the source folder.
    Makefile {
        /// The make target's logical id.
        target: String,
    },
    /// `build = "..."` in quickdeploy.toml: the user's command, in the project root; its
    /// package is the folder `package` names.
    Command(String),
    /// A BuildMethod quickdeploy cannot run: building it is refused, saying why.
    Unsupported {
        /// The BuildMethod as written.
        method: String,
        /// Why, and what to do instead.
        why: String,
    },
}

/// `Metadata.BuildProperties` of an esbuild function, as SAM reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Esbuild {
    /// `EntryPoints`, relative to the source folder.
    pub entry_points: Vec<String>,
    /// `Minify` (SAM's default: true).
    pub minify: Option<bool>,
    /// `Sourcemap`.
    pub sourcemap: Option<bool>,
    /// `Target` (SAM's default: es2020).
    pub target: Option<String>,
    /// `Format` (SAM's default: cjs).
    pub format: Option<String>,
    /// `External`: modules left out of the bundle.
    pub external: Vec<String>,
    /// `MainFields`.
    pub main_fields: Option<String>,
    /// `Loader`: `.ext=loader` pairs.
    pub loader: Vec<String>,
}

/// One build: a source folder built one way into one build folder, for the functions or
/// layers made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The functions or layers it is the package of, by logical id (sorted).
    pub ids: Vec<String>,
    /// How.
    pub method: Method,
    /// The folder the template names (`CodeUri`, `ContentUri`).
    pub source: PathBuf,
    /// The build folder: the package. For a `build` command, the `package` folder.
    pub out: PathBuf,
    /// Where inside `out` the files go: `out` itself, or a layer's runtime folder
    /// (`python/`, `nodejs/`), as SAM builds layers.
    pub target: PathBuf,
    /// The instruction set (`x86_64`, `arm64`): part of the cache key.
    pub architecture: String,
    /// Ignore patterns (gitignore syntax) for the source files copied.
    pub ignore: Vec<String>,
    /// The runtimes of the functions it builds for, as the template names them: a Rust
    /// binary must find the glibc it needs in each.
    pub runtimes: Vec<String>,
}

/// Every build of a project, and where its state goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Builds {
    /// The builds, in order of their build folders.
    pub items: Vec<Build>,
    /// `.quickdeploy/build-cache`.
    pub cache: PathBuf,
    /// `.quickdeploy/build-work`.
    pub work: PathBuf,
}

/// What one build did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Built {
    /// The functions or layers it built.
    pub ids: Vec<String>,
    /// The method, as the template or config names it (`python3.12`, `esbuild`, `command`).
    pub method: String,
    /// The dependencies: `installed` (a new cache entry), `cached`, or `none`.
    pub dependencies: DependencySource,
    /// The cache entry used, when there are dependencies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// Files written into the build folder (new or changed).
    pub copied: usize,
    /// Files removed from it (gone from the source or the output).
    pub removed: usize,
    /// Milliseconds it took.
    pub ms: f64,
}

/// Where a build's dependencies came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DependencySource {
    /// Installed now, into a new cache entry.
    Installed,
    /// From the cache: nothing installed.
    Cached,
    /// The package has no dependency file (or the method installs none).
    None,
}

impl Method {
    /// The name shown and reported: the BuildMethod, or `command`.
    pub fn name(&self) -> String {
        match self {
            Self::Python { runtime } | Self::Node { runtime } => runtime.clone(),
            Self::Esbuild(_) => "esbuild".into(),
            Self::Makefile { .. } => "makefile".into(),
            Self::Rust { .. } => "rust-cargolambda".into(),
            Self::Command(_) => "command".into(),
            Self::Unsupported { method, .. } => method.clone(),
        }
    }

    /// The dependency files whose content decides the cache entry, in the source folder.
    pub fn dependency_files(&self) -> &'static [&'static str] {
        match self {
            Self::Python { .. } => &["requirements.txt"],
            Self::Node { .. } | Self::Esbuild(_) => {
                &["package.json", "package-lock.json", "npm-shrinkwrap.json"]
            }
            _ => &[],
        }
    }

    /// The folder of a layer's files inside its build folder, as SAM builds layers
    /// (`get_layer_subfolder`): `python`, `nodejs`, or the build folder itself.
    fn layer_subfolder(&self) -> Option<&'static str> {
        match self {
            Self::Python { .. } => Some("python"),
            Self::Node { .. } => Some("nodejs"),
            Self::Makefile { .. } | Self::Command(_) | Self::Unsupported { .. } => Some(""),
            Self::Esbuild(_) | Self::Rust { .. } => None,
        }
    }
}

/// The method a `BuildMethod` names; `props` are its `BuildProperties`.
pub fn method_of(id: &str, method: &str, props: &Value) -> Method {
    let unsupported = |why: String| Method::Unsupported {
        method: method.to_owned(),
        why,
    };
    if method.starts_with("python3") {
        return Method::Python {
            runtime: method.to_owned(),
        };
    }
    if method.starts_with("nodejs") {
        return Method::Node {
            runtime: method.to_owned(),
        };
    }
    match method {
        "esbuild" => esbuild_of(id, props).map_or_else(unsupported, Method::Esbuild),
        "makefile" => Method::Makefile { target: id.into() },
        "rust-cargolambda" => Method::Rust {
            binary: props["Binary"].as_str().map(str::to_owned),
        },
        _ => unsupported(format!(
            "{id}: BuildMethod {method} is not supported yet: use `build =` (with `package =`, the folder it builds) under [functions.{id}] in quickdeploy.toml"
        )),
    }
}

/// esbuild's settings from `BuildProperties`; an error names what is missing.
fn esbuild_of(id: &str, props: &Value) -> Result<Esbuild, String> {
    let strings = |name: &str| -> Vec<String> {
        props[name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let text = |name: &str| props[name].as_str().map(str::to_owned);
    let entry_points = strings("EntryPoints");
    if entry_points.is_empty() {
        return Err(format!(
            "{id}: BuildMethod esbuild needs Metadata.BuildProperties.EntryPoints (the files to bundle, relative to its CodeUri): add them to the template"
        ));
    }
    Ok(Esbuild {
        entry_points,
        minify: props["Minify"].as_bool(),
        sourcemap: props["Sourcemap"].as_bool(),
        target: text("Target"),
        format: text("Format"),
        external: strings("External"),
        main_fields: text("MainFields"),
        loader: strings("Loader"),
    })
}

/// The builds of a project: each function with a `BuildMethod` or a `binary` (a Rust crate)
/// and neither `package` nor `build` in quickdeploy.toml (those take over), each layer with
/// a `BuildMethod`, and each distinct `build` command. Functions with the same source, method and settings share one
/// build (named after the first), so they keep sharing one artifact.
pub fn plan(local: &Template, config: &Config, root: &Path, template_dir: &Path) -> Builds {
    let state = root.join(".quickdeploy");
    type Key = (PathBuf, Method, String, Vec<String>);
    let mut merged: BTreeMap<Key, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut items = Vec::new();
    let mut commands: BTreeMap<String, Build> = BTreeMap::new();
    for f in local.functions() {
        let fc = config
            .functions
            .get(&f.logical_id)
            .cloned()
            .unwrap_or_default();
        let CodeLocation::Local(path) = &f.code else {
            continue;
        };
        let source = normalize(&template_dir.join(path));
        if let Some(cmd) = &fc.build {
            let out = fc
                .package
                .as_ref()
                .map_or(source.clone(), |p| normalize(&root.join(p)));
            let b = commands.entry(cmd.clone()).or_insert_with(|| Build {
                ids: Vec::new(),
                method: Method::Command(cmd.clone()),
                source: root.to_owned(),
                target: out.clone(),
                out,
                architecture: String::new(),
                ignore: Vec::new(),
                runtimes: Vec::new(),
            });
            b.ids.push(f.logical_id.clone());
            continue;
        }
        if fc.package.is_some() {
            continue;
        }
        let props = &local.doc["Resources"][&f.logical_id]["Metadata"]["BuildProperties"];
        // `binary` in quickdeploy.toml makes the code folder a Rust crate, whatever the
        // template says (a plain CloudFormation template has no BuildMethod).
        let method = match (&fc.binary, &f.build_method) {
            (Some(bin), _) => Method::Rust {
                binary: Some(bin.clone()),
            },
            (None, Some(m)) => method_of(&f.logical_id, m, props),
            (None, None) => continue,
        };
        let arch = f
            .architectures
            .first()
            .cloned()
            .unwrap_or_else(|| "x86_64".into());
        let mut ignore = config.ignore.clone();
        ignore.extend(fc.ignore.iter().cloned());
        let (ids, runtimes) = merged.entry((source, method, arch, ignore)).or_default();
        ids.push(f.logical_id.clone());
        runtimes.extend(local.function_settings(&f.logical_id).runtime);
    }
    for ((source, method, architecture, ignore), (ids, runtimes)) in merged {
        let out = state.join(BUILD_DIR).join(&ids[0]);
        items.push(Build {
            ids,
            method,
            source,
            target: out.clone(),
            out,
            architecture,
            ignore,
            runtimes,
        });
    }
    items.extend(layer_builds(local, config, &state, template_dir));
    items.extend(commands.into_values());
    items.sort_by(|a, b| a.out.cmp(&b.out));
    Builds {
        items,
        cache: state.join(CACHE_DIR),
        work: state.join(WORK_DIR),
    }
}

/// Each layer with a `BuildMethod` whose content is a local folder, built into its runtime's
/// folder inside the build folder, as SAM does.
fn layer_builds(
    local: &Template,
    config: &Config,
    state: &Path,
    template_dir: &Path,
) -> Vec<Build> {
    let mut out = Vec::new();
    for (id, path) in local.local_layers() {
        let r = &local.doc["Resources"][&id];
        let Some(m) = r.pointer("/Metadata/BuildMethod").and_then(Value::as_str) else {
            continue;
        };
        let mut method = method_of(&id, m, &r["Metadata"]["BuildProperties"]);
        let folder = state.join(BUILD_DIR).join(&id);
        let sub = method.layer_subfolder().unwrap_or_else(|| {
            method = Method::Unsupported {
                method: m.to_owned(),
                why: format!("layer {id}: BuildMethod {m} builds functions, not layers (SAM refuses it too): use python3.x, nodejs*, or makefile"),
            };
            ""
        });
        let architecture = r
            .pointer("/Properties/CompatibleArchitectures/0")
            .and_then(Value::as_str)
            .unwrap_or("x86_64")
            .to_owned();
        out.push(Build {
            ids: vec![id.clone()],
            method,
            source: normalize(&template_dir.join(path)),
            target: if sub.is_empty() {
                folder.clone()
            } else {
                folder.join(sub)
            },
            out: folder,
            architecture,
            ignore: config.ignore.clone(),
            runtimes: Vec::new(),
        });
    }
    out
}

impl Builds {
    /// The build folder of function or layer `id`, when quickdeploy builds it (not for a
    /// `build` command, whose package is where the config says).
    pub fn output_of(&self, id: &str) -> Option<&Path> {
        self.items
            .iter()
            .find(|b| !matches!(b.method, Method::Command(_)) && b.ids.iter().any(|i| i == id))
            .map(|b| b.out.as_path())
    }

    /// True when `folder` is a package some build makes (so its dependencies are installed
    /// by the build, and a dependency change may be quick-deployed when the config says so).
    pub fn builds_folder(&self, folder: &Path) -> bool {
        self.items.iter().any(|b| b.out == folder)
    }
}

/// The cache key of a build's dependencies: a hash of the method, runtime, architecture and
/// each dependency file present (`files`: name and content), so a change to any of them
/// installs afresh and nothing else does.
pub fn cache_key(build: &Build, files: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    h.update(b"quickdeploy-build-cache/1\0");
    for part in [
        build.method.name().as_bytes(),
        build.architecture.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for (name, content) in files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(content);
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A program to run, with its arguments, folder and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it runs.
    pub cwd: PathBuf,
    /// Environment variables set for it.
    pub env: Vec<(String, String)>,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// The command that installs a build's dependencies into `dir` (a new cache entry, holding
/// copies of the dependency files `present`); `None` when there is nothing to install.
/// pip installs into `dir/deps`; npm into `dir/node_modules`.
pub fn install(build: &Build, present: &[String], dir: &Path) -> Option<Command> {
    let has = |name: &str| present.iter().any(|p| p == name);
    let run = |program: &str, args: &[&str]| Command {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: dir.to_owned(),
        env: Vec::new(),
    };
    match &build.method {
        Method::Python { .. } if has("requirements.txt") => Some(run(
            "python3",
            &[
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                "requirements.txt",
                "-t",
                "deps",
            ],
        )),
        Method::Node { .. } | Method::Esbuild(_) if has("package.json") => {
            let lock = has("package-lock.json") || has("npm-shrinkwrap.json");
            let mut args = vec![if lock { "ci" } else { "install" }];
            if matches!(build.method, Method::Node { .. }) {
                args.push("--omit=dev");
            }
            args.extend(["--no-audit", "--no-fund"]);
            Some(run("npm", &args))
        }
        _ => None,
    }
}

/// The folder inside a cache entry whose files go into the build, and where they go inside
/// the build's target (`node_modules/` keeps its name; pip's `deps/` is the target's root).
/// `None` when the method copies no dependencies (esbuild bundles them).
pub fn cached_files(method: &Method) -> Option<(&'static str, &'static str)> {
    match method {
        Method::Python { .. } => Some(("deps", "")),
        Method::Node { .. } => Some(("node_modules", "node_modules")),
        _ => None,
    }
}

impl Build {
    /// The source files it builds from, as a package: its folder, with the configured ignores
    /// and the method's own ([`source_ignores`]). What the build copies and `watch` watches.
    pub fn source_spec(&self) -> PackageSpec {
        let mut ignore = self.ignore.clone();
        ignore.extend(source_ignores(&self.method).iter().map(|s| (*s).to_owned()));
        PackageSpec {
            folder: self.source.clone(),
            include: Vec::new(),
            ignore,
        }
    }
}

/// Source patterns left out of the copy (and of what `watch` watches) besides the configured
/// ones: a Node package's own `node_modules/` (its dependencies come from the cache, without
/// the dev ones), a crate's `target/`.
pub fn source_ignores(method: &Method) -> &'static [&'static str] {
    match method {
        Method::Node { .. } => &["node_modules/"],
        // cargo's own output when run in the crate (rust-analyzer's `cargo check` too): not
        // source, and watching it would start rounds by itself.
        Method::Rust { .. } => &["target/"],
        _ => &[],
    }
}

/// The tool run after the dependencies, writing a fresh `work` folder: esbuild (found in the
/// cache entry `deps`, resolving modules there through NODE_PATH) or make.
pub fn tool(build: &Build, deps: Option<&Path>, work: &Path) -> Option<Command> {
    match &build.method {
        Method::Esbuild(e) => {
            let bin = deps.map_or_else(
                || PathBuf::from("esbuild"),
                |d| d.join("node_modules/.bin/esbuild"),
            );
            let env = deps
                .map(|d| {
                    vec![(
                        "NODE_PATH".into(),
                        d.join("node_modules").display().to_string(),
                    )]
                })
                .unwrap_or_default();
            Some(Command {
                program: bin.display().to_string(),
                args: esbuild_args(e, work),
                cwd: build.source.clone(),
                env,
            })
        }
        Method::Makefile { target } => Some(Command {
            program: "make".into(),
            args: vec![
                "-C".into(),
                build.source.display().to_string(),
                format!("build-{target}"),
                format!("ARTIFACTS_DIR={}", work.display()),
            ],
            cwd: build.source.clone(),
            env: Vec::new(),
        }),
        Method::Command(cmd) => Some(Command {
            program: "sh".into(),
            args: vec!["-c".into(), cmd.clone()],
            cwd: build.source.clone(),
            env: Vec::new(),
        }),
        _ => None,
    }
}

/// esbuild's arguments, as SAM's esbuild workflow makes them: the entry points, `--bundle
/// --platform=node`, the output folder, SAM's defaults (`--target=es2020`, `--format=cjs`,
/// `--minify`) unless the properties say otherwise, then the properties.
pub fn esbuild_args(e: &Esbuild, outdir: &Path) -> Vec<String> {
    let mut args = e.entry_points.clone();
    args.extend([
        "--bundle".into(),
        "--platform=node".into(),
        format!("--outdir={}", outdir.display()),
        format!("--target={}", e.target.as_deref().unwrap_or("es2020")),
        format!("--format={}", e.format.as_deref().unwrap_or("cjs")),
    ]);
    if e.minify.unwrap_or(true) {
        args.push("--minify".into());
    }
    if e.sourcemap == Some(true) {
        args.push("--sourcemap".into());
    }
    if let Some(m) = &e.main_fields {
        args.push(format!("--main-fields={m}"));
    }
    args.extend(e.external.iter().map(|x| format!("--external:{x}")));
    args.extend(e.loader.iter().map(|x| format!("--loader:{x}")));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals: {Function: {Runtime: python3.12}}
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/py, Handler: a.h}, Metadata: {BuildMethod: python3.12}}
  B: {Type: AWS::Serverless::Function, Properties: {CodeUri: ./src/py/, Handler: b.h}, Metadata: {BuildMethod: python3.12}}
  C: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/js, Handler: app.handler, Architectures: [arm64]}, Metadata: {BuildMethod: esbuild, BuildProperties: {EntryPoints: [app.ts], Minify: false, Sourcemap: true, External: ["@aws-sdk/*"]}}}
  D: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/mk, Handler: d.h}, Metadata: {BuildMethod: makefile}}
  E: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/go, Handler: bootstrap}, Metadata: {BuildMethod: go1.x}}
  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/plain, Handler: f.h}}
  G: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/node, Handler: g.h}, Metadata: {BuildMethod: nodejs20.x}}
  H: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/own, Handler: h.h}, Metadata: {BuildMethod: python3.12}}
  Deps: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/deps, CompatibleArchitectures: [arm64]}, Metadata: {BuildMethod: python3.11}}
"#;

    fn builds(config: &str) -> Builds {
        let t = Template::parse(TEMPLATE).expect("template");
        let c = Config::parse(
            &format!("stack = \"s\"\ntemplate = \"t.yaml\"\n{config}"),
            Path::new("q"),
        )
        .expect("config");
        plan(&t, &c, Path::new("/app"), Path::new("/app/infra"))
    }

    #[test]
    fn functions_and_layers_with_a_build_method_build_into_their_folder() {
        let b = builds("[functions.H]\npackage = \"dist/h\"\n");
        let ids: Vec<_> = b.items.iter().map(|b| b.ids.join("+")).collect();
        // A and B share a source and a method: one build, so one artifact still.
        assert_eq!(ids, ["A+B", "C", "D", "Deps", "E", "G"]);
        assert_eq!(
            b.output_of("B"),
            Some(Path::new("/app/.quickdeploy/build/A"))
        );
        assert_eq!(b.output_of("F"), None, "no BuildMethod");
        assert_eq!(b.output_of("H"), None, "`package` takes over");
        let layer = &b.items[3];
        assert_eq!(
            layer.target,
            Path::new("/app/.quickdeploy/build/Deps/python")
        );
        assert_eq!(layer.architecture, "arm64");
        assert_eq!(b.items[0].source, Path::new("/app/infra/src/py"));
        assert_eq!(b.cache, Path::new("/app/.quickdeploy/build-cache"));
    }

    #[test]
    fn unsupported_methods_say_what_to_do() {
        let b = builds("");
        let Method::Unsupported { why, .. } = &b.items[4].method else {
            panic!("{:?}", b.items[4].method);
        };
        assert!(why.contains("not supported yet"), "{why}");
        assert!(why.contains("`build =`"), "{why}");
        let none = method_of("X", "esbuild", &Value::Null);
        assert!(matches!(none, Method::Unsupported { why, .. } if why.contains("EntryPoints")));
    }

    #[test]
    fn rust_builds_name_their_binary() {
        let m = method_of(
            "Fn",
            "rust-cargolambda",
            &serde_json::json!({"Binary": "api"}),
        );
        assert_eq!(
            m,
            Method::Rust {
                binary: Some("api".into())
            }
        );
        // `binary` in quickdeploy.toml: F has no BuildMethod, and becomes a Rust build.
        let b = builds("[functions.F]\nbinary = \"api\"\n");
        let f = b.items.iter().find(|x| x.ids == ["F"]).expect("F");
        assert_eq!(
            f.method,
            Method::Rust {
                binary: Some("api".into())
            }
        );
        assert_eq!(f.source, Path::new("/app/infra/src/plain"));
        assert_eq!(
            b.output_of("F"),
            Some(Path::new("/app/.quickdeploy/build/F"))
        );
        assert_eq!(source_ignores(&f.method), ["target/"]);
    }

    #[test]
    fn a_build_command_is_one_build_for_its_functions() {
        let b = builds("[functions.F]\nbuild = \"make f\"\npackage = \"dist/f\"\n");
        let cmd = b.items.iter().find(|b| b.ids == ["F"]).expect("F");
        assert_eq!(cmd.method, Method::Command("make f".into()));
        assert_eq!(cmd.out, Path::new("/app/dist/f"));
        assert!(b.builds_folder(Path::new("/app/dist/f")));
        assert_eq!(b.output_of("F"), None, "its package is the config's");
        let run = tool(cmd, None, Path::new("/w")).expect("command");
        assert_eq!(run.to_string(), "sh -c make f");
        assert_eq!(run.cwd, Path::new("/app"));
    }

    #[test]
    fn esbuild_arguments_follow_sam() {
        let b = builds("");
        let c = &b.items[1];
        let Method::Esbuild(e) = &c.method else {
            panic!()
        };
        let args = esbuild_args(e, Path::new("/w/C")).join(" ");
        assert_eq!(
            args,
            "app.ts --bundle --platform=node --outdir=/w/C --target=es2020 --format=cjs --sourcemap --external:@aws-sdk/*"
        );
        let run = tool(c, Some(Path::new("/cache/k")), Path::new("/w/C")).expect("esbuild");
        assert_eq!(run.program, "/cache/k/node_modules/.bin/esbuild");
        assert_eq!(
            run.env,
            [("NODE_PATH".into(), "/cache/k/node_modules".into())]
        );
        let d = tool(&b.items[2], None, Path::new("/w/D")).expect("make");
        assert_eq!(
            d.to_string(),
            "make -C /app/infra/src/mk build-D ARTIFACTS_DIR=/w/D"
        );
    }

    #[test]
    fn installs_by_method_and_files_present() {
        let b = builds("");
        let dir = Path::new("/c/k");
        let py = install(&b.items[0], &["requirements.txt".into()], dir).expect("pip");
        assert!(py.to_string().contains("pip install"), "{py}");
        assert!(
            install(&b.items[0], &[], dir).is_none(),
            "no requirements.txt"
        );
        let node = &b.items[5];
        let with_lock = ["package.json".into(), "package-lock.json".into()];
        assert_eq!(
            install(node, &with_lock, dir).expect("npm").to_string(),
            "npm ci --omit=dev --no-audit --no-fund"
        );
        assert_eq!(
            install(node, &["package.json".into()], dir)
                .expect("npm")
                .to_string(),
            "npm install --omit=dev --no-audit --no-fund"
        );
        let esbuild = install(&b.items[1], &with_lock, dir).expect("npm");
        assert_eq!(
            esbuild.to_string(),
            "npm ci --no-audit --no-fund",
            "dev dependencies too"
        );
        assert_eq!(
            cached_files(&node.method),
            Some(("node_modules", "node_modules"))
        );
        assert_eq!(source_ignores(&node.method), ["node_modules/"]);
    }

    #[test]
    fn the_cache_key_moves_with_dependencies_method_and_architecture_only() {
        let b = builds("");
        let a = &b.items[0];
        let files = |s: &str| vec![("requirements.txt".to_owned(), s.as_bytes().to_vec())];
        let k = cache_key(a, &files("six==1.16.0\n"));
        assert_eq!(k.len(), 32);
        assert_eq!(k, cache_key(a, &files("six==1.16.0\n")));
        assert_ne!(k, cache_key(a, &files("six==1.17.0\n")));
        let arm = Build {
            architecture: "arm64".into(),
            ..a.clone()
        };
        assert_ne!(k, cache_key(&arm, &files("six==1.16.0\n")));
        let other = Build {
            method: Method::Python {
                runtime: "python3.13".into(),
            },
            ..a.clone()
        };
        assert_ne!(k, cache_key(&other, &files("six==1.16.0\n")));
    }
}
