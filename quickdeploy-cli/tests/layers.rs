//! The folder rules of ARCHITECTURE.md, checked on the source. Each top-level module of the
//! CLI (a folder, or `error`) may use its own folder and the folders its row of [`RULES`]
//! names, nothing else; no command uses another command; and no two modules import each
//! other (no circle of imports at all). A wrong import fails here, naming the file, the line
//! and the rule it breaks. Test code (`#[cfg(test)]` modules) may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who may use whom: the same table as ARCHITECTURE.md's "The folders and their rules".
/// From the bottom up; a row names only rows above it in this list, so the folders form no
/// circle either.
const RULES: &[(&str, &[&str])] = &[
    ("aws", &[]),
    ("project", &[]),
    ("artifact", &["aws", "project"]),
    ("stack", &["aws", "project"]),
    ("lambda", &["aws", "project"]),
    ("package", &["project", "artifact"]),
    ("build", &["aws", "project", "artifact", "package"]),
    (
        "plan",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda",
        ],
    ),
    ("history", &["aws", "project", "artifact"]),
    (
        "error",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan",
        ],
    ),
    (
        "report",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan", "history",
            "error",
        ],
    ),
    (
        "ops",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan", "history",
            "error", "report",
        ],
    ),
    (
        "render",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan", "history",
            "error", "report", "ops",
        ],
    ),
    (
        "commands",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan", "history",
            "error", "report", "ops", "render",
        ],
    ),
    // The crate root and the binary: they only declare and dispatch.
    (
        "lib",
        &[
            "aws", "project", "artifact", "package", "build", "stack", "lambda", "plan", "history",
            "error", "report", "ops", "render", "commands",
        ],
    ),
];

/// One source file: its path under `src`, its module path, and its code without tests.
struct Source {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn sources(src: &Path) -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("read");
            Source {
                module: module_of(&rel),
                code: without_tests(&text),
                rel,
            }
        })
        .collect()
}

/// `plan/inspect.rs` is `plan::inspect`, `plan/mod.rs` is `plan`, `lib.rs` and `main.rs` the
/// root.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The code of a file without its `#[cfg(test)]` modules (tests may use anything).
fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod ") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

/// Every path a line names through `crate::` or `super::`, resolved to the longest module
/// that exists in `modules`: `crate::plan::inspect::Inspected` is `plan::inspect`. Braced
/// groups (`crate::{a, b::c}`, `crate::a::{b, c}`) name each member.
fn named_modules(line: &str, here: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let code = line.split("//").next().unwrap_or_default();
    let mut out = Vec::new();
    for (anchor, base) in [("crate::", Vec::new()), ("super::", parent(here))] {
        let mut rest = code;
        while let Some(i) = rest.find(anchor) {
            let before = &rest[..i];
            rest = &rest[i + anchor.len()..];
            // `super::super::` and `xcrate::` are not ours to resolve here.
            if before.ends_with("::") || before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            for path in expand(rest) {
                let mut full = base.clone();
                full.extend(path);
                out.push(longest_module(&full, modules));
            }
        }
    }
    out
}

/// The module `super::` names from `here` (for a folder's `mod.rs`, `here` is the folder).
fn parent(here: &[String]) -> Vec<String> {
    let mut p = here.to_vec();
    p.pop();
    p
}

/// The paths after an anchor: `a::b::C` is one, `{a, b::c}` and `a::{b, c}` several.
fn expand(rest: &str) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut s = rest;
    loop {
        if let Some(inner) = s.strip_prefix('{') {
            let end = matching_brace(inner);
            let mut out = Vec::new();
            for member in split_top(&inner[..end]) {
                for tail in expand(member.trim()) {
                    let mut p = prefix.clone();
                    p.extend(tail);
                    out.push(p);
                }
            }
            return out;
        }
        let seg: String = s
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if seg.is_empty() {
            return vec![prefix];
        }
        s = &s[seg.len()..];
        prefix.push(seg);
        match s.strip_prefix("::") {
            Some(next) => s = next,
            None => return vec![prefix],
        }
    }
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The modules of `here`'s folder that a line names by their own name (`decide::plan`,
/// `use decide::{..}`), as a folder's `mod.rs` does.
fn children_named(
    line: &str,
    here: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Vec<Vec<String>> {
    let code = line.split("//").next().unwrap_or_default();
    modules
        .iter()
        .filter(|m| m.len() == here.len() + 1 && m.starts_with(here))
        .filter(|m| {
            let name = format!("{}::", m[here.len()]);
            code.match_indices(&name).any(|(i, _)| {
                let before = &code[..i];
                !(before.ends_with("::")
                    || before.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            })
        })
        .cloned()
        .collect()
}

fn longest_module(path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// The row of [`RULES`] a module is checked by: its top-level folder, `error`, or `lib`.
fn row(module: &[String]) -> &str {
    module.first().map_or("lib", String::as_str)
}

fn allowed(row: &str) -> Option<&'static [&'static str]> {
    RULES.iter().find(|(r, _)| *r == row).map(|(_, a)| *a)
}

/// Every broken rule in `sources`, one line each: the file, the line, what it uses, the rule.
fn check(sources: &[Source]) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut broken = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>> = BTreeMap::new();
    for s in sources {
        let from = row(&s.module).to_owned();
        let Some(may) = allowed(&from) else {
            broken.push(format!(
                "{}: the top-level module {from} has no row in RULES (tests/layers.rs) and ARCHITECTURE.md: add one",
                s.rel
            ));
            continue;
        };
        for (n, line) in s.code.lines().enumerate() {
            for used in named_modules(line, &s.module, &modules) {
                if used.is_empty() || used == s.module {
                    continue;
                }
                let to = row(&used);
                let place = format!("{}:{}", s.rel, n + 1);
                if to != from && !may.contains(&to) {
                    broken.push(format!(
                        "{place}: {from} uses {to} ({}): the rule for {from} allows only {}",
                        used.join("::"),
                        if may.is_empty() {
                            "itself".to_owned()
                        } else {
                            may.join(", ")
                        }
                    ));
                }
                if from == "commands" && to == "commands" && used.len() > 1 && s.module.len() > 1 {
                    broken.push(format!(
                        "{place}: the command {} uses the command {}: no command imports another (shared arguments live in commands/mod.rs)",
                        s.module[1], used[1]
                    ));
                }
                edges
                    .entry(s.module.clone())
                    .or_default()
                    .entry(used)
                    .or_insert(place);
            }
            // A folder's own modules, named from its mod.rs as `child::...`: a parent and a
            // child that use each other are a circle too.
            for child in children_named(line, &s.module, &modules) {
                edges
                    .entry(s.module.clone())
                    .or_default()
                    .entry(child)
                    .or_insert(format!("{}:{}", s.rel, n + 1));
            }
        }
    }
    broken.extend(circles(&edges));
    broken
}

/// Each circle of imports between modules, named by its modules and where each import is.
fn circles(edges: &BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from each module: a path back to it is a circle.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flat_map(|m| m.keys()) {
                if next == start {
                    let mut ring = path.clone();
                    // One report per circle, whichever module it was found from.
                    let min = ring
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| *m)
                        .map(|(i, _)| i);
                    ring.rotate_left(min.unwrap_or(0));
                    found.insert(ring);
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    found
        .into_iter()
        .map(|ring| {
            let steps: Vec<String> = ring
                .iter()
                .zip(ring.iter().cycle().skip(1))
                .map(|(a, b)| format!("{} uses {} at {}", a.join("::"), b.join("::"), edges[a][b]))
                .collect();
            format!(
                "a circle of imports: {} (move what both need down to a module both may use)",
                steps.join("; ")
            )
        })
        .collect()
}

#[test]
fn each_module_uses_only_what_its_row_allows_and_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let broken = check(&sources(&src));
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_table_is_a_ladder_and_every_folder_has_a_row() {
    // A row names only rows before it: the folders themselves form no circle.
    for (i, (name, may)) in RULES.iter().enumerate() {
        for m in *may {
            let at = RULES.iter().position(|(r, _)| r == m);
            assert!(
                at.is_some_and(|a| a < i),
                "{name} may use {m}, which is not below it"
            );
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for s in sources(&src) {
        assert!(allowed(row(&s.module)).is_some(), "{} has no row", s.rel);
    }
}

/// The same check on made-up sources: each kind of wrong import is caught and named, so a
/// test that cannot fail is not what guards the rules.
#[test]
fn the_check_sees_each_kind_of_broken_rule() {
    let file = |rel: &str, code: &str| Source {
        rel: rel.to_owned(),
        module: module_of(rel),
        code: without_tests(code),
    };
    let ok = [
        file("project/mod.rs", "pub mod config;\n"),
        file("project/config.rs", "use std::path::Path;\n"),
        file("artifact/mod.rs", ""),
        file("artifact/diff.rs", "use crate::project::config::Config;\n"),
        file("artifact/remote.rs", "use crate::artifact::diff::Diff;\n"),
        file("commands/mod.rs", ""),
        file(
            "commands/deploy.rs",
            "use crate::project::config::Config;\n",
        ),
        file("commands/full.rs", "use super::CommonArgs;\n"),
        file("lib.rs", "pub mod commands;\n"),
        file(
            "commands/init.rs",
            "use crate::artifact::{diff, remote::Remote};\n",
        ),
    ];
    assert_eq!(check(&ok), Vec::<String>::new());

    // A folder using one its row does not name, in a braced group, on line 2.
    let mut upward = ok.iter().map(clone).collect::<Vec<_>>();
    upward[3] = file(
        "artifact/diff.rs",
        "use std::fmt;\nuse crate::{project::config::Config, commands::deploy};\n",
    );
    let broken = check(&upward);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0].starts_with("artifact/diff.rs:2: artifact uses commands (commands::deploy)"),
        "{}",
        broken[0]
    );
    assert!(
        broken[0].contains("allows only aws, project"),
        "{}",
        broken[0]
    );

    // A command using another command.
    let mut sideways = ok.iter().map(clone).collect::<Vec<_>>();
    sideways[7] = file("commands/full.rs", "use super::deploy::Args;\n");
    let broken = check(&sideways);
    assert!(
        broken
            .iter()
            .any(|b| b.starts_with("commands/full.rs:1: the command full uses the command deploy")),
        "{broken:?}"
    );

    // Two modules of one folder that import each other.
    let mut circle = ok.iter().map(clone).collect::<Vec<_>>();
    circle[3] = file("artifact/diff.rs", "use super::remote::Remote;\n");
    let broken = check(&circle);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("a circle of imports: artifact::diff uses artifact::remote at artifact/diff.rs:1; artifact::remote uses artifact::diff at artifact/remote.rs:1"), "{}", broken[0]);

    // A folder's mod.rs and one of its modules that use each other.
    let mut family = ok.iter().map(clone).collect::<Vec<_>>();
    family[2] = file(
        "artifact/mod.rs",
        "pub mod diff;\npub use diff::Diff;\npub struct Shared;\n",
    );
    family[3] = file("artifact/diff.rs", "use super::Shared;\n");
    let broken = check(&family);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0].starts_with("a circle of imports: artifact uses artifact::diff at artifact/mod.rs:2; artifact::diff uses artifact at artifact/diff.rs:1"),
        "{}",
        broken[0]
    );

    // Test code may use anything; comments name nothing.
    let mut tests = ok.iter().map(clone).collect::<Vec<_>>();
    tests[3] = file(
        "artifact/diff.rs",
        "// crate::commands::deploy in a comment\n#[cfg(test)]\nmod tests {\n    use crate::commands::deploy;\n}\n",
    );
    assert_eq!(check(&tests), Vec::<String>::new());
}

fn clone(s: &Source) -> Source {
    Source {
        rel: s.rel.clone(),
        module: s.module.clone(),
        code: s.code.clone(),
    }
}
