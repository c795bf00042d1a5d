#!/usr/bin/env bash
# Flood and abuse benchmark (issue 11; not part of CI): an unrelated JPEG viewer's frame rate and /healthz latency
# before, during and after each flood — oversized /ws frame headers, slowloris, many distinct profiles, a message
# flood, an MCP session flood — RSS and open fds before and after three identical rounds of each, and memory per
# viewer (N JPEG viewers of one profile, N aiortc WebRTC viewers). Prints a block per flood and a summary table
# against the targets (viewer keeps >= 90 % fps; RSS within 30 MB after 3 rounds; <= 2 MB per viewer).
# The harness is tests/abuse_bench.rs (+ tests/common/flood.rs); the gateway is the release binary.
#
#   scripts/bench-abuse.sh                       everything (~6 min)
#   options: --floods big-frames,slowloris,profiles,messages,mcp-sessions   (any subset, in that order)
#            --size WxH               synthetic screen (default 1280x720)
#            --viewers N              JPEG viewers of the per-viewer figure (default 50)
#            --webrtc-viewers N       aiortc viewers of the per-viewer figure (default 6; 0 skips them)
#
# The machine should be otherwise idle: frame rates and latencies are real time on shared cores, and the flood
# clients run on the same cores as the gateway (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

while [ $# -gt 0 ]; do
  case "$1" in
    --floods) export SIGHTLINE_BENCH_FLOODS="$2"; shift ;;
    --size) export SIGHTLINE_BENCH_SIZE="$2"; shift ;;
    --viewers) export SIGHTLINE_BENCH_VIEWERS="$2"; shift ;;
    --webrtc-viewers) export SIGHTLINE_BENCH_WEBRTC_VIEWERS="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench-abuse: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The aiortc viewers need the test venv.
bash scripts/install-deps.sh --test
# Quiet gateway logs: the tables are the output.
export SIGHTLINE_TEST_LOG="${SIGHTLINE_TEST_LOG:-error}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test --release --locked --test abuse_bench -- --ignored --nocapture --test-threads=1 bench_abuse
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
