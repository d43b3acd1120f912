#!/usr/bin/env bash
# The fuzz command: the property tests of the parsers at the edge (event
# bodies, vendor answers, OAuth headers, query parameters, cursors), each for
# IEV_FUZZ_CASES cases (default 1,000,000), in release mode; each prints how
# many cases it ran. Not part of CI, which runs the same tests with 256 cases.
set -euo pipefail
cd "$(dirname "$0")/.."
export IEV_FUZZ_CASES="${IEV_FUZZ_CASES:-1000000}"
cargo test --release -p iev-domain --lib fuzz_ -- --nocapture --test-threads=2 2>&1 \
    | grep -E '^fuzz |test result|panicked|FAILED'
