#!/usr/bin/env bash
# Builds the zipedit Lambda and packages it as bootstrap.zip for the provided.al2023 runtime.
#
#   scripts/package-lambda.sh [--arch arm64|x86_64|host] [--profile release|debug] [--out DIR]
#   scripts/package-lambda.sh --binary PATH [--out DIR]      # package a binary built elsewhere
#
# --arch host (the default) is this machine's own build: `cargo build --workspace --bins`, the
# same feature set as `cargo build --workspace`, so it reuses that build instead of making a
# second copy of every dependency. arm64 and x86_64 cross-build for Amazon Linux 2023 with
# cargo-zigbuild and zig (both from PyPI, pinned, installed into the repo's .venv on first use),
# linking against glibc 2.34, the version AL2023 ships: a Debian or Ubuntu host's newer glibc
# would otherwise leak symbol versions that AL2023 cannot resolve. Cross builds go to
# target/<triple>/, or under CARGO_TARGET_DIR when that is set.
#
# The zip is written by quickdeploy's own engine (fixed timestamps, mode 0755 for bootstrap),
# so the same binary always gives the same bytes and the same CodeSha256. Prints the zip's path,
# size and CodeSha256. Re-running replaces the zip.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Pinned cross tools. The cargo-zigbuild wheel is the project's own prebuilt binary: seconds to
# install, where `cargo install cargo-zigbuild` compiles for minutes.
CARGO_ZIGBUILD_VERSION=0.24.0
ZIGLANG_VERSION=0.15.2
# What Amazon Linux 2023 ships; the provided.al2023 runtime runs on it.
AL2023_GLIBC=2.34

die() { echo "package-lambda: $*" >&2; exit 1; }
usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }

arch=host profile=release out=target/lambda binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) [ $# -ge 2 ] || die "--arch needs arm64, x86_64 or host"; arch=$2; shift 2 ;;
    --profile) [ $# -ge 2 ] || die "--profile needs release or debug"; profile=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --binary) [ $# -ge 2 ] || die "--binary needs the path of a built zipedit"; binary=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
case "$profile" in
  debug) profile_flag=() profile_dir=debug ;;
  release) profile_flag=(--release) profile_dir=release ;;
  *) die "--profile must be release or debug, not '$profile'" ;;
esac
command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
target_dir=${CARGO_TARGET_DIR:-$root/target}

host_arch=$(uname -m)
case "$arch" in
  host) ;;
  arm64) triple=aarch64-unknown-linux-gnu ;;
  x86_64) triple=x86_64-unknown-linux-gnu ;;
  *) die "--arch must be arm64, x86_64 or host, not '$arch'" ;;
esac

# Cross tools into the repo's virtualenv (`make rig-deps` makes it; made here if missing).
cross_tools() {
  command -v rustup >/dev/null || die "rustup is missing: cross builds need 'rustup target add $triple'"
  if ! rustup target list --installed | grep -qx "$triple"; then
    echo "package-lambda: rustup target add $triple" >&2
    rustup target add "$triple"
  fi
  local venv=$root/.venv
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || die "could not create $venv (on Debian: apt-get install python3-venv)"
  fi
  if ! "$venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF "$CARGO_ZIGBUILD_VERSION" \
    || ! "$venv/bin/python" -m ziglang version >/dev/null 2>&1; then
    echo "package-lambda: installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and ziglang $ZIGLANG_VERSION into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION" \
      || die "pip could not install cargo-zigbuild/ziglang from PyPI"
  fi
  # cargo-zigbuild finds zig as `python3 -m ziglang`, so the venv's python goes first on PATH.
  export PATH="$venv/bin:$PATH" CARGO_ZIGBUILD_PYTHON_PATH="$venv/bin/python"
}

if [ -n "$binary" ]; then
  [ -f "$binary" ] || die "--binary $binary: no such file"
  [ -s "$binary" ] || die "--binary $binary is empty"
  bin=$binary
elif [ "$arch" = host ]; then
  cargo build --workspace --bins "${profile_flag[@]}"
  bin=$target_dir/$profile_dir/zipedit
  arch=$host_arch
else
  cross_tools
  # A glibc version suffix makes cargo-zigbuild link against that glibc's symbol versions.
  cargo zigbuild -p zipedit-lambda --features aws --bin zipedit "${profile_flag[@]}" \
    --target "$triple.$AL2023_GLIBC"
  bin=$target_dir/$triple/$profile_dir/zipedit
fi
[ -x "$bin" ] || die "the build did not produce $bin"

# The packer is the project's own CLI (a host binary, whatever the Lambda's target): the one
# `cargo build --workspace` made, also when CARGO_TARGET_DIR points a cross build elsewhere;
# QUICKDEPLOY_PACKER names another (scripts/install.sh passes its release build).
quickdeploy=""
for candidate in "${QUICKDEPLOY_PACKER:-}" "$target_dir/debug/quickdeploy" "$root/target/debug/quickdeploy"; do
  if [ -x "$candidate" ]; then quickdeploy=$candidate; break; fi
done
if [ -z "$quickdeploy" ]; then
  cargo build -p quickdeploy-cli --bin quickdeploy
  quickdeploy=$target_dir/debug/quickdeploy
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The smallest valid zip: an end-of-central-directory record and nothing else.
printf 'PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$work/empty.zip"
"$quickdeploy" patch-zip "$work/empty.zip" -o "$work/bootstrap.zip" \
  --put-exec "bootstrap=$bin" --mode rewrite --json >"$work/report.json"
mv -f "$work/bootstrap.zip" "$out/bootstrap.zip"
chmod 0644 "$out/bootstrap.zip" # the packer writes through a private temporary file (0600)

field() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$work/report.json"; }
size=$(field size)
sha=$(field code_sha256)
[ -n "$size" ] && [ -n "$sha" ] || die "unexpected report from quickdeploy patch-zip: $(cat "$work/report.json")"
# Lambda takes at most 250 MB of unzipped code; a debug build with full debug info can pass it.
unzipped=$(stat -c %s "$bin")
if [ "$unzipped" -gt 262144000 ]; then
  echo "package-lambda: warning: $bin is $((unzipped / 1048576)) MiB, past Lambda's 250 MB limit for unzipped code: deploy a --profile release build" >&2
fi
echo "zip:        $out/bootstrap.zip"
echo "binary:     $bin ($(file -b "$bin" 2>/dev/null | cut -d, -f1-2 || echo "$arch"))"
echo "size:       $size bytes"
echo "CodeSha256: $sha"
