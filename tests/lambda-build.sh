#!/usr/bin/env bash
# Builds every Lambda function as AWS runs it: cargo-lambda (zig as the
# linker, glibc old enough for provided.al2023) with the `lambda` profile
# (Cargo.toml), x86_64. Leaves target/lambda/<function>/bootstrap and
# bootstrap.zip, and prints each one's size. `--arm64` builds for Graviton
# where the aarch64-unknown-linux-gnu target is installed (docs/DEPLOY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/scripts/services.sh
install_deploy_tools
export PATH="$TOOLS/deploy/bin:$PATH"
arch="--x86-64"
if [ "${1:-}" = "--arm64" ]; then arch="--arm64"; fi
cargo lambda build --profile lambda "$arch" \
    -p iev-ingest -p iev-dispatch -p iev-record-error -p iev-report -p iev-resolve -p iev-export
python3 - <<'PY'
import os, zipfile
functions = ["ingest", "dispatch", "record-error", "record-error-http",
             "report", "resolve", "export", "export-http"]
print(f"\n| function | bootstrap MB | zip MB |\n|---|---:|---:|")
for name in functions:
    folder = os.path.join("target", "lambda", name)
    bootstrap = os.path.join(folder, "bootstrap")
    zipped = os.path.join(folder, "bootstrap.zip")
    info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(bootstrap, "rb") as f, zipfile.ZipFile(zipped, "w") as z:
        z.writestr(info, f.read(), compresslevel=9)
    print(f"| {name} | {os.path.getsize(bootstrap) / 1e6:.2f} | {os.path.getsize(zipped) / 1e6:.2f} |")
PY
