#!/usr/bin/env bash
# Fleet benchmark (issue 15; not part of CI): what the hub relay costs. A device (`sightline device`, synthetic
# 1280×720 at 30 fps, `[hub] local_server = true`) and a hub on loopback:
#   - glass-to-glass latency of the same screen watched directly (the device's page) and through the hub (the
#     hub's page, `<device id>/0`), two Chromium browsers side by side over the same windows, several rounds
#     (barcode probe); prints p50/p95 of each and the added p50 (target ≤ +5 ms);
#   - hub CPU with the device idle, then 1, 2 and 4 light aiortc viewers of the remote screen; prints hub ms of CPU
#     per second per relayed stream and per extra viewer, with the device's CPU beside it.
# The harness is tests/fleet_bench.rs (+ tests/common/fleet.rs, tests/e2e/fleet_latency.mjs,
# tests/e2e/light_viewers.py). Figures are printed, never asserted.
#
#   scripts/bench-fleet.sh               everything (~3 min with a release build)
#   scripts/bench-fleet.sh --quick       smoke test: 1 and 2 viewers, 4 s windows, 2 latency rounds of 4 s
#   options: --seconds N (CPU window per step, default 10)  --viewers 1,2,4  --rounds N (latency rounds, default 6;
#            0 = no latency probe)  --round-seconds N (default 5)  --debug (debug build: quicker to build, hub
#            figures unoptimised)
#
# The machine should be otherwise idle: the figures are CPU time on shared cores (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

profile=(--release)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) export SIGHTLINE_BENCH_VIEWERS=1,2 SIGHTLINE_BENCH_SECONDS=4 SIGHTLINE_BENCH_LATENCY_ROUNDS=2 \
               SIGHTLINE_BENCH_LATENCY_SECONDS=4 ;;
    --seconds) export SIGHTLINE_BENCH_SECONDS="$2"; shift ;;
    --viewers) export SIGHTLINE_BENCH_VIEWERS="$2"; shift ;;
    --rounds) export SIGHTLINE_BENCH_LATENCY_ROUNDS="$2"; shift ;;
    --round-seconds) export SIGHTLINE_BENCH_LATENCY_SECONDS="$2"; shift ;;
    --debug) profile=() ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench-fleet: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/install-deps.sh --test
# Quiet logs: the tables are the output.
export SIGHTLINE_TEST_LOG="${SIGHTLINE_TEST_LOG:-error}"
cargo test "${profile[@]}" --locked --test fleet_bench -- --ignored --nocapture --test-threads=1 bench_fleet
