#!/usr/bin/env bash
# SFU benchmark (issue 12; not part of CI): gateway CPU and Janus CPU with 1, 10 and 30 light WebRTC receivers of a
# changing 1280×720 synthetic screen, served directly by the gateway and through Janus (`[sfu] policy = "always"`),
# plus glass-to-glass latency of two Chromium viewer pages watching side by side, one on each path; prints the issue's targets (gateway CPU
# growth 1 → 30 through Janus ≤ 5 %, direct cost per extra receiver ≤ 1.25× Janus's, latency through Janus ≤ direct
# + 5 ms p50). The harness is tests/sfu_bench.rs (+ tests/common/janus.rs, tests/e2e/light_viewers.py,
# tests/e2e/network_viewer.mjs); results are also written to target/bench-sfu/<time>.json.
#
#   scripts/bench-sfu.sh                 everything (~5 min with a release build; latency: two pages side by side)
#   scripts/bench-sfu.sh --quick         smoke test: 1 and 3 receivers, 4 s windows, 5 s latency
#   options: --seconds N (CPU window per step, default 10)  --viewers 1,10,30  --modes direct,janus
#            --latency-seconds N (0 = no latency probe)  --debug (debug build: quicker to build, gateway figures
#            unoptimised)
#
# Needs root (network namespaces) and Debian's janus (scripts/install-deps.sh --test installs everything).
# The machine should be otherwise idle: the figures are CPU time on shared cores (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profile=(--release)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) export SIGHTLINE_BENCH_VIEWERS=1,3 SIGHTLINE_BENCH_SECONDS=4 SIGHTLINE_BENCH_LATENCY_SECONDS=5 ;;
    --seconds) export SIGHTLINE_BENCH_SECONDS="$2"; shift ;;
    --viewers) export SIGHTLINE_BENCH_VIEWERS="$2"; shift ;;
    --modes) export SIGHTLINE_BENCH_MODES="$2"; shift ;;
    --latency-seconds) export SIGHTLINE_BENCH_LATENCY_SECONDS="$2"; shift ;;
    --debug) profile=() ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench-sfu: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || { echo "bench-sfu: needs root (network namespaces)" >&2; exit 1; }
bash scripts/install-deps.sh --test
# Quiet gateway logs: the tables are the output.
export SIGHTLINE_TEST_LOG="${SIGHTLINE_TEST_LOG:-error}"
cargo test "${profile[@]}" --locked --test sfu_bench -- --ignored --nocapture --test-threads=1 bench_sfu
