#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain, AddressSanitizer, overflow checks on) and
# runs each for FUZZ_SECONDS seconds, one after the other, on one core. Fails when any target crashes, leaks past
# the memory limit or times out on an input, and prints the input that did it. docs/FUZZING.md explains the targets.
#   scripts/fuzz.sh                        every target, FUZZ_SECONDS each (default 15: the CI run)
#   FUZZ_SECONDS=600 scripts/fuzz.sh sdp   one target for ten minutes
# Each run starts from the committed seeds (fuzz/corpus/<target>) and the inputs of fixed bugs
# (fuzz/regressions/<target>), and keeps what it discovers in fuzz/target/corpus/<target> (not committed), so
# repeated runs go on where the last one stopped. Logs: fuzz/target/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

seconds="${FUZZ_SECONDS:-15}"
# openh264's C++ (built with the sanitizer too) has two identical constant tables that the linker folds into one
# address, which AddressSanitizer reports as an ODR violation at start-up before any input runs: a false positive.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
# Memory limit per target process, MB: a parser that needs more on inputs this small is a bug.
rss_limit_mb=2048
# An input that takes longer than this, seconds, is reported as a hang.
timeout_s=10

# cargo-fuzz passes unstable flags (-Zsanitizer): the nightly toolchain when the machine has one, else the
# machine's own toolchain with RUSTC_BOOTSTRAP=1 (the same compiler features, unlocked), said once.
toolchain="+nightly"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain; using $(cargo --version) with RUSTC_BOOTSTRAP=1" >&2
  toolchain=""
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (scripts/install-deps.sh --test installs it)" >&2
  exit 1
fi

# Longest input per target, bytes: a little above the largest real message of its kind.
max_len() {
  case "$1" in
    sdp | whep_body | webrtc_negotiation) echo 16384 ;; # Chromium's offer is ~7 KB
    signaling_client) echo 16384 ;;    # a whole session: auth, watch, an answer with its SDP, commands
    config_toml) echo 8192 ;;          # sightline.example.toml is ~8 KB
    *) echo 4096 ;;                    # one command, one MCP call
  esac
}
dict() {
  case "$1" in
    signaling_client | data_channel_command) echo fuzz/dict/messages.dict ;;
    sdp | whep_body | webrtc_negotiation) echo fuzz/dict/sdp.dict ;;
    mcp_jsonrpc | mcp_tool_args) echo fuzz/dict/mcp.dict ;;
    config_toml) echo fuzz/dict/toml.dict ;;
  esac
}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && cargo $toolchain fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets found in fuzz/" >&2; exit 1; }

echo "fuzz: building ${#targets[@]} targets" >&2
(cd fuzz && cargo $toolchain fuzz build)

mkdir -p fuzz/target/logs
failed=()
summary=()
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  log="fuzz/target/logs/$t.log"
  mkdir -p "$work" "$artifacts"
  inputs=("$work" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && inputs+=("fuzz/regressions/$t")
  args=(-max_total_time="$seconds" -rss_limit_mb="$rss_limit_mb" -timeout="$timeout_s" -max_len="$(max_len "$t")"
    -print_final_stats=1 -artifact_prefix="$PWD/$artifacts/")
  d=$(dict "$t")
  [ -n "$d" ] && args+=(-dict="$PWD/$d")
  echo "fuzz: $t for ${seconds}s" >&2
  # cargo-fuzz resolves corpus paths from the fuzz/ directory.
  rel=()
  for i in "${inputs[@]}"; do rel+=("$PWD/$i"); done
  if (cd fuzz && cargo $toolchain fuzz run "$t" "${rel[@]}" -- "${args[@]}") >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  summary+=("$(printf '%-22s %-6s %10s execs  %s' "$t" "$status" "${execs:-?}" "${cov:-}")")
  if [ "$status" = FAILED ]; then
    echo "fuzz: $t FAILED; the end of $log:" >&2
    tail -40 "$log" >&2
    artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //' || true)
    if [ -n "$artifact" ]; then
      echo "fuzz: the input is $artifact; reproduce with: (cd fuzz && cargo $toolchain fuzz run $t $artifact)" >&2
    fi
  fi
done

printf '\nfuzz: %s seconds per target\n' "$seconds" >&2
printf '%s\n' "${summary[@]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
