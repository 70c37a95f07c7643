//! The build methods: what each `BuildMethod` (and a `build` command, and a Rust crate) is,
//! the files that decide its dependencies, and its commands: the install into the
//! dependency cache, the tool that builds the sources, esbuild's arguments. Pure. A new
//! method is a [`Method`] variant here, its commands here, and its step in `runner`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::build::python;
use crate::package::spec::PackageSpec;

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

/// Where a build's dependencies came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DependencySource {
    /// Installed now, into a new cache entry.
    Installed,
    /// From the cache: nothing installed.
    Cached,
    /// The package has no dependency file (or the method installs none).
    None,
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
    /// `go1.x` (on a `provided.al2023`/`provided.al2` runtime, as `sam init` makes Go apps):
    /// the module in the source folder compiled for the function's architecture, without
    /// cgo, into an executable `bootstrap` ([`crate::build::go`]).
    Go,
    /// `makefile`: `make build-<LogicalId> ARTIFACTS_DIR=...` in the source folder.
    Makefile {
        /// The make target's logical id.
        target: String,
    },
    /// `cdk-esbuild`: a bundle the CDK made, built again by the esbuild command line the CDK
    /// ran (recorded at a synth), in the folder it ran in; the rest of the staged asset is
    /// kept as it is.
    CdkBundle(CdkBundle),
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

/// A CDK bundle's recorded build: the CDK reader's `quickdeploy:bundle` metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CdkBundle {
    /// The program and its first arguments (`/app/node_modules/.bin/esbuild`, or `npx
    /// --no-install esbuild`).
    pub program: Vec<String>,
    /// esbuild's arguments as the CDK gave them (`--outfile=` is pointed elsewhere).
    pub args: Vec<String>,
    /// The folder esbuild ran in.
    pub cwd: PathBuf,
    /// The output file's name in the asset.
    pub outfile: String,
    /// The staged asset (`cdk.out/asset.<hash>`): what the bundle's other files are.
    pub asset: PathBuf,
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

impl Method {
    /// The name shown and reported: the BuildMethod, or `command`.
    pub fn name(&self) -> String {
        match self {
            Self::Python { runtime } | Self::Node { runtime } => runtime.clone(),
            Self::Esbuild(_) => "esbuild".into(),
            Self::Makefile { .. } => "makefile".into(),
            Self::Rust { .. } => "rust-cargolambda".into(),
            Self::Go => "go1.x".into(),
            Self::Command(_) => "command".into(),
            Self::CdkBundle(_) => crate::project::cdk::BUNDLE_METHOD.into(),
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
    pub fn layer_subfolder(&self) -> Option<&'static str> {
        match self {
            Self::Python { .. } => Some("python"),
            Self::Node { .. } => Some("nodejs"),
            Self::Makefile { .. } | Self::Command(_) | Self::Unsupported { .. } => Some(""),
            Self::Esbuild(_) | Self::Rust { .. } | Self::Go | Self::CdkBundle(_) => None,
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
        "go1.x" => Method::Go,
        crate::project::cdk::BUNDLE_METHOD => {
            cdk_bundle_of(props).map_or_else(unsupported, Method::CdkBundle)
        }
        _ => unsupported(unsupported_why(id, method)),
    }
}

/// A CDK bundle's build from the CDK reader's `quickdeploy:bundle` metadata.
fn cdk_bundle_of(props: &Value) -> Result<CdkBundle, String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    };
    let text = |k: &str| props[k].as_str().map(str::to_owned);
    let bad = || {
        "the CDK bundle's record is incomplete: run `quickdeploy full` to synthesize again"
            .to_owned()
    };
    Ok(CdkBundle {
        program: strings(&props["Program"]),
        args: strings(&props["Args"]),
        cwd: text("Cwd").ok_or_else(bad)?.into(),
        outfile: text("Outfile").ok_or_else(bad)?,
        asset: text("Asset").ok_or_else(bad)?.into(),
    })
    .and_then(|b| {
        if b.program.is_empty() {
            Err(bad())
        } else {
            Ok(b)
        }
    })
}

/// The build a function with local code and no `BuildMethod` needs by its runtime alone:
/// SAM builds Java and .NET functions by runtime (Maven, Gradle, the dotnet CLI), so their
/// code folder is source, not a package, and quickdeploy refuses it as it refuses such a
/// BuildMethod. `None` for a runtime whose folder deploys as it is.
pub fn by_runtime(id: &str, runtime: &str) -> Option<Method> {
    (runtime.starts_with("java") || runtime.starts_with("dotnet")).then(|| Method::Unsupported {
        method: runtime.to_owned(),
        why: unsupported_why(id, runtime).replacen(
            &format!("BuildMethod {runtime}"),
            &format!("Runtime {runtime} (SAM builds it by its runtime)"),
            1,
        ),
    })
}

/// Why a BuildMethod quickdeploy does not run is refused, and the way out: the user's own
/// build command (`build =`) and the folder it makes (`package =`).
fn unsupported_why(id: &str, method: &str) -> String {
    let (what, example) = if method.starts_with("java") {
        (
            "Java is not built by quickdeploy (it runs no Maven or Gradle)",
            "build = \"gradle -q buildZip\" (or \"mvn -q package\"), package = \"<the folder of its classes and lib/>\"",
        )
    } else if method.starts_with("dotnet") {
        (
            ".NET is not built by quickdeploy (it runs no dotnet CLI)",
            "build = \"dotnet publish -c Release -r linux-x64 --self-contained false -o publish\", package = \"publish\"",
        )
    } else {
        (
            "it is not supported yet",
            "build = \"<your build command>\", package = \"<the folder it writes>\"",
        )
    };
    format!(
        "{id}: BuildMethod {method}: {what}. Build it with your own command: under [functions.{id}] in quickdeploy.toml set `build =` (run in the project root) and `package =` (its output, deployed as it is), for example {example}"
    )
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
/// pip installs into `dir/deps`, for the build's target ([`python::pip_target`]: its
/// architecture and Python, not this machine's); npm into `dir/node_modules`. An error says
/// why there is no target to install for.
pub fn install(build: &Build, present: &[String], dir: &Path) -> Result<Option<Command>, String> {
    let has = |name: &str| present.iter().any(|p| p == name);
    let run = |program: &str, args: &[&str]| Command {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        cwd: dir.to_owned(),
        env: Vec::new(),
    };
    Ok(match &build.method {
        Method::Python { runtime } if has("requirements.txt") => {
            let target = python::pip_target(runtime, &build.architecture)?;
            let mut cmd = run(
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
            );
            cmd.args.extend(target.args());
            Some(cmd)
        }
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
    })
}

/// What a build's dependency install is for, beyond its method and files: the pip target
/// (platform and Python version) of a Python build; part of the cache key.
pub fn install_target(build: &Build) -> String {
    match &build.method {
        Method::Python { runtime } => python::pip_target(runtime, &build.architecture)
            .map(|t| t.args().join(" "))
            .unwrap_or_default(),
        _ => String::new(),
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

/// Source patterns left out of the copy (and of what `watch` watches) besides the configured
/// ones: a Node package's own `node_modules/` (its dependencies come from the cache, without
/// the dev ones), a crate's `target/`.
pub fn source_ignores(method: &Method) -> &'static [&'static str] {
    match method {
        Method::Node { .. } => &["node_modules/"],
        // cargo's own output when run in the crate (rust-analyzer's `cargo check` too): not
        // source, and watching it would start rounds by itself.
        Method::Rust { .. } => &["target/"],
        // A CDK bundle's sources folder may hold dependencies or the assembly: not sources.
        Method::CdkBundle(_) => &["node_modules/", "cdk.out/"],
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
        Method::CdkBundle(c) => Some(Command {
            program: c.program[0].clone(),
            args: c.program[1..]
                .iter()
                .cloned()
                .chain(cdk_bundle_args(c, work))
                .collect(),
            cwd: c.cwd.clone(),
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

/// A CDK bundle's esbuild arguments as recorded, its output file written into `work`.
pub fn cdk_bundle_args(c: &CdkBundle, work: &Path) -> Vec<String> {
    c.args
        .iter()
        .map(|a| match a.starts_with("--outfile=") {
            true => format!("--outfile={}", work.join(&c.outfile).display()),
            false => a.clone(),
        })
        .collect()
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
