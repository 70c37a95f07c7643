//! Which project folder a copied CDK asset is a copy of, from content alone: the CDK stages
//! `Code.fromAsset(dir)` as `cdk.out/asset.<hash>/` and names no source folder in the
//! assembly. Pure: it takes the files and their hashes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The project folder whose files hold every file of the asset at the same relative path with
/// the same content, and the patterns for its other files (what the asset's `exclude` rules
/// left out, anchored: a folder absent whole as `/dir/`, else the file as `/path`). Of
/// several such folders the one with the fewest other files. `asset` and `project` map a
/// relative path (`/`-separated) to its SHA-256; `project`'s are from the project root.
pub fn find_folder(
    asset: &BTreeMap<String, String>,
    project: &BTreeMap<String, String>,
) -> Option<(PathBuf, Vec<String>)> {
    let (first, sha) = asset.iter().next()?;
    let candidates: BTreeSet<String> = project
        .iter()
        .filter(|(p, s)| *s == sha && (*p == first || p.ends_with(&format!("/{first}"))))
        .map(|(p, _)| p[..p.len() - first.len()].trim_end_matches('/').to_owned())
        .collect();
    candidates
        .into_iter()
        .filter(|dir| {
            asset
                .iter()
                .all(|(rel, sha)| project.get(&join(dir, rel)) == Some(sha))
        })
        .map(|dir| {
            let others: Vec<&str> = project
                .keys()
                .filter_map(|p| under(&dir, p))
                .filter(|rel| !asset.contains_key(*rel))
                .collect();
            let ignore = patterns(&others, asset);
            (others.len(), dir, ignore)
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())))
        .map(|(_, dir, ignore)| (PathBuf::from(dir), ignore))
}

fn join(dir: &str, rel: &str) -> String {
    match dir.is_empty() {
        true => rel.to_owned(),
        false => format!("{dir}/{rel}"),
    }
}

/// `p` relative to `dir`, if it is under it.
fn under<'a>(dir: &str, p: &'a str) -> Option<&'a str> {
    match dir.is_empty() {
        true => Some(p),
        false => p.strip_prefix(dir)?.strip_prefix('/'),
    }
}

/// Anchored patterns for the files `left_out`: the highest folder of each that holds no file
/// of the asset, else the file itself.
fn patterns(left_out: &[&str], asset: &BTreeMap<String, String>) -> Vec<String> {
    let asset_dirs: BTreeSet<&Path> = asset
        .keys()
        .flat_map(|p| Path::new(p).ancestors().skip(1))
        .collect();
    let mut out: BTreeSet<String> = BTreeSet::new();
    for rel in left_out {
        let top = Path::new(rel)
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .filter(|a| !asset_dirs.contains(a))
            .last();
        out.insert(match top {
            Some(dir) => format!("/{}/", dir.display()),
            None => format!("/{rel}"),
        });
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
            .collect()
    }

    #[test]
    fn the_folder_is_found_by_content_with_what_was_left_out() {
        let project = files(&[
            ("functions/py/app.py", "1"),
            ("functions/py/lib/x.py", "2"),
            ("functions/py/tests/test_app.py", "3"),
            ("functions/py/lib/x.pyc", "4"),
            ("backup/py/app.py", "1"),
            ("lib/stack.js", "5"),
        ]);
        let asset = files(&[("app.py", "1"), ("lib/x.py", "2")]);
        let (dir, ignore) = find_folder(&asset, &project).expect("found");
        assert_eq!(dir, PathBuf::from("functions/py"));
        assert_eq!(ignore, ["/lib/x.pyc", "/tests/"]);
        // A copy with other content is not the source.
        let changed = files(&[("app.py", "9"), ("lib/x.py", "2")]);
        assert_eq!(find_folder(&changed, &project), None);
        // The project root itself can be the source.
        let root = files(&[("lib/stack.js", "5")]);
        assert_eq!(
            find_folder(&root, &project).expect("root").0,
            PathBuf::new()
        );
    }
}
