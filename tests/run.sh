#!/usr/bin/env bash
# The test command: installs and starts DynamoDB Local and an SQS/S3 server on
# loopback, lints template.yaml, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/scripts/services.sh
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
install_tools
"$TOOLS/venv/bin/cfn-lint" template.yaml
echo "template.yaml: cfn-lint clean"
start_services
cargo nextest run --workspace --no-fail-fast "$@"
