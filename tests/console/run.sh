#!/usr/bin/env bash
# The console's browser tests: installs Debian's chromium (apt) and Playwright
# (npm, into tests/console/node_modules) when missing, starts the debug
# runner (built by `cargo build --workspace --bins`) on a free loopback port
# over a fresh data directory, with the demo vendor, and runs the Playwright
# suite headless against it. Screenshots: tests/console/artifacts/screenshots/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/tests/console"
log() { printf '[console] %s\n' "$*" >&2; }

CHROMIUM="${IEV_CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$CHROMIUM" ]; then
    log "installing Debian's chromium"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    CHROMIUM="$(command -v chromium)"
fi
if [ ! -x "$HERE/node_modules/.bin/playwright" ]; then
    log "installing Playwright (npm, package-lock.json)"
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
fi
RUNNER="$ROOT/target/debug/iev-local"
[ -x "$RUNNER" ] || { log "build the runner first: cargo build -p iev-runner"; exit 1; }

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
DATA="$(mktemp -d)"
KEY="iev_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
rm -rf "$HERE/artifacts"
mkdir -p "$HERE/artifacts"
IEV_LISTEN="127.0.0.1:$PORT" IEV_DATA_DIR="$DATA" IEV_ADMIN_KEY="$KEY" IEV_DEMO_VENDOR=1 \
    IEV_MAX_ATTEMPTS=1 RUST_LOG=warn \
    "$RUNNER" >"$HERE/artifacts/runner.log" 2>&1 &
RUNNER_PID=$!
cleanup() { kill "$RUNNER_PID" 2>/dev/null || true; wait "$RUNNER_PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/console/sign-in" && break
    sleep 0.1
done
log "runner on 127.0.0.1:$PORT; chromium: $CHROMIUM"
cd "$HERE"
IEV_CONSOLE_URL="http://127.0.0.1:$PORT" IEV_ADMIN_KEY="$KEY" IEV_CHROMIUM="$CHROMIUM" \
    timeout 600 ./node_modules/.bin/playwright test "$@"
log "screenshots in tests/console/artifacts/screenshots/"
