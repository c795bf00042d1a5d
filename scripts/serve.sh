#!/usr/bin/env bash
# Builds sightline (release) and runs the gateway; installs what the build needs first (Debian/Ubuntu).
#   scripts/serve.sh                      the gateway on this display (or the synthetic screen when there is none)
#   scripts/serve.sh --config my.toml     any sightline arguments; the subcommand defaults to `serve`
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo here on a fresh machine.
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
cargo build --release --locked --bin sightline >&2
# cargo's target folder may be moved (CARGO_TARGET_DIR, build.target-dir) and gains a triple with --target.
bin="$(bash scripts/target-dir.sh)/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/sightline"
exec "$bin" "$@"
