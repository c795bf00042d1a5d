#!/usr/bin/env bash
# Runs every check and test of sightline: formatting, lints, unit tests, and the black-box tests with real
# components (Xvfb, headless Chromium, aiortc, the official MCP clients), all installed by this script.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo here on a fresh machine.
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
bash scripts/install-deps.sh --test

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "openh264 is built with its assembly (nasm)"
bash scripts/check-openh264-asm.sh

step "cargo test (unit, integration and end-to-end)"
cargo test --workspace --locked --no-fail-fast -- --test-threads="${SIGHTLINE_TEST_THREADS:-2}"
