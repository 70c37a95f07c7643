//! Running the builds [`super::decide`] decides, in order: installing dependencies into the
//! cache (once per cache key), then the method's tool with its output shown live
//! ([`super::tool`]), `go build` ([`super::go`]) or cargo ([`super::cargo`]), and the build folder made to hold its files
//! ([`super::folder`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cargo::rust_build;
use super::folder::{add_sources, add_tree, mirror};
use super::fresh::Fresh;
use super::go;
use super::node;
use super::pip;
use super::state;
use super::tool::{BuildError, Output, fresh_dir, io, run_command};
use crate::build::decide::{self as build, Builds, Built};
use crate::build::method::{self, Build, Command, DependencySource, Method};

/// Runs every build, in order, stopping at the first failure. `root` is the project root
/// (for the `.gitignore` files above a source folder).
pub fn run(builds: &Builds, root: &Path, out: &dyn Output) -> Result<Vec<Built>, BuildError> {
    if let Some(why) = builds.items.iter().find_map(|b| match &b.method {
        Method::Unsupported { why, .. } => Some(why.clone()),
        _ => None,
    }) {
        return Err(BuildError::Unsupported(why));
    }
    builds
        .items
        .iter()
        .map(|b| run_one(b, builds, root, out))
        .collect()
}

/// One build, unless nothing it is built from changed since it last ran and its output is
/// what that run left ([`super::fresh`]): dependencies from the cache (installing them on a
/// miss), the tool, then the build folder made to hold the sources, dependencies and tool
/// output; its record written once it succeeded.
fn run_one(b: &Build, builds: &Builds, root: &Path, out: &dyn Output) -> Result<Built, BuildError> {
    let started = Instant::now();
    let ids = b.ids.join(", ");
    let (fresh, seen) = state::check(b, builds, root);
    let because = match fresh {
        Fresh::Skip => {
            out.line(&format!(
                "{ids}: not built: nothing it is built from changed since its last build"
            ));
            let (dependencies, cache_key) = seen.as_ref().map_or(
                (DependencySource::None, None),
                state::Seen::recorded_dependencies,
            );
            let mut done = report(b, dependencies, cache_key, (0, 0), started);
            done.skipped = true;
            return Ok(done);
        }
        Fresh::Run(why) => why,
    };
    out.step(&format!("building {ids} ({})", b.method.name()));
    // The hashes are read before the build, its record forgotten until it succeeds.
    let hashed = seen.map(state::Seen::hashed);
    state::forget(builds, &b.out);
    let mut done = build_one(b, builds, root, out, started)?;
    done.ran_because = Some(because);
    if let Some(h) = hashed {
        h.record(&b.out, done.dependencies, done.cache_key.clone());
    }
    Ok(done)
}

/// Runs one build (see [`run_one`]).
fn build_one(
    b: &Build,
    builds: &Builds,
    root: &Path,
    out: &dyn Output,
    started: Instant,
) -> Result<Built, BuildError> {
    let ids = b.ids.join(", ");
    let (deps, dependencies, cache_key) = dependencies(b, &builds.cache, out)?;
    let work = builds.work.join(b.out.file_name().unwrap_or_default());
    let mut wanted: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Method::CdkBundle(c) = &b.method {
        // What the CDK staged besides the bundle (installed `nodeModules`, hooks' files)
        // stays; the tool's output replaces the bundle itself.
        add_tree(&mut wanted, &c.asset, "", &ids)?;
    }
    if let Method::Rust { binary } = &b.method {
        rust_build(b, binary.as_deref(), builds, out, &work)?;
        add_tree(&mut wanted, &work, "", &ids)?;
    } else if matches!(b.method, Method::Go) {
        let cmd = go::go_build(b, &work, &builds.cache, go_env())
            .map_err(|why| BuildError::Unsupported(format!("{ids}: {why}")))?;
        fresh_dir(&work, &ids)?;
        out.line(&format!("{ids}: {}{cmd}", env_prefix(&cmd)));
        run_command(&cmd, b, out)?;
        let bootstrap = work.join("bootstrap");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(&ids, "make executable", &bootstrap, e))?;
        add_tree(&mut wanted, &work, "", &ids)?;
    } else if let Some(cmd) = method::tool(b, deps.as_deref(), &work) {
        if !matches!(b.method, Method::Command(_)) {
            fresh_dir(&work, &ids)?;
        }
        out.line(&format!("{ids}: {cmd}"));
        run_command(&cmd, b, out)?;
        if matches!(b.method, Method::Command(_)) {
            // The user's command writes its package folder itself.
            return Ok(report(b, dependencies, cache_key, (0, 0), started));
        }
        add_tree(&mut wanted, &work, "", &ids)?;
    } else {
        add_sources(&mut wanted, b, root)?;
        if let (Some(dir), Some((from, to))) = (&deps, method::cached_files(&b.method)) {
            add_tree(&mut wanted, &dir.join(from), to, &ids)?;
        }
    }
    let counts = mirror(&b.target, &b.out, &wanted, &ids)?;
    out.line(&format!(
        "{ids}: built into {} ({} file(s) written, {} removed, dependencies {})",
        b.out.display(),
        counts.0,
        counts.1,
        match dependencies {
            DependencySource::Installed => "installed",
            DependencySource::Cached => "from the cache",
            DependencySource::None => "none",
        }
    ));
    Ok(report(b, dependencies, cache_key, counts, started))
}

/// The native addons (`.node` files) under `dir`, each with its ELF machine, by path from
/// `dir`'s parent (`node_modules/...`).
fn native_addons(dir: &Path) -> Vec<(String, u16)> {
    let base = dir.parent().unwrap_or(dir);
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "node"))
        .filter_map(|e| {
            use std::io::Read as _;
            let mut head = [0u8; 20];
            std::fs::File::open(e.path())
                .ok()?
                .read_exact(&mut head)
                .ok()?;
            let rel = e.path().strip_prefix(base).unwrap_or(e.path());
            Some((rel.display().to_string(), node::elf_machine(&head)?))
        })
        .collect()
}

/// What the environment gives Go for its caches.
fn go_env() -> go::GoEnv {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    go::GoEnv {
        home: set("HOME"),
        xdg_cache: set("XDG_CACHE_HOME"),
        gocache: set("GOCACHE"),
        modcache: set("GOMODCACHE") || set("GOPATH"),
    }
}

/// A command's environment as a shell would show it before the command (`GOOS=linux ...`).
fn env_prefix(cmd: &Command) -> String {
    cmd.env.iter().map(|(k, v)| format!("{k}={v} ")).collect()
}

fn report(
    b: &Build,
    dependencies: DependencySource,
    cache_key: Option<String>,
    (copied, removed): (usize, usize),
    started: Instant,
) -> Built {
    Built {
        ids: b.ids.clone(),
        method: b.method.name(),
        architecture: b.architecture.clone(),
        dependencies,
        cache_key,
        copied,
        removed,
        ms: crate::aws::clock::ms(started),
        skipped: false,
        ran_because: None,
    }
}

/// The cache entry holding a build's dependencies, installing it when missing: into a
/// temporary folder renamed into place once the install succeeded, so a failed or
/// interrupted install never leaves an entry that looks complete.
fn dependencies(
    b: &Build,
    cache: &Path,
    out: &dyn Output,
) -> Result<(Option<PathBuf>, DependencySource, Option<String>), BuildError> {
    let ids = b.ids.join(", ");
    let mut files = Vec::new();
    for name in b.method.dependency_files() {
        let path = b.source.join(name);
        match std::fs::read(&path) {
            Ok(content) => files.push(((*name).to_owned(), content)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io(&ids, "read", &path, source)),
        }
    }
    let present: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let key = build::cache_key(b, &files);
    let dir = cache.join(&key);
    let install = method::install(b, &present, &dir)
        .map_err(|why| BuildError::Unsupported(format!("{ids}: {why}")))?;
    let Some(cmd) = install else {
        return Ok((None, DependencySource::None, None));
    };
    if dir.is_dir() {
        out.line(&format!("{ids}: dependencies from the cache ({key})"));
        return Ok((Some(dir), DependencySource::Cached, Some(key)));
    }
    let tmp = cache.join(format!("{key}.tmp-{}", std::process::id()));
    fresh_dir(&tmp, &ids)?;
    for (name, content) in &files {
        std::fs::write(tmp.join(name), content)
            .map_err(|e| io(&ids, "write", &tmp.join(name), e))?;
    }
    let cmd = Command {
        cwd: tmp.clone(),
        ..cmd
    };
    out.line(&format!("{ids}: installing dependencies: {cmd}"));
    let ran = match b.method {
        Method::Python { .. } => pip::install(cmd, b, &tmp, out),
        _ => run_command(&cmd, b, out),
    };
    if let Err(e) = ran {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dir).map_err(|e| io(&ids, "move into the cache", &dir, e))?;
    if matches!(b.method, Method::Node { .. }) {
        let addons = native_addons(&dir.join("node_modules"));
        if let Some(warning) = node::foreign_addons(&ids, &b.architecture, &addons) {
            out.line(&warning);
        }
    }
    Ok((Some(dir), DependencySource::Installed, Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_writes_only_what_changed_and_removes_what_went() {
        let dir = tempfile::tempdir().expect("tmp");
        let src = dir.path().join("src");
        let out = dir.path().join("out");
        std::fs::create_dir_all(src.join("lib")).expect("mkdir");
        std::fs::write(src.join("a.py"), "a").expect("write");
        std::fs::write(src.join("lib/b.py"), "b").expect("write");
        let wanted = |names: &[&str]| -> BTreeMap<String, PathBuf> {
            names
                .iter()
                .map(|n| ((*n).to_owned(), src.join(n)))
                .collect()
        };
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py", "lib/b.py"]), "X").expect("1"),
            (2, 0)
        );
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py", "lib/b.py"]), "X").expect("2"),
            (0, 0)
        );
        std::fs::write(src.join("a.py"), "aa").expect("write");
        assert_eq!(
            mirror(&out, &out, &wanted(&["a.py"]), "X").expect("3"),
            (1, 1)
        );
        assert_eq!(
            std::fs::read_to_string(out.join("a.py")).expect("read"),
            "aa"
        );
        assert!(!out.join("lib").exists(), "emptied folders go too");
    }
}
