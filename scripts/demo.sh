#!/usr/bin/env bash
# The demo: the patch engine on a Lambda-sized artifact (append and rewrite, locally and through
# the real zipedit Lambda on the local rig), then the deploy path on the example app: full
# deploy into moto, a one-line change quick-deployed, and what happened with how long each took.
set -euo pipefail
cd "$(dirname "$0")/.."
qd=target/debug/quickdeploy
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
now() { date +%s%N; }
took() { echo "   ($(( ($(now) - $1) / 1000000 )) ms)"; }

step "1. make an artifact: 1,500 files, about 15 MB, as a packaging tool would (Python zipfile)"
t=$(now)
python3 - "$work/app.zip" <<'PY'
import os, random, sys, zipfile
random.seed(7)
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("handler.py", "def handler(event, context):\n    return {'version': 1}\n")
    for i in range(1500):
        kind = i % 3
        size = random.randint(2_000, 40_000)
        if kind == 0:
            data = os.urandom(size)
        elif kind == 1:
            data = ("line %d of module %d\n" % (i, i) * (size // 20)).encode()
        else:
            data = os.urandom(size // 2) + b"x" * (size // 2)
        z.writestr(f"vendor/pkg{i // 100}/mod{i}.py", data)
PY
ls -l "$work/app.zip" | awk '{printf "   %s: %d bytes\n", $9, $5}'
took "$t"

step "2. a one-line change"
printf "def handler(event, context):\n    return {'version': 2}\n" > "$work/handler.py"
echo "   handler.py now returns version 2"

step "3. patch it by append (only the new entry and a new directory are written)"
$qd patch-zip "$work/app.zip" -o "$work/append.zip" --put handler.py="$work/handler.py" --mode append

step "4. patch it by rewrite (every kept entry copied raw, none recompressed)"
$qd patch-zip "$work/app.zip" -o "$work/rewrite.zip" --put handler.py="$work/handler.py" --mode rewrite

step "5. check both with unzip -t and read the handler back"
for z in append rewrite; do
  unzip -tqq "$work/$z.zip" && printf '   %-8s unzip -t: OK; handler.py says: %s\n' "$z" \
    "$(unzip -p "$work/$z.zip" handler.py | tail -n 1 | tr -s ' ')"
done
echo
echo "The append patch wrote only the 'written' bytes above: in S3 the rest is copied server side."

step "6. the same through the zipedit Lambda, for real, against the local rig"
target/debug/examples/lambda_demo

step "7. the deploy path: the example app (examples/app) on the local rig"
target/debug/examples/deploy_demo
