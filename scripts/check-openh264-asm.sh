#!/usr/bin/env bash
# Fails when openh264 was built without its assembly (no nasm at build time): it is then ~3x slower.
# openh264-sys2's build script falls back to C silently when `nasm` cannot be run, so this check looks for the
# assembly objects, says what the build script saw when they are missing, and rebuilds openh264-sys2 once: a
# transient failure (a full disk, a nasm installed after the first build) is reported and mended, a lasting one
# fails with nasm's own words.
# The build folders are looked for where cargo puts them (`cargo metadata`): CARGO_TARGET_DIR, build.target-dir
# and a --target triple's sub-folder all move them away from ./target.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=$(bash scripts/target-dir.sh)

build_dirs() {
  find "$target_dir" -mindepth 3 -maxdepth 4 -type d -name 'openh264-sys2-*' -path '*/build/*' 2>/dev/null || true
}

has_asm() {
  local dir
  while read -r dir; do
    [ -d "$dir/out" ] || continue
    # No `find | grep -q` here: under pipefail, grep quitting at its first match can kill find with SIGPIPE and
    # turn a match into a failure (it did, in CI).
    if [ -n "$(find "$dir/out" -name '*.o' \( -name '*satd_sad*' -o -name '*mc_luma*' \) -print -quit)" ]; then
      return 0
    fi
  done < <(build_dirs)
  return 1
}

diagnose() {
  echo "  cargo's target folder: $target_dir" >&2
  echo "  openh264-sys2 build folders: $(build_dirs | tr '\n' ' ')" >&2
  echo "  nasm on PATH: $(command -v nasm || echo none) ($(nasm -v 2>&1 || true))" >&2
  echo "  free space: $(df -h --output=avail "$target_dir" 2>/dev/null | tail -1 | tr -d ' ')" >&2
  local dir
  while read -r dir; do
    if [ -f "$dir/output" ]; then
      grep -H -i 'nasm' "$dir/output" >&2 || echo "  $dir/output: no line about nasm" >&2
    fi
    if [ -f "$dir/stderr" ]; then
      grep -H -i -E -m 5 'nasm|error' "$dir/stderr" >&2 || true
    fi
  done < <(build_dirs)
  return 0
}

if has_asm; then
  echo "openh264 assembly objects present"
  exit 0
fi
echo "openh264 was built without its nasm assembly; what its build script saw:" >&2
diagnose
if ! command -v nasm >/dev/null; then
  echo "openh264 was built without its nasm assembly: nasm is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
echo "rebuilding openh264-sys2 once with nasm $(nasm -v)" >&2
cargo clean -p openh264-sys2 >&2
cargo build -p openh264-sys2 --locked >&2
if has_asm; then
  echo "openh264 assembly objects present after one rebuild (the first build could not run nasm: see above)" >&2
  exit 0
fi
diagnose
echo "openh264 was built without its nasm assembly even after a rebuild: see above, then run 'cargo clean -p openh264-sys2'" >&2
exit 1
