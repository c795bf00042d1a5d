#!/usr/bin/env bash
# Prints the folder cargo builds into for this workspace: ./target unless CARGO_TARGET_DIR or a
# build.target-dir setting moves it (as CI runners often do).
set -euo pipefail
cd "$(dirname "$0")/.."
meta=$(cargo metadata --no-deps --format-version 1 --locked)
dir=$(printf '%s\n' "$meta" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$dir" ]; then
  echo "target-dir: cargo metadata named no target_directory" >&2
  exit 1
fi
printf '%s\n' "$dir"
