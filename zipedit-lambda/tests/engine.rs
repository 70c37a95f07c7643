//! The engine against archives made by other tools, checked by readers other than itself.

use testkit::zipcheck::{
    self, Flavor, Tree, assert_reads_as, independent, raw_entries, stream_tree, zip_crate_archive,
};
use zipedit::{
    ChangeSet, EMPTY_ARCHIVE, Mode, PatchError, PatchOptions, PutFile, Strategy, build_archive,
    code_sha256, patch_bytes,
};

fn opts(mode: Mode) -> PatchOptions {
    PatchOptions {
        mode,
        ..PatchOptions::default()
    }
}

fn tree(files: &[(&str, &[u8], u32)]) -> Tree {
    files
        .iter()
        .map(|(n, d, m)| (n.to_string(), (d.to_vec(), *m)))
        .collect()
}

const HANDLER: &[u8] = b"def handler(event, context):\n    return {'ok': True}\n";
const UTIL: &[u8] = b"def helper():\n    return 41\n";

fn base_files() -> Vec<(&'static str, &'static [u8], u32)> {
    vec![
        ("handler.py", HANDLER, 0o644),
        ("lib/util.py", UTIL, 0o644),
        ("bootstrap", b"#!/bin/sh\nexec python3 handler.py\n", 0o755),
        ("données/é.txt", "unicode name ✓".as_bytes(), 0o644),
        ("lib/blob.bin", &[7u8; 5000], 0o600),
    ]
}

fn change() -> ChangeSet {
    ChangeSet::new()
        .put(PutFile::new(
            "lib/util.py",
            "def helper():\n    return 42\n",
        ))
        .put(PutFile::new("new/ñ.py", "x = 1\n"))
        .put(PutFile::new(
            "bootstrap",
            "#!/bin/sh\nexec python3 -u handler.py\n",
        ))
}

fn changed_tree() -> Tree {
    let mut t = tree(&base_files());
    t.insert(
        "lib/util.py".into(),
        (b"def helper():\n    return 42\n".to_vec(), 0o644),
    );
    t.insert("new/ñ.py".into(), (b"x = 1\n".to_vec(), 0o644));
    // A replaced entry keeps its old mode: bootstrap stays executable.
    t.insert(
        "bootstrap".into(),
        (b"#!/bin/sh\nexec python3 -u handler.py\n".to_vec(), 0o755),
    );
    t
}

#[test]
fn every_flavor_and_mode_gives_the_changed_tree() {
    for flavor in [Flavor::Seekable, Flavor::Stream, Flavor::Zip64] {
        let old = zip_crate_archive(
            &base_files(),
            &["lib/", "empty/"],
            "built by the zip crate",
            flavor,
        );
        if flavor == Flavor::Stream {
            // Flag bit 3 on the first local header: this flavor really has data descriptors.
            assert!(
                zipcheck::descriptor_entries(&old) >= 5,
                "stream flavor without descriptors"
            );
        }
        assert_reads_as(&old, &tree(&base_files()));
        for mode in [Mode::Rewrite, Mode::Append, Mode::Auto] {
            let p = patch_bytes(&old, &change(), &opts(mode))
                .unwrap_or_else(|e| panic!("{flavor:?} {mode:?}: {e}"));
            let new = p.to_vec(&old);
            assert_reads_as(&new, &changed_tree());
            let ind = independent(&new);
            assert_eq!(
                ind.comment, "built by the zip crate",
                "{flavor:?} {mode:?}: comment kept"
            );
            assert_eq!(
                ind.dirs,
                vec!["lib/".to_string(), "empty/".to_string()],
                "folder entries kept"
            );
            assert_eq!(p.report.code_sha256, code_sha256(&new));
            assert_eq!(p.report.size, new.len() as u64);
            assert_eq!(
                (p.report.added, p.report.modified, p.report.deleted),
                (1, 2, 0)
            );
            assert_eq!(p.report.unchanged, 5, "3 files and 2 folders kept");
            // Kept entries' compressed bytes are carried over untouched.
            let (before, after) = (raw_entries(&old), raw_entries(&new));
            for name in ["handler.py", "données/é.txt", "lib/blob.bin"] {
                assert!(
                    before[name] == after[name],
                    "{flavor:?} {mode:?}: {name} recompressed"
                );
            }
            match p.report.strategy {
                Strategy::Append => {
                    let cd = zipcheck::cd_offset(&old);
                    assert_eq!(p.kept_prefix, cd);
                    assert!(
                        new[..cd as usize] == old[..cd as usize],
                        "prefix kept byte for byte"
                    );
                    // Streaming readers meet the new entries after the old ones.
                    let streamed = stream_tree(&new);
                    let want: std::collections::BTreeMap<_, _> = changed_tree()
                        .into_iter()
                        .map(|(k, (d, _))| (k, d))
                        .collect();
                    assert_eq!(streamed, want, "{flavor:?}: streaming reader");
                    assert!(p.report.dead_bytes > 0);
                }
                Strategy::Rewrite => assert_eq!(p.report.dead_bytes, 0),
                Strategy::Unchanged => panic!("a change was made"),
            }
        }
    }
}

#[test]
fn auto_appends_small_changes_and_rewrites_deletes() {
    let old = build_archive(
        base_files()
            .iter()
            .map(|(n, d, _)| PutFile::new(*n, *d))
            .collect(),
    )
    .expect("build");
    let small = ChangeSet::new().put(PutFile::new("handler.py", "print('hi')\n"));
    assert_eq!(
        patch_bytes(&old, &small, &opts(Mode::Auto))
            .expect("auto")
            .report
            .strategy,
        Strategy::Append
    );
    let delete = ChangeSet::new().delete("lib/util.py");
    let p = patch_bytes(&old, &delete, &opts(Mode::Auto)).expect("auto delete");
    assert_eq!(p.report.strategy, Strategy::Rewrite);
    assert_eq!(p.report.deleted, 1);
    assert!(!zipcheck::zip_crate_tree(&p.to_vec(&old)).contains_key("lib/util.py"));
}

#[test]
fn auto_compacts_when_dead_bytes_pass_the_threshold() {
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let old = build_archive(vec![
        PutFile::new("big.bin", big.clone()),
        PutFile::new("a.txt", "a"),
    ])
    .expect("build");
    let mut cur = old.clone();
    let mut strategies = Vec::new();
    for round in 0..3u8 {
        let mut next = big.clone();
        next[0] = round;
        let p = patch_bytes(
            &cur,
            &ChangeSet::new().put(PutFile::new("big.bin", next)),
            &opts(Mode::Auto),
        )
        .expect("patch");
        assert!(p.report.dead_bytes as f64 <= 0.25 * p.report.size as f64);
        strategies.push(p.report.strategy);
        cur = p.to_vec(&cur);
    }
    // Replacing the one big entry would leave half the archive dead: always compacted.
    assert_eq!(strategies, vec![Strategy::Rewrite; 3]);
    let p = patch_bytes(
        &cur,
        &ChangeSet::new().put(PutFile::new("a.txt", "b")),
        &opts(Mode::Auto),
    )
    .expect("patch");
    assert_eq!(
        p.report.strategy,
        Strategy::Append,
        "a tiny change to a compact archive appends"
    );
}

#[test]
fn dead_bytes_are_exactly_what_compaction_removes() {
    let old = zip_crate_archive(&base_files(), &[], "", Flavor::Stream);
    let appended = patch_bytes(&old, &change(), &opts(Mode::Append)).expect("append");
    let bytes = appended.to_vec(&old);
    let compacted = patch_bytes(&bytes, &ChangeSet::new(), &opts(Mode::Rewrite)).expect("compact");
    assert_eq!(
        compacted.report.size + appended.report.dead_bytes,
        appended.report.size
    );
    assert_reads_as(&compacted.tail, &changed_tree());
}

#[test]
fn output_is_deterministic_and_checkpoint_resumes_the_hash() {
    let old = zip_crate_archive(&base_files(), &[], "", Flavor::Seekable);
    let a = patch_bytes(&old, &change(), &opts(Mode::Append)).expect("a");
    let b = patch_bytes(&old, &change(), &opts(Mode::Append)).expect("b");
    assert_eq!(a.tail, b.tail);
    let r1 = patch_bytes(&old, &change(), &opts(Mode::Rewrite)).expect("r1");
    let r2 = patch_bytes(&old, &change(), &opts(Mode::Rewrite)).expect("r2");
    assert_eq!(r1.tail, r2.tail);

    // Append again, resuming the hash from the first append's checkpoint.
    let first = a.to_vec(&old);
    let next = ChangeSet::new().put(PutFile::new("handler.py", "print(3)\n"));
    let resumed = PatchOptions {
        mode: Mode::Append,
        checkpoint: Some(a.report.checkpoint.clone()),
        ..PatchOptions::default()
    };
    let second = patch_bytes(&first, &next, &resumed).expect("resumed");
    assert_eq!(
        second.report.code_sha256,
        code_sha256(&second.to_vec(&first))
    );
    let wrong = PatchOptions {
        checkpoint: Some(zipedit::HashCheckpoint {
            offset: a.report.checkpoint.offset,
            state: "bm90IGEgc3RhdGU=".into(),
        }),
        ..resumed
    };
    assert!(matches!(
        patch_bytes(&first, &next, &wrong),
        Err(PatchError::Checkpoint(_))
    ));
}

#[test]
fn modes_follow_lambda_rules() {
    let old = zip_crate_archive(
        &[("run.sh", b"echo", 0o755), ("data.txt", b"d", 0o600)],
        &[],
        "",
        Flavor::Seekable,
    );
    let changes = ChangeSet::new()
        .put(PutFile::new("run.sh", "echo 2")) // keeps 0755
        .put(PutFile::new("data.txt", "e").executable(false)) // told: 0644
        .put(PutFile::new("bootstrap", "#!/bin/sh")) // new root bootstrap: 0755
        .put(PutFile::new("sub/bootstrap", "x")) // not at the root: 0644
        .put(PutFile::new("tool", "bin").executable(true));
    let new = patch_bytes(&old, &changes, &opts(Mode::Append))
        .expect("patch")
        .to_vec(&old);
    let modes: Vec<(String, u32)> = independent(&new)
        .files
        .into_iter()
        .map(|(k, (_, m))| (k, m))
        .collect();
    assert_eq!(
        modes,
        vec![
            ("bootstrap".into(), 0o755),
            ("data.txt".into(), 0o644),
            ("run.sh".into(), 0o755),
            ("sub/bootstrap".into(), 0o644),
            ("tool".into(), 0o755),
        ]
    );
}

#[test]
fn many_entries_use_zip64_end_records() {
    // 70,000 entries do not fit the 16-bit count: the ZIP64 end record is required.
    let files: Vec<PutFile> = (0..70_000)
        .map(|i| PutFile::new(format!("f/{i:05}.txt"), format!("{i}")))
        .collect();
    let old = build_archive(files).expect("build");
    let changes = ChangeSet::new()
        .put(PutFile::new("f/00007.txt", "seven"))
        .delete("f/69999.txt");
    for mode in [Mode::Append, Mode::Rewrite] {
        let new = patch_bytes(&old, &changes, &opts(mode))
            .expect("patch")
            .to_vec(&old);
        let ind = independent(&new);
        assert_eq!(ind.files.len(), 69_999);
        assert_eq!(ind.files["f/00007.txt"].0, zipcheck::sha_hex(b"seven"));
        assert!(!ind.files.contains_key("f/69999.txt"));
    }
}

#[test]
fn python_written_archives_with_descriptors_patch_cleanly() {
    // Python writes data descriptors when its output is not seekable.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("py.zip");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys,zipfile\n\
             class W:\n  def __init__(s,f): s.f=f\n  def write(s,b): return s.f.write(b)\n  def flush(s): s.f.flush()\n\
             with open(sys.argv[1],'wb') as f:\n  z=zipfile.ZipFile(W(f),'w',zipfile.ZIP_DEFLATED)\n  \
             z.writestr('a.py','print(1)\\n'*50)\n  z.writestr('b/c.py','x=2\\n')\n  z.close()\n",
        )
        .arg(&path)
        .status()
        .expect("python3");
    assert!(status.success());
    let old = std::fs::read(&path).expect("read");
    assert_eq!(
        zipcheck::descriptor_entries(&old),
        2,
        "python wrote data descriptors"
    );
    let changes = ChangeSet::new()
        .put(PutFile::new("a.py", "print(2)\n"))
        .delete("b/c.py");
    for mode in [Mode::Append, Mode::Rewrite] {
        let new = patch_bytes(&old, &changes, &opts(mode))
            .expect("patch")
            .to_vec(&old);
        let ind = independent(&new);
        assert_eq!(ind.files.keys().collect::<Vec<_>>(), vec!["a.py"]);
    }
}

#[test]
fn empty_change_keeps_the_archive_and_rewrite_compacts() {
    let old = zip_crate_archive(&base_files(), &[], "c", Flavor::Seekable);
    let same = patch_bytes(&old, &ChangeSet::new(), &opts(Mode::Auto)).expect("noop");
    assert_eq!(same.report.strategy, Strategy::Unchanged);
    assert_eq!(same.to_vec(&old), old);
    assert_eq!(same.report.code_sha256, code_sha256(&old));
    assert_eq!(same.report.written, 0);
}

#[test]
fn empty_archive_can_be_patched() {
    let p = patch_bytes(
        &EMPTY_ARCHIVE,
        &ChangeSet::new().put(PutFile::new("a", "b")),
        &opts(Mode::Append),
    )
    .expect("patch");
    let new = p.to_vec(&EMPTY_ARCHIVE);
    assert_reads_as(&new, &tree(&[("a", b"b", 0o644)]));
}

#[test]
fn bad_change_sets_are_rejected_with_the_reason() {
    let old = build_archive(vec![
        PutFile::new("a/b.txt", "1"),
        PutFile::new("c.txt", "2"),
    ])
    .expect("build");
    let cases: Vec<(ChangeSet, &str)> = vec![
        (
            ChangeSet::new().put(PutFile::new("../etc/passwd", "x")),
            "'..'",
        ),
        (ChangeSet::new().put(PutFile::new("/abs", "x")), "absolute"),
        (
            ChangeSet::new().put(PutFile::new("C:evil", "x")),
            "drive letter",
        ),
        (ChangeSet::new().put(PutFile::new("a\\b", "x")), "backslash"),
        (ChangeSet::new().put(PutFile::new("", "x")), "empty"),
        (ChangeSet::new().put(PutFile::new("a\0b", "x")), "NUL"),
        (
            ChangeSet::new().put(PutFile::new("a\nb.py", "x")),
            "control character",
        ),
        (
            ChangeSet::new().put(PutFile::new("a".repeat(65_533), "x")),
            "longer than 255 bytes",
        ),
        (
            ChangeSet::new().put(PutFile::new("a//b", "x")),
            "empty component",
        ),
        (ChangeSet::new().put(PutFile::new("./a", "x")), "'.'"),
        (
            ChangeSet::new().put(PutFile::new("dir/", "x")),
            "a put names a file",
        ),
        (
            ChangeSet::new()
                .put(PutFile::new("x", "1"))
                .put(PutFile::new("x", "2")),
            "more than once",
        ),
        (
            ChangeSet::new()
                .put(PutFile::new("c.txt", "1"))
                .delete("c.txt"),
            "both put and deleted",
        ),
        (ChangeSet::new().delete("nope.txt"), "no such entry"),
        (
            ChangeSet::new().put(PutFile::new("a", "1")),
            "one is a file, the other a folder",
        ),
        (
            ChangeSet::new().put(PutFile::new("c.txt/d", "1")),
            "one is a file, the other a folder",
        ),
    ];
    for (changes, needle) in cases {
        let err = patch_bytes(&old, &changes, &PatchOptions::default()).expect_err(needle);
        assert!(err.is_bad_change(), "{err}");
        assert!(
            err.to_string().contains(needle),
            "{err:?} should mention {needle}"
        );
    }
}

#[test]
fn damaged_archives_are_rejected_with_the_reason() {
    let old = zip_crate_archive(&base_files(), &[], "", Flavor::Seekable);
    let changes = ChangeSet::new().put(PutFile::new("x", "1"));
    let cd = zipcheck::cd_offset(&old) as usize;
    let mut bad_local = old.clone();
    bad_local[0] = b'X'; // first local header signature
    let mut bad_cd = old.clone();
    bad_cd[cd + 1] = b'X';
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "too short"),
        (
            b"hello, this is not a zip archive at all".to_vec(),
            "not a zip archive",
        ),
        (old[..old.len() - 5].to_vec(), "not a zip archive"),
        (old[cd..].to_vec(), "central directory"),
        (old[..cd].to_vec(), "no end of central directory"),
        (
            {
                // Entries on this disk (end record offset 8) unlike the total (offset 10).
                let mut b = old.clone();
                let eocd = b.len() - 22;
                b[eocd + 8] = b[eocd + 8].wrapping_add(1);
                b
            },
            "entries on this disk",
        ),
        (
            zip_crate_archive(&base_files(), &[], "see PK\x05\x06 here", Flavor::Seekable),
            "comment contains an end of central directory signature",
        ),
        ([old.as_slice(), b"trailing"].concat(), "data follows"),
        (
            [b"PREFIX".as_slice(), old.as_slice()].concat(),
            "self-extracting",
        ),
        (bad_local, "no local header"),
        (bad_cd, "damaged"),
    ];
    for (bytes, needle) in cases {
        for mode in [Mode::Append, Mode::Rewrite] {
            let err = patch_bytes(&bytes, &changes, &opts(mode)).expect_err(needle);
            assert!(!err.is_bad_change());
            assert!(
                err.to_string().contains(needle),
                "{err} should mention {needle:?}"
            );
        }
    }
}

#[test]
fn directory_only_append_matches_the_whole_archive_append() {
    let old = zip_crate_archive(&base_files(), &[], "", Flavor::Seekable);
    // First a whole-archive patch, which yields the checkpoint the next one resumes from.
    let first = patch_bytes(&old, &change(), &opts(Mode::Rewrite)).expect("rewrite");
    let art = first.to_vec(&old);
    let next = ChangeSet::new().put(PutFile::new("handler.py", "print('v3')\n"));
    let with_cp = PatchOptions {
        mode: Mode::Auto,
        checkpoint: Some(first.report.checkpoint.clone()),
        ..PatchOptions::default()
    };
    let whole = patch_bytes(&art, &next, &with_cp).expect("whole");
    // Only the last 300 bytes: not enough, the directory starts earlier.
    let total = art.len() as u64;
    let cd =
        zipedit::directory_offset(&art[art.len() - 300..], total - 300, total).expect("end record");
    assert_eq!(cd, zipcheck::cd_offset(&art));
    let dir_only = zipedit::patch_directory(&art[cd as usize..], cd, total, &next, &with_cp)
        .expect("directory only");
    assert_eq!(dir_only.tail, whole.tail);
    assert_eq!(dir_only.report.code_sha256, whole.report.code_sha256);
    assert_eq!(dir_only.report.strategy, Strategy::Append);
    // No checkpoint, or a delete (rewrite), needs the whole archive.
    let no_cp = zipedit::patch_directory(
        &art[cd as usize..],
        cd,
        total,
        &next,
        &PatchOptions::default(),
    );
    assert!(matches!(no_cp, Err(PatchError::NeedsWholeArchive(_))));
    let del = zipedit::patch_directory(
        &art[cd as usize..],
        cd,
        total,
        &ChangeSet::new().delete("handler.py"),
        &with_cp,
    );
    assert!(matches!(del, Err(PatchError::NeedsWholeArchive(_))));
}
