#!/usr/bin/env bash
# Runs every check and test of sightline: formatting, lints, unit tests, and the black-box tests with real
# components (Xvfb, headless Chromium, aiortc, the official MCP clients), all installed by this script.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo here on a fresh machine.
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds from a fresh clone once: incremental compilation only adds its cache-writing cost there (~30 s less
# for the test build of the workspace crates, measured here). Developers keep it.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
bash scripts/install-deps.sh --test

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "no import circle of more than two files in any crate"
python3 scripts/check-import-cycles.py --with-tests src media/src monitor/src signaling/src limits/src

step "no source file over 800 lines"
long=$(find src media/src monitor/src signaling/src limits/src tests benches media/tests media/benches \
  -name '*.rs' -exec awk -v max=800 'FNR == max + 1 { print FILENAME }' {} +)
if [ -n "$long" ]; then
  echo "over 800 lines: $long" >&2
  exit 1
fi

step "openh264 is built with its assembly (nasm)"
bash scripts/check-openh264-asm.sh

step "cargo test (unit, integration and end-to-end)"
cargo test --workspace --locked --no-fail-fast -- --test-threads="${SIGHTLINE_TEST_THREADS:-2}"

step "fuzz targets: a short run of each (scripts/fuzz.sh; FUZZ_SECONDS=${FUZZ_SECONDS:-15} s per target)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
bash scripts/fuzz.sh
