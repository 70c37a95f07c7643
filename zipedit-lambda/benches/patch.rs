//! Changing one 10 KiB file in a 100 MiB artifact of 2,000 files, several ways, in one run:
//! (a) naive: decompress and recompress every entry, as the original QuickBuild patcher did;
//! (b) rewrite: kept entries copied raw, only the change compressed;
//! (c) append: only the new entry, directory and end record are produced (S3 copies the rest),
//!     with the CodeSha256 resumed from the hash checkpoint a previous write left;
//! (d) append without a checkpoint: the 100 MiB prefix is hashed to report CodeSha256;
//! (e) append, then the whole new archive assembled locally (in memory, and as a new file).
//!
//! Run: `make bench` (`cargo bench -p zipedit-lambda --bench patch`). Prints a Markdown table of
//! medians, minimums and ratios against naive. Every strategy's result is checked once, outside
//! the timing: it opens with the `zip` crate, every entry inflates with a matching CRC, the
//! changed entry reads back with the new content, and the reported CodeSha256 is the archive's.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::time::Instant;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};
use zipedit::{
    ChangeSet, Mode, PatchOptions, Patched, PutFile, code_sha256, directory_offset, patch_bytes,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Entries in the artifact, the changed one included.
const FILES: usize = 2_000;
/// The entry the change replaces; it sits in the middle of the archive.
const CHANGED: &str = "app/src/handler.py";
const CHANGED_SIZE: usize = 10 * KIB;

/// xorshift64: reproducible bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Incompressible.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// Text-like source code: deflate shrinks it about 4:1.
    fn text(&mut self, n: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "def ",
            "return ",
            "self",
            "import ",
            "value",
            " = ",
            "(",
            ")",
            ":\n",
            "    ",
            "if ",
            "for x in ",
            "data",
            "[i]",
            ", ",
            "None",
        ];
        let mut out = Vec::with_capacity(n + 16);
        while out.len() < n {
            out.extend_from_slice(WORDS[self.below(WORDS.len())].as_bytes());
        }
        out.truncate(n);
        out
    }
}

/// About 100 MiB zipped in 2,000 files of 4 to 162 KiB: a third incompressible, a third
/// text-like, a third half and half. Written by the `zip` crate with deflate, as a normal
/// packaging tool would.
fn artifact() -> (Vec<u8>, usize) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut w = ZipWriter::new(Cursor::new(Vec::with_capacity(110 * MIB)));
    let opts = SimpleFileOptions::DEFAULT.compression_method(CompressionMethod::Deflated);
    let mut raw = 0;
    for i in 0..FILES {
        let (name, data) = if i == FILES / 2 {
            (CHANGED.to_owned(), rng.text(CHANGED_SIZE))
        } else {
            let size = 4 * KIB + rng.below(158 * KIB);
            let data = match i % 3 {
                0 => rng.bytes(size),
                1 => rng.text(size),
                _ => [rng.bytes(size / 2), rng.text(size - size / 2)].concat(),
            };
            (format!("app/vendor/pkg{:02}/mod{i:04}.bin", i / 100), data)
        };
        raw += data.len();
        w.start_file(name, opts).expect("start");
        w.write_all(&data).expect("write");
    }
    let out = w.finish().expect("finish").into_inner();
    (out, raw)
}

/// What the original QuickBuild patcher did: inflate every entry, deflate it again.
fn naive(old: &[u8], new_content: &[u8]) -> Vec<u8> {
    let mut za = ZipArchive::new(Cursor::new(old)).expect("open");
    let mut w = ZipWriter::new(Cursor::new(Vec::with_capacity(old.len() + MIB)));
    let opts = SimpleFileOptions::DEFAULT.compression_method(CompressionMethod::Deflated);
    let mut buf = Vec::new();
    for i in 0..za.len() {
        let mut f = za.by_index(i).expect("entry");
        let name = f.name().expect("name").into_owned();
        w.start_file(&name, opts).expect("start");
        if name == CHANGED {
            w.write_all(new_content).expect("write");
        } else {
            buf.clear();
            f.read_to_end(&mut buf).expect("inflate");
            w.write_all(&buf).expect("deflate");
        }
    }
    w.finish().expect("finish").into_inner()
}

/// Median and minimum in milliseconds, and the last run's output. Each output is dropped
/// outside the timed region.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    (times[runs / 2], times[0], last.expect("at least one run"))
}

/// Name to CRC-32 of every entry.
fn crcs(archive: &[u8]) -> HashMap<String, u32> {
    let mut za = ZipArchive::new(Cursor::new(archive)).expect("the archive opens");
    (0..za.len())
        .map(|i| {
            let f = za.by_index_raw(i).expect("entry");
            (f.name().expect("name").into_owned(), f.crc32())
        })
        .collect()
}

/// The result opens, has the old entries with the old CRCs (and inflates to them: the zip crate
/// checks the CRC at the end of each read), and the changed entry holds the new content.
fn check(what: &str, archive: &[u8], old: &HashMap<String, u32>, content: &[u8]) {
    let mut za = ZipArchive::new(Cursor::new(archive)).expect("the result opens");
    assert_eq!(za.len(), old.len(), "{what}: entry count");
    let mut buf = Vec::new();
    for i in 0..za.len() {
        let mut f = za.by_index(i).expect("entry");
        let name = f.name().expect("name").into_owned();
        buf.clear();
        f.read_to_end(&mut buf)
            .unwrap_or_else(|e| panic!("{what}: {name} inflates with its CRC: {e}"));
        if name == CHANGED {
            assert!(buf == content, "{what}: the changed entry reads back");
        } else {
            assert_eq!(
                Some(&f.crc32()),
                old.get(&name),
                "{what}: {name} is unchanged"
            );
        }
    }
}

/// The reported CodeSha256 is the new archive's.
fn check_hash(what: &str, p: &Patched, archive: &[u8]) {
    assert_eq!(p.report.size, archive.len() as u64, "{what}: reported size");
    assert_eq!(
        p.report.code_sha256,
        code_sha256(archive),
        "{what}: reported CodeSha256"
    );
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown memory".into(),
            |kb| format!("{:.0} GiB", kb as f64 / MIB as f64),
        );
    format!("nproc {cores}, {cpu}, {mem}")
}

fn main() {
    let started = Instant::now();
    let (old, raw) = artifact();
    let old_crcs = crcs(&old);
    let mib = |n: usize| format!("{:.2} MiB", n as f64 / MIB as f64);
    let kib = |n: usize| format!("{:.1} KiB", n as f64 / KIB as f64);
    println!(
        "artifact: {} zipped ({} bytes), {} entries, {} of files (zip crate, deflate); generated in {:.1} s",
        mib(old.len()),
        old.len(),
        old_crcs.len(),
        mib(raw),
        started.elapsed().as_secs_f64()
    );

    let new_content = Rng(42).text(CHANGED_SIZE);
    let change = ChangeSet::new().put(PutFile::new(CHANGED, new_content.clone()));
    println!(
        "change: {CHANGED} ({} before) replaced with {} of new content",
        kib(CHANGED_SIZE),
        kib(new_content.len())
    );

    // The checkpoint a previous zipedit write would have left beside the artifact: an empty
    // change set leaves the archive as it is and reports the hash state at its directory.
    let checkpoint = patch_bytes(&old, &ChangeSet::new(), &PatchOptions::default())
        .expect("checkpoint")
        .report
        .checkpoint;
    let cd_offset = checkpoint.offset;
    assert_eq!(
        cd_offset,
        directory_offset(&old, 0, old.len() as u64).expect("directory offset"),
        "the checkpoint is at the artifact's central directory"
    );
    let rewrite = PatchOptions {
        mode: Mode::Rewrite,
        ..PatchOptions::default()
    };
    let append = PatchOptions {
        mode: Mode::Append,
        checkpoint: Some(checkpoint),
        ..PatchOptions::default()
    };
    let append_cold = PatchOptions {
        mode: Mode::Append,
        ..PatchOptions::default()
    };

    // (a) naive.
    let (naive_med, naive_min, naive_out) = time(5, || naive(&old, &new_content));
    check("naive", &naive_out, &old_crcs, &new_content);

    // (b) rewrite: the whole new archive is the tail.
    let (rw_med, rw_min, rw) = time(15, || {
        patch_bytes(&old, &change, &rewrite).expect("rewrite")
    });
    assert_eq!(rw.kept_prefix, 0);
    check("rewrite", &rw.tail, &old_crcs, &new_content);
    check_hash("rewrite", &rw, &rw.tail);

    // (c) append with the checkpoint: the tail is what must be uploaded.
    let (ap_med, ap_min, ap) = time(25, || patch_bytes(&old, &change, &append).expect("append"));
    let appended = ap.to_vec(&old);
    assert_eq!(
        ap.kept_prefix, cd_offset,
        "append keeps everything before the directory"
    );
    check("append", &appended, &old_crcs, &new_content);
    check_hash("append", &ap, &appended);

    // (d) append without a checkpoint: hashes the prefix itself.
    let (cold_med, cold_min, cold) = time(15, || {
        patch_bytes(&old, &change, &append_cold).expect("append")
    });
    assert!(cold.tail == ap.tail, "the same bytes to upload");
    check_hash("append without checkpoint", &cold, &appended);

    // (e) append, then the whole new archive assembled: prefix copied, tail after it.
    let (vec_med, vec_min, whole) = time(15, || {
        patch_bytes(&old, &change, &append)
            .expect("append")
            .to_vec(&old)
    });
    assert!(whole == appended, "the assembled archive");
    let (file_med, file_min, file) = time(15, || {
        let p = patch_bytes(&old, &change, &append).expect("append");
        let mut f = tempfile::tempfile().expect("temp file");
        p.write_to(Cursor::new(&old), &mut f).expect("write");
        f
    });
    let file_len = file.metadata().expect("metadata").len() as usize;
    assert_eq!(file_len, appended.len(), "the file holds the whole archive");
    drop(file);

    let ratio = |x: f64| {
        let r = naive_med / x;
        if r >= 10.0 {
            format!("{r:.0}x")
        } else {
            format!("{r:.1}x")
        }
    };
    println!("machine: {}\n", machine());
    println!("| strategy | median ms | min ms | bytes produced / uploaded | vs naive |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, med: f64, min: f64, bytes: String| {
        println!(
            "| {name} | {med:.2} | {min:.2} | {bytes} | {} |",
            ratio(med)
        );
    };
    row(
        "(a) naive: inflate + deflate every entry (5 runs)",
        naive_med,
        naive_min,
        mib(naive_out.len()),
    );
    row(
        "(b) rewrite: raw copy, new directory (15 runs)",
        rw_med,
        rw_min,
        mib(rw.tail.len()),
    );
    row(
        "(c) append: what must be uploaded, hash resumed from the checkpoint (25 runs)",
        ap_med,
        ap_min,
        kib(ap.tail.len()),
    );
    row(
        "(d) append without a checkpoint: hashes the 100 MiB prefix (15 runs)",
        cold_med,
        cold_min,
        kib(cold.tail.len()),
    );
    row(
        "(e) append + whole new archive assembled in memory (15 runs)",
        vec_med,
        vec_min,
        mib(whole.len()),
    );
    row(
        "(e') append + whole new archive written to a new file, no fsync (15 runs)",
        file_med,
        file_min,
        mib(file_len),
    );
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "rewrite vs naive: {} (expected at least 10x: {}); append vs naive: {} (expected at least 100x: {})",
        ratio(rw_med),
        verdict(naive_med / rw_med >= 10.0),
        ratio(ap_med),
        verdict(naive_med / ap_med >= 100.0)
    );
    println!(
        "append writes {} after a kept prefix of {}: the new entry, {} central directory records and the end record; dead bytes {}",
        kib(ap.tail.len()),
        mib(ap.kept_prefix as usize),
        ap.report.entries,
        kib(ap.report.dead_bytes as usize)
    );
    println!("total run time {:.1} s", started.elapsed().as_secs_f64());
}
