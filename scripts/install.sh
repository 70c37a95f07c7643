#!/usr/bin/env bash
# Installs quickdeploy for use against real AWS: the CLI, and the zipedit patcher packaged for
# the Lambda architectures that can be built here, so `quickdeploy bootstrap` needs no
# --code or --binary.
#
#   scripts/install.sh [PREFIX]          # default: $PREFIX, else ~/.local
#
# Installs PREFIX/bin/quickdeploy and PREFIX/share/quickdeploy/zipedit-<arch>.zip (arm64,
# x86_64); `bootstrap` looks there (next to the running executable: ../share/quickdeploy/).
# LAMBDA_ARCHES="arm64" limits the patcher builds. Release builds go to target/ or to
# CARGO_TARGET_DIR when set. An architecture that cannot be built is reported and skipped; the
# install fails only when none could be built.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

prefix=${1:-${PREFIX:-$HOME/.local}}
arches=${LAMBDA_ARCHES:-arm64 x86_64}
target_dir=${CARGO_TARGET_DIR:-$root/target}
die() { echo "install: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first (https://rustup.rs)"

echo "install: building the quickdeploy CLI (release)" >&2
cargo build --release -p quickdeploy-cli --bin quickdeploy
cli=$target_dir/release/quickdeploy
[ -x "$cli" ] || die "the build did not produce $cli"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
built=() failed=()
for arch in $arches; do
  echo "install: building the zipedit patcher for $arch (release, cross-linked for Amazon Linux 2023)" >&2
  # The release CLI just built packs the zip, so a fresh clone needs no debug build for it.
  if QUICKDEPLOY_PACKER=$cli scripts/package-lambda.sh --arch "$arch" --profile release \
    --out "$work/$arch" >&2; then
    built+=("$arch")
  else
    echo "install: could not build the patcher for $arch (see above); skipping it" >&2
    failed+=("$arch")
  fi
done
[ ${#built[@]} -gt 0 ] || die "no patcher package could be built (tried: $arches)"

mkdir -p "$prefix/bin" "$prefix/share/quickdeploy"
# install(1) writes a new file and renames it, so a running quickdeploy is not overwritten in place.
install -m 0755 "$cli" "$prefix/bin/quickdeploy"
# The release profile keeps line tables (for the Lambda's backtraces); the installed CLI does
# not need them: 193 MB -> 34 MB measured here. Symbols stay, so a panic still names functions.
if command -v strip >/dev/null; then
  strip --strip-debug "$prefix/bin/quickdeploy" || echo "install: strip failed; the CLI is installed unstripped" >&2
fi
for arch in "${built[@]}"; do
  install -m 0644 "$work/$arch/bootstrap.zip" "$prefix/share/quickdeploy/zipedit-$arch.zip"
done

echo "installed:"
echo "  $prefix/bin/quickdeploy"
for arch in "${built[@]}"; do echo "  $prefix/share/quickdeploy/zipedit-$arch.zip"; done
[ ${#failed[@]} -eq 0 ] || echo "not built: ${failed[*]} (bootstrap --arch ${failed[0]} needs --code or --binary)"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
echo "next: quickdeploy bootstrap --region REGION --arch ${built[0]}   (see docs/real-aws.md)"
