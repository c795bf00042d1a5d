#!/usr/bin/env bash
# Installs everything sightline needs to build, run and test on Debian 12, idempotently.
#   scripts/install-deps.sh          system packages for building and running
#   scripts/install-deps.sh --test   also test tools: Xvfb, xdotool, xclip, ffmpeg, Chromium, WebKitGTK's WebDriver,
#                                    a Python venv with aiortc, PyAV and the MCP SDK, and npm packages (playwright-core,
#                                    MCP Inspector CLI)
# Each step checks first and does nothing when already done, so calling it before every run costs ~1 s.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

build_pkgs=(nasm cmake pkg-config gcc g++ make)
# iproute2 (ip netns, tc) and nftables shape the network tests' links (tests/common/netns.rs); coturn is the TURN
# server tests/turn.rs starts; janus is the SFU tests/sfu.rs starts; xclip reads and sets the X clipboard in the
# clipboard tests; webkit2gtk-driver is WebKitWebDriver plus WebKitGTK's MiniBrowser, the WebKit engine
# tests/webkit.rs drives (Debian builds it without WebRTC, so it plays the JPEG fallback, which needs no extra
# GStreamer plugins: docs/VIEWER.md).
# openbox is the EWMH window manager the window tests start (tests/x11_windows.rs); dbus-daemon, at-spi2-core,
# python3-gi and gir1.2-gtk-3.0 are the D-Bus session, the accessibility bus and the GTK test application of
# tests/a11y.rs.
test_pkgs=(xvfb xdotool x11-utils x11-xserver-utils x11-apps xterm ffmpeg chromium fonts-dejavu-core procps iproute2 nftables coturn janus
  xclip webkit2gtk-driver openbox dbus-daemon at-spi2-core python3-gi gir1.2-gtk-3.0)

sudo=""
[ "$(id -u)" != 0 ] && sudo="sudo"
missing=()
pkgs=("${build_pkgs[@]}")
[ $want_test = 1 ] && pkgs+=("${test_pkgs[@]}")
for p in "${pkgs[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: Debian's packaged rustc is too old (edition 2024 needs >= 1.85), so use rustup when cargo is missing.
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "install-deps: installing Rust with rustup" >&2
  command -v curl >/dev/null || { $sudo apt-get update -qq; DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl ca-certificates >/dev/null; }
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy >&2
fi

[ $want_test = 1 ] || exit 0

# Python peers and clients: aiortc (an independent WebRTC stack), PyAV (FFmpeg decoder), the official MCP SDK.
venv=.venv-e2e
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiortc, av, mcp, numpy, prometheus_client, yaml, jsonschema, mss, PIL' 2>/dev/null; then
  echo "install-deps: creating $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/e2e/requirements.txt
fi

# Node clients: playwright-core drives Debian's Chromium; the MCP Inspector CLI is an official MCP client.
if [ ! -d tests/e2e/node_modules/playwright-core ] || [ ! -d tests/e2e/node_modules/@modelcontextprotocol/inspector-cli ]; then
  echo "install-deps: npm install in tests/e2e" >&2
  (cd tests/e2e && npm install --silent --no-audit --no-fund >/dev/null)
fi

# Fuzzing (scripts/fuzz.sh): cargo-fuzz builds libFuzzer targets with sanitizers, which needs the nightly toolchain.
# Where no other toolchain can be fetched, scripts/fuzz.sh uses the machine's own with RUSTC_BOOTSTRAP=1.
if ! PATH="$HOME/.cargo/bin:$PATH" cargo +nightly --version >/dev/null 2>&1; then
  echo "install-deps: installing the nightly Rust toolchain" >&2
  PATH="$HOME/.cargo/bin:$PATH" rustup toolchain install nightly --profile minimal >&2 ||
    echo "install-deps: no nightly toolchain (scripts/fuzz.sh will use RUSTC_BOOTSTRAP=1)" >&2
fi
if ! PATH="$HOME/.cargo/bin:$PATH" cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-fuzz" >&2
  PATH="$HOME/.cargo/bin:$PATH" cargo install cargo-fuzz --locked >&2
fi
