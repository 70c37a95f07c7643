#!/usr/bin/env python3
"""Writes the zipfile half of the fuzz seed corpus: archives from Python's zipfile, each behind
a control block (the input format is in fuzz_targets/patch.rs and README.md).

Run by `cargo run --example make_seeds`, which writes the zipedit::build_archive half first;
it can also be run on its own: python3 fuzz/make_seeds.py
"""
import io
import os
import zipfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "patch")

# Indices into the target's name list: 0..=6 are fixed names, 7.. the archive's own entries.
A_PY, LIB_B, BOOTSTRAP, D_DIR, UNICODE, LIB, NEW = range(7)
OWN = 7

FILES = {"a.py": b"print(1)\n" * 20, "lib/b.py": b"X = 2\n", "bootstrap": b"#!/bin/sh\n"}


def info(name, method=zipfile.ZIP_STORED):
    """A fixed timestamp (zipfile stamps the current time otherwise): reproducible seeds."""
    zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zi.compress_type = method
    zi.external_attr = 0o600 << 16
    return zi


class Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek, so it writes data descriptors after each entry."""

    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


def archive(kind):
    if kind in ("descriptors", "zip64-descriptors"):
        sink = Unseekable()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in FILES.items():
                if kind == "zip64-descriptors":
                    # ZIP64 local extras, so the descriptors carry 64-bit sizes
                    with z.open(info(name, zipfile.ZIP_DEFLATED), "w", force_zip64=True) as f:
                        f.write(data)
                else:
                    z.writestr(info(name, zipfile.ZIP_DEFLATED), data)
        return bytes(sink.buf)
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if kind == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as z:
        if kind == "dirs":
            d = info("d/")
            d.external_attr = (0o40777 << 16) | 0x10  # a directory entry, as zipfile.mkdir makes
            d.CRC = d.compress_size = d.file_size = 0
            z.mkdir(d)
        for name, data in FILES.items():
            if kind == "zip64":
                with z.open(info(name, method), "w", force_zip64=True) as f:
                    f.write(data)
            else:
                z.writestr(info(name, method), data)
        if kind == "unicode":
            z.writestr(info("é/ü.txt", method), "ünïcødé\n".encode())
        if kind == "comment":
            z.comment = b"an archive comment"
    return buf.getvalue()


# (seed name, archive kind, control pairs (op, arg))
SEEDS = [
    # put an empty a.py, delete lib/b.py, dead-byte ratio 1.0
    ("zipfile-deflated", "deflated", [(0, OWN + 0), (2, OWN + 1), (3, 255)]),
    # 160 incompressible bytes over a.py (stored), compression level 0
    ("zipfile-stored", "stored", [(6, 20), (7, 0)]),
    # data descriptors: put a.py (3 lines: arg 17 is a.py again, 17 % 7 = 3), delete bootstrap
    ("zipfile-descriptors", "descriptors", [(0, OWN + 10), (2, OWN + 2)]),
    # ZIP64 local extras (force_zip64) on every entry: replace lib/b.py, add new.txt
    ("zipfile-zip64", "zip64", [(0, OWN + 1), (0, NEW)]),
    # both: descriptors with 64-bit sizes; put bootstrap executable (odd arg), 9 bytes
    ("zipfile-zip64-descriptors", "zip64-descriptors", [(9, OWN + 2)]),
    # an archive comment, kept by both strategies
    ("zipfile-comment", "comment", [(0, OWN + 10)]),
    # a directory entry: put d/x under it, then delete the folder entry by its bare name "d"
    ("zipfile-dirs", "dirs", [(4, OWN + 0), (5, OWN + 0)]),
    # a UTF-8 name: replace it, delete a.py
    ("zipfile-unicode", "unicode", [(0, UNICODE), (2, OWN + 0)]),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, kind, pairs in SEEDS:
        control = bytes(b for pair in pairs for b in pair)
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([len(control)]) + control + archive(kind))


if __name__ == "__main__":
    main()
