#!/usr/bin/env python3
"""Independent check of a zip archive, for quickdeploy's tests.

Reads ARCHIVE with Python's zipfile (testzip, then extracts every entry into a fresh folder)
and prints JSON: {"files": {name: {"sha256": hex, "mode": "0644"}}, "dirs": [...],
"comment": str}. Exits 1 with the reason on stderr when the archive is bad.
"""
import hashlib
import json
import os
import sys
import tempfile
import zipfile


def main() -> int:
    path = sys.argv[1]
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                print(f"zipfile: CRC or read error in {bad!r}", file=sys.stderr)
                return 1
            out = {"files": {}, "dirs": [], "comment": zf.comment.decode("utf-8", "replace")}
            with tempfile.TemporaryDirectory() as tmp:
                zf.extractall(tmp)
                for info in zf.infolist():
                    if info.is_dir():
                        out["dirs"].append(info.filename)
                        continue
                    with open(os.path.join(tmp, info.filename), "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                    mode = (info.external_attr >> 16) & 0o7777
                    out["files"][info.filename] = {"sha256": digest, "mode": f"{mode:04o}"}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        print(f"zipfile: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
