#!/usr/bin/env bash
# Cursor benchmark (issue 13; not part of CI), both halves in one run on a private Xvfb:
#   1. encoded frames and bytes per second while only the pointer moves (60 moves/s), cursor painted into the video
#      versus sent as an overlay: `cargo bench -p sightline-media --bench cursor` (the engine, no network);
#   2. cursor motion-to-photon on the viewer page (XTest move → first frame that shows it), overlay versus video:
#      tests/cursor_bench.rs with tests/e2e/cursor_latency.mjs (a real gateway, headless Chromium over WebRTC).
#
#   scripts/bench-cursor.sh                  both (~6 min with cold release builds)
#   options: --seconds N (pointer motion per mode for part 1, default 10)  --moves N (per mode for part 2, default 40)
#
# The machine should be otherwise idle (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --moves) export SIGHTLINE_BENCH_MOVES="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench-cursor: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/install-deps.sh --test
cargo bench -p sightline-media --bench cursor --locked -- --seconds "$seconds"
cargo test --release --locked -p sightline --test cursor_bench -- --ignored --nocapture
