#!/usr/bin/env bash
# The test command: installs and starts DynamoDB Local and an SQS/S3 server on
# loopback, lints template.yaml (cfn-lint and sam validate --lint), checks the
# DynamoDB layout's key distribution (tests/src/bin/keycheck.rs), deploys it
# to ministack, runs schemathesis against a local runner's /openapi.json,
# then runs every test of the workspace, the black-box flow against that
# deployment included; last, the console's tests in a real browser
# (tests/console/run.sh: Playwright driving Debian's chromium against a local
# runner it starts).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/scripts/services.sh
source tests/scripts/schemathesis.sh
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
install_tools
install_deploy_tools
"$TOOLS/venv/bin/cfn-lint" template.yaml
echo "template.yaml: cfn-lint clean"
"$TOOLS/deploy/bin/sam" validate --lint --template template.yaml
start_services
# The functions' bootstraps, for the deployment (debug builds keep the test command short).
cargo build --workspace --bins
# No partition key past half its write limit, a million events through the
# store's own key functions (fails the command otherwise).
target/debug/keycheck
deploy_to_ministack
run_schemathesis
cargo nextest run --workspace --no-fail-fast "$@"
tests/console/run.sh
