#!/usr/bin/env bash
# Fails when openh264 was built without its assembly (no nasm at build time): it is then ~3x slower.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
found=0
for dir in target/*/build/openh264-sys2-*/out; do
  if find "$dir" -name '*.o' | grep -q -E '(satd_sad|mc_luma)'; then
    found=1
  fi
done
if [ $found = 0 ]; then
  echo "openh264 was built without its nasm assembly: install nasm (scripts/install-deps.sh) and run 'cargo clean -p openh264-sys2'" >&2
  exit 1
fi
echo "openh264 assembly objects present"
