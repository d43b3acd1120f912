#!/usr/bin/env bash
# The benchmark: builds the release binaries, starts DynamoDB Local, prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/scripts/services.sh
install_tools
start_services
cargo build --release -p iev-runner -p iev-tests --bins
target/release/bench "$@"
