//! Which functions and layers quickdeploy builds, how, and where: pure decisions from the
//! template's `Metadata.BuildMethod` (SAM's convention) and `quickdeploy.toml`'s `build`
//! commands. [`crate::build::runner`] runs what is decided here.
//!
//! A build goes into `.quickdeploy/build/<LogicalId>/`, which is then the package: `full`
//! uploads it, `deploy` and `status` diff it. Dependencies are installed once per content of
//! the dependency files (and method, runtime, architecture, pip's platform) into
//! `.quickdeploy/build-cache/<key>/`, so a code-only change copies source files and nothing
//! else: the quick path stays O(change).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layer::layer_builds;
use super::method::{Build, DependencySource, Method, by_runtime, install_target, method_of};
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

/// Every build of a project, and where its state goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Builds {
    /// The builds, in order of their build folders.
    pub items: Vec<Build>,
    /// `.quickdeploy/build-cache`.
    pub cache: PathBuf,
    /// `.quickdeploy/build-work`.
    pub work: PathBuf,
    /// `.quickdeploy/build-state`: each build's record of its inputs and output
    /// ([`crate::build::fresh`]).
    pub records: PathBuf,
}

/// What one build did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Built {
    /// The functions or layers it built.
    pub ids: Vec<String>,
    /// The method, as the template or config names it (`python3.12`, `esbuild`, `command`).
    pub method: String,
    /// The instruction set it was built for (`x86_64`, `arm64`).
    pub architecture: String,
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
    /// True when it was not run: no input changed since its last build, and its output is
    /// what that build left ([`crate::build::fresh`]).
    pub skipped: bool,
    /// Why it ran (`src/main.rs changed`, `no record of a previous build`); absent when
    /// skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ran_because: Option<String>,
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
        let meta = &local.doc["Resources"][&f.logical_id]["Metadata"];
        let props = match f.build_method.as_deref() {
            Some(crate::project::cdk::BUNDLE_METHOD) => &meta["quickdeploy:bundle"],
            _ => &meta["BuildProperties"],
        };
        // `binary` in quickdeploy.toml makes the code folder a Rust crate, whatever the
        // template says (a plain CloudFormation template has no BuildMethod).
        let method = match (&fc.binary, &f.build_method) {
            (Some(bin), _) => Method::Rust {
                binary: Some(bin.clone()),
            },
            (None, Some(m)) => method_of(&f.logical_id, m, props),
            (None, None) => {
                let runtime = local.function_settings(&f.logical_id).runtime;
                match runtime.and_then(|r| by_runtime(&f.logical_id, &r)) {
                    Some(refused) => refused,
                    None => continue,
                }
            }
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
    items.extend(layer_builds(
        local,
        config,
        &state.join(BUILD_DIR),
        template_dir,
    ));
    items.extend(commands.into_values());
    items.sort_by(|a, b| a.out.cmp(&b.out));
    Builds {
        items,
        cache: state.join(CACHE_DIR),
        work: state.join(WORK_DIR),
        records: state.join(crate::build::fresh::STATE_DIR),
    }
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

/// The cache key of a build's dependencies: a hash of the method, runtime, architecture, what
/// the install is for (pip's platforms and Python version: [`install_target`]) and each
/// dependency file present (`files`: name and content), so a change to any of them installs
/// afresh and nothing else does. (Version 2: entries of version 1 held wheels for this
/// machine, not the function, and are not reused.)
pub fn cache_key(build: &Build, files: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    h.update(b"quickdeploy-build-cache/2\0");
    for part in [
        build.method.name().as_bytes(),
        build.architecture.as_bytes(),
        install_target(build).as_bytes(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::method::{
        cached_files, esbuild_args, install, install_target, source_ignores, tool,
    };
    use serde_json::Value;

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
  J: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/java, Handler: j.H, Runtime: java21}, Metadata: {BuildMethod: java21}}
  N: {Type: AWS::Serverless::Function, Properties: {CodeUri: src/net, Handler: n, Runtime: dotnet8}, Metadata: {BuildMethod: dotnet8}}
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
        assert_eq!(ids, ["A+B", "C", "D", "Deps", "E", "G", "J", "N"]);
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
        assert_eq!(b.items[4].method, Method::Go);
        assert_eq!(b.items[4].method.name(), "go1.x");
        for (id, what) in [("J", "Java is not built"), ("N", ".NET is not built")] {
            let item = b.items.iter().find(|x| x.ids == [id]).expect(id);
            let Method::Unsupported { why, .. } = &item.method else {
                panic!("{:?}", item.method);
            };
            assert!(why.contains(what), "{why}");
            assert!(
                why.contains("`build =`") && why.contains("`package =`"),
                "{why}"
            );
            assert!(why.contains(&format!("[functions.{id}]")), "{why}");
        }
        let Method::Unsupported { why, .. } = method_of("X", "ruby3.3", &Value::Null) else {
            panic!("ruby")
        };
        assert!(
            why.contains("not supported yet") && why.contains("`build =`"),
            "{why}"
        );
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
        let py = install(&b.items[0], &["requirements.txt".into()], dir)
            .expect("a target")
            .expect("pip");
        assert_eq!(
            py.to_string(),
            "python3 -m pip install --disable-pip-version-check --no-input -r requirements.txt -t deps \
             --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
             --platform manylinux_2_34_x86_64 --implementation cp --python-version 3.12 --only-binary=:all:"
        );
        // The layer is arm64 and python3.11: its wheels are too.
        let layer = install(&b.items[3], &["requirements.txt".into()], dir)
            .expect("a target")
            .expect("pip")
            .to_string();
        assert!(
            layer.ends_with(
                "--platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --implementation cp --python-version 3.11 --only-binary=:all:"
            ),
            "{layer}"
        );
        assert!(
            install(&b.items[0], &[], dir).expect("target").is_none(),
            "no requirements.txt"
        );
        let odd = Build {
            method: Method::Python {
                runtime: "python3".into(),
            },
            ..b.items[0].clone()
        };
        assert!(install(&odd, &["requirements.txt".into()], dir).is_err());
        let node = &b.items[5];
        let with_lock = ["package.json".into(), "package-lock.json".into()];
        let npm = |b: &Build, files: &[String]| {
            install(b, files, dir)
                .expect("a target")
                .expect("npm")
                .to_string()
        };
        assert_eq!(
            npm(node, &with_lock),
            "npm ci --omit=dev --no-audit --no-fund"
        );
        assert_eq!(
            npm(node, &["package.json".into()]),
            "npm install --omit=dev --no-audit --no-fund"
        );
        assert_eq!(
            npm(&b.items[1], &with_lock),
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
        // What pip installs for is in the key too: the same method name and architecture,
        // another platform, is another entry.
        assert!(install_target(a).contains("--platform manylinux2014_x86_64"));
        assert!(install_target(&other).contains("--python-version 3.13"));
        assert_eq!(
            install_target(&b.items[5]),
            "",
            "npm: the method says it all"
        );
    }
}
