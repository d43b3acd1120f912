#!/usr/bin/env bash
# The benchmark: builds the release binaries, starts DynamoDB Local and moto,
# prints the tables. `tests/bench.sh ingest` or `tests/bench.sh report` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"
case "$part" in
    all | ingest | report) ;;
    *) echo "usage: tests/bench.sh [ingest|report]" >&2; exit 2 ;;
esac
source tests/scripts/services.sh
install_tools
start_services
cargo build --release -p iev-runner -p iev-tests --bins
if [ "$part" != report ]; then target/release/bench; fi
if [ "$part" != ingest ]; then target/release/report-bench; fi
