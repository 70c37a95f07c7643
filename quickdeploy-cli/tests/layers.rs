//! The layers of ARCHITECTURE.md, checked on the source: a module may use the layers below
//! it, never one above, and no command uses another command. A new import that breaks a rule
//! fails here, naming the file and the line.

use std::path::{Path, PathBuf};

/// The modules above the I/O and pure layers: nothing below them may name them. (`error`,
/// the one error type, may be used by every layer; it uses only the layers below `ops`.)
const UPPER: &[&str] = &["commands", "ops", "render"];

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file without its `#[cfg(test)]` module (tests may use anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read");
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Lines of `code` that name `crate::<module>` (or `super::<module>` inside a folder).
fn naming(code: &str, module: &str) -> Vec<String> {
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| {
            l.contains(&format!("crate::{module}::"))
                || l.contains(&format!("crate::{module};"))
                || l.contains(&format!("crate::{{{module}"))
                || l.contains(&format!("crate::{module}}}"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for path in sources(&src) {
        let rel = path
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let code = code(&path);
        let (folder, name) = match rel.split_once('/') {
            Some((folder, file)) => (folder.to_owned(), file.trim_end_matches(".rs").to_owned()),
            None => (String::new(), rel.trim_end_matches(".rs").to_owned()),
        };
        let forbidden: Vec<&str> = match folder.as_str() {
            // ops: never the commands or the rendering.
            "ops" => vec!["commands", "render"],
            // commands: not each other (shared arguments live in commands/mod.rs).
            "commands" if name != "mod" => vec![],
            "commands" => vec![],
            // The crate root's modules below ops: none of the upper layers.
            _ if ["lib", "main", "render"].contains(&name.as_str()) => vec![],
            _ => UPPER.to_vec(),
        };
        for module in forbidden {
            for line in naming(&code, module) {
                broken.push(format!("{rel}: uses {module}: {}", line.trim()));
            }
        }
        if folder == "commands" && name != "mod" {
            for other in sources(&src.join("commands")) {
                let other = other
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned();
                if other == name || other == "mod" {
                    continue;
                }
                for line in code.lines().filter(|l| {
                    l.contains(&format!("commands::{other}::"))
                        || l.contains(&format!("super::{other}::"))
                }) {
                    broken.push(format!("{rel}: uses the command {other}: {}", line.trim()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_check_sees_a_broken_rule() {
    // The matcher itself: a test that cannot fail is no test.
    assert_eq!(
        naming("use crate::commands::deploy::Args;", "commands").len(),
        1
    );
    assert_eq!(naming("use crate::{commands, ops};", "commands").len(), 1);
    assert!(naming("// crate::commands::x in a comment", "commands").is_empty());
    assert!(naming("use crate::commandsx::y;", "commands").is_empty());
}
