# quickdeploy: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The local AWS rig's Python side, pinned: moto's server, cfn-lint for the templates, and SAM's
# translator, which expands SAM templates for moto (it has no AWS::Serverless transform).
VENV := .venv
MOTO_VERSION := 5.2.5
CFN_LINT_VERSION := 1.58.0
SAM_TRANSLATOR_VERSION := 1.110.0
# AWS SAM CLI for the side-by-side benchmarks, in a virtualenv of its own (`make sam-deps`).
SAM_VERSION := 1.170.0
SAM_VENV := .rig/sam-venv

.PHONY: cdk-deps test demo bench bench-lambda bench-deploy bench-watch bench-cdk bench-rollback bench-layer bench-scale bench-targets bench-rust bench-go bench-bundle bench-uplink stress install rig sam-deps tools rig-deps build lint

## make test: install what is missing, check formatting, clippy -D warnings, run every test.
test: tools rig-deps cdk-deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo build --workspace --all-targets
	cargo test --workspace

## make demo: build the tool, make an artifact, patch it both ways locally and through the
## zipedit Lambda on the local rig, show what happened and how long each step took.
demo: tools rig-deps build
	scripts/demo.sh

## make rig: the local sandbox in the foreground: moto and the real zipedit patcher behind the
## Lambda Invoke API; prints the exports that point quickdeploy at it. Ctrl-C stops it.
rig: tools rig-deps build
	target/debug/examples/rig

## make bench: the engine benchmark (naive vs rewrite vs append on a 100 MiB artifact).
bench:
	cargo bench -p zipedit-lambda --bench patch

## make bench-lambda: one 10 KiB file into 10/50/200 MiB artifacts through the running
## zipedit Lambda against moto, append vs rewrite (BENCH_RUNS=7 by default).
bench-lambda: tools rig-deps build
	cargo bench --workspace --bench lambda_patch --profile dev

## make bench-deploy: `quickdeploy deploy` vs `sam sync --code` on the same moto, one-line
## change in a function with 5 MiB of files (BENCH_RUNS=7 by default).
bench-deploy: tools rig-deps sam-deps build
	cargo bench --workspace --bench deploy_vs_sam --profile dev

## make bench-watch: save-to-live latency, `quickdeploy watch` vs `sam sync --code --watch` on
## the same moto, one-line saves in a function with 5 MiB of files (BENCH_RUNS=10 by default),
## plain and with AWS-like latency (30 ms RTT, 800 ms InProgress), both through the rig's proxy.
bench-watch: tools rig-deps sam-deps build
	cargo bench --workspace --bench watch_vs_sam --profile dev

## make bench-cdk: a CDK app, one-line change in a NodejsFunction: `quickdeploy deploy` vs
## `cdk deploy --hotswap`, and save to live, `quickdeploy watch` vs `cdk watch`, on the same rig
## (BENCH_RUNS=5 by default).
bench-cdk: tools rig-deps cdk-deps build
	cargo bench --workspace --bench cdk_vs_hotswap --profile dev

## make bench-rollback: back to the previous commit, 10 functions on the same moto:
## `quickdeploy rollback` vs `quickdeploy full` of that commit (BENCH_RUNS=5 by default).
bench-rollback: tools rig-deps build
	cargo bench --workspace --bench rollback --profile dev

## make bench-layer: a one-line change in a 2 MiB layer used by 3 functions on the same moto:
## `quickdeploy deploy` vs `sam sync --code` vs `quickdeploy full` (BENCH_RUNS=5 by default).
bench-layer: tools rig-deps sam-deps build
	cargo bench --workspace --bench layer_vs_sam --profile dev

## make bench-scale: one package shared by 1, 10, 50 and 200 functions, a one-line change on
## the same moto: `quickdeploy deploy` paced at Lambda's quota and unpaced, and `sam sync --code`
## at 50 (SCALE_NS="1,10,50,200", BENCH_RUNS=3 by default).
bench-scale: tools rig-deps sam-deps build
	cargo bench --workspace --bench scale --profile dev

## make bench-targets: a one-line change deployed to N = 1, 3 and 5 targets (regions and two
## accounts on one moto) by one `deploy --all-targets`, beside N `deploy --target` one after
## another: wall time, bytes sent, CLI CPU (TARGETS_NS="1,3,5", BENCH_RUNS=5 by default).
bench-targets: tools rig-deps build
	cargo bench --workspace --bench targets --profile dev

.PHONY: bench-rust bench-go bench-bundle bench-uplink

## make bench-rust: a one-line change in a Rust function (lambda_runtime + aws-sdk-s3, release,
## stripped): `quickdeploy deploy` with deltas and with --no-delta vs `sam sync --code` (which
## builds with cargo-lambda, from PyPI, into .rig/sam-venv), build time apart; then the zstd
## delta level on the real old/new binary (BENCH_RUNS=3 by default).
CARGO_LAMBDA_VERSION := 1.9.2
bench-rust: tools rig-deps sam-deps build $(SAM_VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)
	cargo bench --workspace --bench rust_vs_sam --profile dev

$(SAM_VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION): $(SAM_VENV)/.installed-$(SAM_VERSION)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	touch $@

## make bench-go: a one-line change in a Go function (BuildMethod go1.x, provided.al2023,
## standard library only): `quickdeploy deploy` with deltas and with --no-delta (each building
## it with go) vs `sam sync --code` (SAM's go_modules builder, the same go from Debian's
## golang-go) (BENCH_RUNS=3 by default).
bench-go: tools rig-deps sam-deps build
	cargo bench --workspace --bench go_vs_sam --profile dev

## make bench-bundle: a one-line change in a 2.3 MB esbuild bundle (500 modules): `quickdeploy
## deploy` with deltas and with --no-delta vs `sam sync --code`, each building with esbuild
## (from npm, pinned, into .rig/esbuild) (BENCH_RUNS=3 by default).
ESBUILD_VERSION := 0.24.2
bench-bundle: tools rig-deps sam-deps build .rig/esbuild/.installed-$(ESBUILD_VERSION)
	cargo bench --workspace --bench bundle_vs_sam --profile dev

.rig/esbuild/.installed-$(ESBUILD_VERSION):
	mkdir -p .rig/esbuild
	echo '{"name":"bench-bundle","version":"1.0.0","private":true}' > .rig/esbuild/package.json
	rm -f .rig/esbuild/package-lock.json
	cd .rig/esbuild && npm install --save-exact --no-audit --no-fund 'esbuild@$(ESBUILD_VERSION)'
	touch $@

## make bench-uplink: `quickdeploy deploy` vs `sam sync --code`, a one-line change in a 30 MB
## function over a 20 Mbit/s, 40 ms link: a network namespace of the bench's own (root), HTB on
## its loopback, relays adding the delay (BENCH_RUNS=3 by default).
bench-uplink: tools rig-deps sam-deps build
	@command -v tc >/dev/null || $(SUDO) apt-get install -y -qq iproute2
	cargo bench --workspace --bench uplink --profile dev

## make stress: racing patchers through the zipedit Lambda on the rig, 8 writers x 50 rounds,
## appends and rewrites (make test runs the same test at 4 x 5); prints the figures that
## BENCHMARKS.md records. The workspace's feature set, as make build, so nothing rebuilds.
stress: tools rig-deps build
	RACE_WRITERS=8 RACE_ROUNDS=50 cargo test --workspace --test e2e -- patcher_race:: --nocapture

## make install: the CLI (release) and the zipedit patcher packaged for arm64 and x86_64
## Lambda (cross-built for Amazon Linux 2023), into PREFIX (default ~/.local): bin/quickdeploy
## and share/quickdeploy/zipedit-<arch>.zip, which `quickdeploy bootstrap` finds by itself.
## Slow (release builds); not part of make test. See docs/real-aws.md.
PREFIX ?= $(HOME)/.local
install:
	scripts/install.sh "$(PREFIX)"

## sam-deps: AWS SAM CLI for the side-by-side benchmark, in its own virtualenv (its pins and
## moto's differ). Not needed by make test. (SAM_VERSION and SAM_VENV are set at the top: make
## expands a rule's prerequisites where it reads the rule.)
sam-deps: $(SAM_VENV)/.installed-$(SAM_VERSION)

$(SAM_VENV)/.installed-$(SAM_VERSION):
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli==$(SAM_VERSION)'
	touch $@

# One feature set for everything: `cargo test --workspace` builds the same crates, and the
# demo runs the examples this builds (cargo run -p would resolve features anew and rebuild).
build:
	cargo build --workspace --all-targets

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## cdk-deps: the CDK test app's packages (aws-cdk-lib, the aws-cdk CLI, esbuild; pinned in its
## package-lock.json) into tests/apps/cdk-app/node_modules, for the e2e tests and benches that
## run the CDK on the rig. `npm ci` again when the lock changes (the stamp is older).
## esbuild's postinstall is not run (npm 11 gates install scripts): it is not needed, its
## platform package carries the binary.
CDK_APP := tests/apps/cdk-app
cdk-deps: $(CDK_APP)/node_modules/.installed

$(CDK_APP)/node_modules/.installed: $(CDK_APP)/package.json $(CDK_APP)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: run make tools"; exit 1; }
	cd $(CDK_APP) && npm ci --no-audit --no-fund
	touch $@

## rig-deps: moto, cfn-lint and aws-sam-translator in a virtualenv inside the repo (ignored by
## git), so nothing is installed into the system Python. Re-run when the pins change.
RIG_DEPS := $(VENV)/.installed-$(MOTO_VERSION)-$(CFN_LINT_VERSION)-sam$(SAM_TRANSLATOR_VERSION)
rig-deps: $(RIG_DEPS)

$(RIG_DEPS):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
	  'moto[server]==$(MOTO_VERSION)' 'cfn-lint==$(CFN_LINT_VERSION)' \
	  'aws-sam-translator==$(SAM_TRANSLATOR_VERSION)'
	touch $@

## tools: what the tests use besides cargo: python3, unzip and bsdtar as independent zip
## readers, and what the build tests run (pip, npm, make, go; their packages come from PyPI and
## npm, esbuild as a test app's devDependency; the Go test app uses the standard library
## only). Installed from Debian's packages when missing.
tools:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first"; exit 1; }
	@missing=""; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v unzip >/dev/null || missing="$$missing unzip"; \
	command -v bsdtar >/dev/null || missing="$$missing libarchive-tools"; \
	python3 -m pip --version >/dev/null 2>&1 || missing="$$missing python3-pip"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v make >/dev/null || missing="$$missing make"; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
