#!/usr/bin/env bash
# Runs the MCP Inspector CLI (an official MCP client, TypeScript SDK) against a Streamable HTTP endpoint with a
# bearer token, and prints its JSON result on stdout.
#   tests/e2e/mcp_inspector.sh URL TOKEN --method tools/list
#   tests/e2e/mcp_inspector.sh URL TOKEN --method tools/call --tool-name screenshot --tool-arg max_width=64
# It runs from the CLI's own build directory: inspector-cli 1.0.3 looks for its package.json relative to the
# working directory and fails to start anywhere else.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 URL TOKEN --method … [inspector options]" >&2; exit 2; }
url=$1
token=$2
shift 2
cli="$(cd "$(dirname "$0")" && pwd)/node_modules/@modelcontextprotocol/inspector-cli/build"
if [ ! -f "$cli/cli.js" ]; then
  echo "the MCP Inspector CLI is not installed: run scripts/install-deps.sh --test" >&2
  exit 1
fi
command -v node >/dev/null || { echo "node is not installed: run scripts/install-deps.sh --test" >&2; exit 1; }
cd "$cli"
exec node cli.js --cli "$url" --transport http --header "Authorization: Bearer $token" "$@"
