# quickdeploy: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo bench tools build lint

## make test: install what is missing, check formatting, clippy -D warnings, run every test.
test: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo build --workspace
	cargo test --workspace

## make demo: build the tool, make an artifact, patch it both ways, show what happened.
demo: tools build
	scripts/demo.sh

## make bench: the engine benchmark (naive vs rewrite vs append on a 100 MiB artifact).
bench:
	cargo bench -p zipedit-lambda --bench patch

build:
	cargo build --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## tools: what the tests use besides cargo: python3, unzip and bsdtar as independent zip
## readers. Installed from Debian's packages when missing.
tools:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first"; exit 1; }
	@missing=""; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v unzip >/dev/null || missing="$$missing unzip"; \
	command -v bsdtar >/dev/null || missing="$$missing libarchive-tools"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
