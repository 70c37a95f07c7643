//! Independent zip readers and archive makers: the `zip` crate, Python's `zipfile`, Info-ZIP's
//! `unzip` and libarchive's `bsdtar`. None of them shares code with the engine, so a bug in the
//! engine cannot hide behind the same bug in the checker.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, System, ZipArchive, ZipWriter};

/// name -> (content, unix mode)
pub type Tree = BTreeMap<String, (Vec<u8>, u32)>;

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Files (not folders) as the `zip` crate's central-directory reader sees them.
pub fn zip_crate_tree(bytes: &[u8]) -> Tree {
    let mut za = ZipArchive::new(Cursor::new(bytes)).expect("zip crate opens the archive");
    let mut out = Tree::new();
    for i in 0..za.len() {
        let mut f = za.by_index(i).expect("zip crate reads the entry");
        if f.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data)
            .expect("zip crate inflates the entry and checks its CRC");
        let mode = f.unix_mode().unwrap_or(0) & 0o7777;
        out.insert(f.name().expect("utf-8 name").into_owned(), (data, mode));
    }
    out
}

/// File contents as a streaming extractor sees them: libarchive's `bsdtar` reading the
/// archive from a pipe walks local headers in order, and a later entry of a name overwrites.
pub fn stream_tree(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new("bsdtar")
        .args(["-xf", "-", "-C"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bsdtar (make test installs libarchive-tools)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("pipe archive");
    let out = child.wait_with_output().expect("bsdtar");
    assert!(
        out.status.success(),
        "bsdtar stream read failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tree = BTreeMap::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir.path())
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                tree.insert(rel, std::fs::read(&p).expect("read file"));
            }
        }
    }
    tree
}

/// Each entry's compressed bytes as stored, by name.
pub fn raw_entries(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut za = ZipArchive::new(Cursor::new(bytes)).expect("zip crate opens the archive");
    let mut out = BTreeMap::new();
    for i in 0..za.len() {
        let mut f = za.by_index_raw(i).expect("raw entry");
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("raw read");
        out.insert(f.name().expect("utf-8 name").into_owned(), data);
    }
    out
}

/// What Python's zipfile and `unzip -t` make of an archive.
#[derive(Debug, PartialEq)]
pub struct Independent {
    /// name -> (sha256 hex, mode)
    pub files: BTreeMap<String, (String, u32)>,
    pub dirs: Vec<String>,
    pub comment: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/zipcheck.py")
}

/// Runs Python's zipfile (testzip + extract) and `unzip -t` on `bytes`; panics if either
/// rejects it.
pub fn independent(bytes: &[u8]) -> Independent {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write archive");
    let path = file.path();
    let py = Command::new("python3")
        .arg(script())
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        py.status.success(),
        "Python zipfile rejected the archive: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let unzip = Command::new("unzip")
        .arg("-tqq")
        .arg(path)
        .output()
        .expect("run unzip");
    assert!(
        unzip.status.success(),
        "unzip -t rejected the archive: {}{}",
        String::from_utf8_lossy(&unzip.stdout),
        String::from_utf8_lossy(&unzip.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&py.stdout).expect("zipcheck JSON");
    let files = v["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(k, f)| {
            let mode = u32::from_str_radix(f["mode"].as_str().expect("mode"), 8).expect("octal");
            (
                k.clone(),
                (f["sha256"].as_str().expect("sha").to_owned(), mode),
            )
        })
        .collect();
    let dirs = v["dirs"]
        .as_array()
        .expect("dirs")
        .iter()
        .map(|d| d.as_str().expect("dir").to_owned())
        .collect();
    Independent {
        files,
        dirs,
        comment: v["comment"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Checks that all three independent readers see exactly `expected`.
pub fn assert_reads_as(bytes: &[u8], expected: &Tree) {
    let got = zip_crate_tree(bytes);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "zip crate: names differ"
    );
    for (name, (data, mode)) in expected {
        let (gdata, gmode) = &got[name];
        assert!(gdata == data, "zip crate: content of {name:?} differs");
        assert_eq!(*gmode, *mode, "zip crate: mode of {name:?}");
    }
    let ind = independent(bytes);
    let want: BTreeMap<String, (String, u32)> = expected
        .iter()
        .map(|(k, (d, m))| (k.clone(), (sha_hex(d), *m)))
        .collect();
    assert_eq!(ind.files, want, "Python zipfile sees other files");
}

/// How an old archive is made, to cover what real tools produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The `zip` crate writing to a seekable buffer: sizes in the local headers.
    Seekable,
    /// The `zip` crate writing to a stream: data descriptors after every entry.
    Stream,
    /// ZIP64 extra fields on every entry.
    Zip64,
}

/// Builds an archive of `files` (name, content, mode) with the `zip` crate, alternating
/// deflate and stored, plus folder entries and a comment.
pub fn zip_crate_archive(
    files: &[(&str, &[u8], u32)],
    dirs: &[&str],
    comment: &str,
    flavor: Flavor,
) -> Vec<u8> {
    fn fill<W: Write + std::io::Seek>(
        w: &mut ZipWriter<W>,
        files: &[(&str, &[u8], u32)],
        dirs: &[&str],
        comment: &str,
        flavor: Flavor,
    ) {
        for d in dirs {
            w.add_directory(*d, SimpleFileOptions::DEFAULT.system(System::Unix))
                .expect("add dir");
        }
        for (i, (name, data, mode)) in files.iter().enumerate() {
            let method = if i % 2 == 0 {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            };
            let opts = SimpleFileOptions::DEFAULT
                .compression_method(method)
                .system(System::Unix)
                .unix_permissions(*mode)
                .large_file(flavor == Flavor::Zip64);
            w.start_file(*name, opts).expect("start file");
            w.write_all(data).expect("write data");
        }
        w.set_comment(comment.to_owned()).expect("comment");
    }
    match flavor {
        Flavor::Seekable | Flavor::Zip64 => {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            fill(&mut w, files, dirs, comment, flavor);
            w.finish().expect("finish").into_inner()
        }
        Flavor::Stream => {
            let mut w = ZipWriter::new_stream(Vec::new());
            fill_stream(&mut w, files, dirs, comment);
            w.finish().expect("finish").into_inner()
        }
    }
}

fn fill_stream(
    w: &mut ZipWriter<zip::write::StreamWriter<Vec<u8>>>,
    files: &[(&str, &[u8], u32)],
    dirs: &[&str],
    comment: &str,
) {
    for d in dirs {
        w.add_directory(*d, SimpleFileOptions::DEFAULT.system(System::Unix))
            .expect("add dir");
    }
    for (i, (name, data, mode)) in files.iter().enumerate() {
        let method = if i % 2 == 0 {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let opts = SimpleFileOptions::DEFAULT
            .compression_method(method)
            .system(System::Unix)
            .unix_permissions(*mode);
        w.start_file(*name, opts).expect("start file");
        w.write_all(data).expect("write data");
    }
    w.set_comment(comment.to_owned()).expect("comment");
}

/// Offset of the central directory, as the `zip` crate finds it.
pub fn cd_offset(bytes: &[u8]) -> u64 {
    ZipArchive::new(Cursor::new(bytes))
        .expect("open")
        .central_directory_start()
}

/// How many central directory records have flag bit 3 (a data descriptor follows the data).
pub fn descriptor_entries(bytes: &[u8]) -> usize {
    let mut pos = cd_offset(bytes) as usize;
    let mut n = 0;
    while bytes[pos..].starts_with(&[0x50, 0x4b, 0x01, 0x02]) {
        let u16_at =
            |at: usize| u16::from_le_bytes([bytes[pos + at], bytes[pos + at + 1]]) as usize;
        if u16_at(8) & 8 != 0 {
            n += 1;
        }
        pos += 46 + u16_at(28) + u16_at(30) + u16_at(32);
    }
    n
}
