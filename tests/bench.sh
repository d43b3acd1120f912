#!/usr/bin/env bash
# The benchmark: builds the release binaries, starts DynamoDB Local and moto,
# prints the tables. `tests/bench.sh ingest`, `report` or `lambda` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in
    all | ingest | report | lambda | sustained) ;;
    *) echo "usage: tests/bench.sh [ingest|report|lambda|sustained [seconds]]" >&2; exit 2 ;;
esac
if [ "$part" = all ] || [ "$part" = lambda ]; then
    # The functions as AWS runs them, then their cold starts against a Runtime API stub.
    tests/lambda-build.sh
    cargo build --release -p iev-tests --bin coldstart
    target/release/coldstart target/lambda
    [ "$part" = lambda ] && exit 0
fi
source tests/scripts/services.sh
install_tools
start_services
cargo build --release -p iev-runner -p iev-tests --bins
if [ "$part" = sustained ]; then exec target/release/bench sustained "${2:-60}"; fi
if [ "$part" != report ]; then target/release/bench; fi
if [ "$part" != ingest ]; then target/release/report-bench; fi
