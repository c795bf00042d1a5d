#!/usr/bin/env bash
# Network benchmark (issue 10; not part of CI): glass-to-glass latency p50/p95, decoded fps, longest freeze and
# received bitrate of a high-motion X11 screen watched from a network namespace through a shaped link — uncapped,
# 1.5 Mbit/s and 600 kbit/s caps, 5 % loss, and an 8 → 1 → 8 Mbit/s cap switch (time to adapt down and to
# recover) — at 1280×720 and 1920×1080, for sightline with and without congestion control and for
# Chromium→Chromium (libwebrtc) under the same shaping, measured in one run; prints tables and ratios
# sightline/Chromium. The harness is tests/network_bench.rs (+ tests/common/netns.rs, netrig.rs, noise.rs,
# tests/e2e/network_*.mjs, c2c_*.html); results are also written to target/bench-network/<time>.json.
#
#   scripts/bench-network.sh                 everything (~20 min: 2 sizes × 5 scenarios × 3 senders × ~40 s)
#   scripts/bench-network.sh --quick         smoke test: 1280×720, 10 s windows, no 600k scenario (~5 min)
#   options: --seconds N  --senders cc,nocc,chromium  --sizes 720,1080
#            --scenarios uncapped,cap1500,cap600,loss5,switch   (capNNN and lossN take any value)
#            --cc-prefer detail|motion   ([congestion] prefer of the cc sender; default detail)
#            --c2c-hint motion|detail|text   contentHint of the Chromium sender's track (default: none)
#
# Needs root (network namespaces, tc, nftables); installs its test dependencies (scripts/install-deps.sh --test).
# The machine should be otherwise idle: the figures are real time on shared cores (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) export SIGHTLINE_BENCH_QUICK=1 ;;
    --seconds) export SIGHTLINE_BENCH_SECONDS="$2"; shift ;;
    --senders) export SIGHTLINE_BENCH_SENDERS="$2"; shift ;;
    --sizes) export SIGHTLINE_BENCH_SIZES="$2"; shift ;;
    --scenarios) export SIGHTLINE_BENCH_SCENARIOS="$2"; shift ;;
    --cc-prefer) export SIGHTLINE_BENCH_CC_EXTRA="prefer = \"$2\""; shift ;;
    --c2c-hint) export SIGHTLINE_BENCH_C2C_HINT="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench-network: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || { echo "bench-network: needs root (network namespaces)" >&2; exit 1; }
bash scripts/install-deps.sh --test
# Quiet gateway logs: the tables are the output.
export SIGHTLINE_TEST_LOG="${SIGHTLINE_TEST_LOG:-error}"
cargo test --release --locked --test network_bench -- --ignored --nocapture --test-threads=1 bench_network
