//! Property tests: random archives and change sets, every output read by independent readers.

use std::collections::BTreeMap;

use proptest::prelude::*;
use testkit::zipcheck::{
    self, Flavor, Tree, assert_reads_as, raw_entries, stream_tree, zip_crate_archive,
};
use zipedit::{
    ChangeSet, Mode, PatchOptions, PutFile, Strategy as Used, build_archive, code_sha256,
    patch_bytes,
};

/// Names that never collide as file and folder, with nesting, spaces and non-ASCII.
const POOL: &[&str] = &[
    "handler.py",
    "bootstrap",
    "lib/util.py",
    "lib/deep/data.bin",
    "données/é.txt",
    "日本/語.js",
    "z/y/x/w.txt",
    "README",
    "node_modules/pkg/index.js",
    "a b/c d.txt",
    "empty.txt",
];

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Incompressible: stored.
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Repetitive: deflated.
        (proptest::collection::vec(any::<u8>(), 1..16), 0usize..600)
            .prop_map(|(unit, n)| unit.repeat(n)),
    ]
}

#[derive(Debug, Clone)]
enum Action {
    Keep,
    Put(Vec<u8>, Option<bool>),
    Delete,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::Keep),
        2 => (content(), proptest::option::of(any::<bool>())).prop_map(|(c, x)| Action::Put(c, x)),
        1 => Just(Action::Delete),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    /// Per pool name: present in the old archive with this content and mode?
    old: Vec<Option<(Vec<u8>, bool)>>,
    actions: Vec<Action>,
    flavor: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(proptest::option::of((content(), any::<bool>())), POOL.len()),
        proptest::collection::vec(action(), POOL.len()),
        0u8..4,
    )
        .prop_map(|(old, actions, flavor)| Case {
            old,
            actions,
            flavor,
        })
}

impl Case {
    fn old_archive(&self) -> Vec<u8> {
        let files: Vec<(&str, &[u8], u32)> = POOL
            .iter()
            .zip(&self.old)
            .filter_map(|(n, f)| {
                f.as_ref()
                    .map(|(d, x)| (*n, d.as_slice(), if *x { 0o755 } else { 0o644 }))
            })
            .collect();
        match self.flavor {
            0 => build_archive(
                files
                    .iter()
                    .map(|(n, d, m)| PutFile::new(*n, *d).executable(*m == 0o755))
                    .collect(),
            )
            .expect("build"),
            1 => zip_crate_archive(&files, &[], "", Flavor::Seekable),
            2 => zip_crate_archive(&files, &[], "comment", Flavor::Stream),
            _ => zip_crate_archive(&files, &[], "", Flavor::Zip64),
        }
    }

    /// The change set, and the tree the patched archive must hold.
    fn change_and_expected(&self) -> (ChangeSet, Tree) {
        let mut changes = ChangeSet::new();
        let mut tree = Tree::new();
        for ((name, old), action) in POOL.iter().zip(&self.old).zip(&self.actions) {
            let old_mode = old.as_ref().map(|(_, x)| if *x { 0o755 } else { 0o644 });
            match (action, old) {
                (Action::Put(data, exec), _) => {
                    changes.puts.push(PutFile {
                        path: (*name).into(),
                        data: data.clone(),
                        executable: *exec,
                    });
                    let mode = match (exec, old_mode) {
                        (Some(true), _) => 0o755,
                        (Some(false), _) => 0o644,
                        (None, Some(m)) => m,
                        (None, None) if *name == "bootstrap" => 0o755,
                        (None, None) => 0o644,
                    };
                    tree.insert((*name).into(), (data.clone(), mode));
                }
                (Action::Delete, Some(_)) => changes.deletes.push((*name).into()),
                (_, Some((data, _))) => {
                    tree.insert((*name).into(), (data.clone(), old_mode.unwrap_or(0o644)));
                }
                (_, None) => {}
            }
        }
        (changes, tree)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn patched_archive_holds_exactly_the_changed_tree(case in case()) {
        let old = case.old_archive();
        let (changes, expected) = case.change_and_expected();
        let kept: Vec<&str> = POOL
            .iter()
            .zip(&case.old)
            .zip(&case.actions)
            .filter(|((_, o), a)| o.is_some() && matches!(a, Action::Keep))
            .map(|((n, _), _)| *n)
            .collect();
        let old_raw = raw_entries(&old);
        for mode in [Mode::Rewrite, Mode::Append, Mode::Auto] {
            let opts = PatchOptions { mode, ..PatchOptions::default() };
            let p = patch_bytes(&old, &changes, &opts).expect("a valid change set on a valid archive");
            let new = p.to_vec(&old);
            // Extracted by the zip crate, Python's zipfile and unzip -t: the old tree, changed.
            assert_reads_as(&new, &expected);
            prop_assert_eq!(&p.report.code_sha256, &code_sha256(&new));
            prop_assert_eq!(p.report.size, new.len() as u64);
            // Kept entries' compressed bytes are identical to the old ones.
            let new_raw = raw_entries(&new);
            for name in &kept {
                prop_assert!(old_raw[*name] == new_raw[*name], "{} was recompressed", name);
            }
            if p.report.strategy == Used::Append {
                // Append output starts with the old prefix byte for byte.
                prop_assert_eq!(p.kept_prefix, zipcheck::cd_offset(&old));
                prop_assert!(new[..p.kept_prefix as usize] == old[..p.kept_prefix as usize]);
                if changes.deletes.is_empty() {
                    let want: BTreeMap<String, Vec<u8>> =
                        expected.iter().map(|(k, (d, _))| (k.clone(), d.clone())).collect();
                    prop_assert_eq!(stream_tree(&new), want, "streaming reader");
                }
            }
            if mode == Mode::Auto && !changes.deletes.is_empty() {
                prop_assert_eq!(p.report.strategy, Used::Rewrite);
            }
            // Same input, same bytes.
            let again = patch_bytes(&old, &changes, &opts).expect("again");
            prop_assert!(again.tail == p.tail, "not deterministic");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every entry reads back from its own bytes alone (the span `Located::range` names, as a
    /// ranged GET fetches it), the directory from the archive's last bytes: for archives of
    /// every flavor real tools write, stored and deflated entries, data descriptors and ZIP64
    /// (issue 15: the previous content a delta is made against, on a machine without it).
    #[test]
    fn each_entry_reads_from_its_own_range(case in case()) {
        let archive = case.old_archive();
        let total = archive.len() as u64;
        let cd = zipedit::directory_offset(&archive, 0, total).expect("directory");
        let located =
            zipedit::entry::locate(&archive[cd as usize..], cd, total).expect("locate");
        for (name, old) in POOL.iter().zip(&case.old) {
            let Some((data, _)) = old else { continue };
            let e = located.iter().find(|e| e.name == *name).expect("located");
            let (start, end) = e.range();
            prop_assert!(end <= cd, "{name}: the range stays before the directory");
            let got = e.content(&archive[start as usize..end as usize]).expect("content");
            prop_assert_eq!(&got, data, "{}", name);
        }
    }
}
