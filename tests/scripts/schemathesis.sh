#!/usr/bin/env bash
# Runs schemathesis (installed by services.sh's install_tools) against a
# local runner built by `cargo build --workspace --bins`: a fresh data
# directory, a free loopback port, an admin key made for the run. The runner
# is given two integrations, failed events and failure records first
# (tests/schemathesis/seed.py), so that about half of the generated ids,
# tokens and application ids name something real. Every operation of
# /openapi.json is tested in every phase (examples, coverage, fuzzing, and
# stateful sequences over the links schemathesis infers), and every answer
# is checked: no 5xx, a documented status, content type and schema, and the
# error shape for every 4xx and 5xx (tests/schemathesis/hooks.py). Any
# finding fails the run. Source this file after services.sh.
set -euo pipefail

# Test cases per operation and phase: about a minute and a half on two cores.
IEV_SCHEMATHESIS_EXAMPLES="${IEV_SCHEMATHESIS_EXAMPLES:-150}"

# What every answer is checked for: no 5xx; status, content type, headers and
# body as documented; the error shape; a request the document calls invalid
# refused (negative_data_rejection: an array for an object, a bad query
# value); credentials enforced where documented (ignored_auth); 405 for a
# method a path does not take (unsupported_method); a resource gone after its
# DELETE (use_after_free) and there after its creation
# (ensure_resource_availability).
IEV_SCHEMATHESIS_CHECKS="${IEV_SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance\
,content_type_conformance,response_schema_conformance,response_headers_conformance,error_shape\
,negative_data_rejection,ignored_auth,unsupported_method,use_after_free,ensure_resource_availability\
,edge_probes}"

run_schemathesis() {
    local bin="$IEV_ROOT/target/debug/iev-local" dir port key pid status=0 started
    dir="$(mktemp -d)"
    port="$(free_port)"
    key="st-$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    # Deliveries fail fast (nothing listens where the seed points them), and
    # alert webhooks to made-up hosts give up within a second.
    (
        export IEV_LISTEN="127.0.0.1:$port" IEV_DATA_DIR="$dir/data" IEV_ADMIN_KEY="$key" \
            IEV_ALLOW_PRIVATE_TARGETS=loopback IEV_MAX_ATTEMPTS=2 IEV_RETRY_BASE_MS=10 \
            IEV_RETRY_MAX_MS=50 IEV_VENDOR_TIMEOUT_MS=1000 RUST_LOG="info,iev_domain::dispatch=error"
        "$bin" >"$dir/runner.log" 2>&1 || echo "the runner exited with status $?" >>"$dir/runner.log"
    ) &
    pid=$!
    if ! wait_for_port "$port" runner 2>/dev/null; then
        log "the runner did not start; its log:"
        cat "$dir/runner.log" >&2
        return 1
    fi
    python3 "$IEV_ROOT/tests/schemathesis/seed.py" "http://127.0.0.1:$port" "$key" "$dir/schemathesis.toml" >&2
    started=$SECONDS
    # From the run's directory, where schemathesis keeps its caches.
    (cd "$dir" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$IEV_ROOT/tests/schemathesis" \
        "$TOOLS/schemathesis/bin/st" --no-color --config-file "$dir/schemathesis.toml" run \
        "http://127.0.0.1:$port/openapi.json" \
        --header "Authorization: Bearer $key" \
        --checks "$IEV_SCHEMATHESIS_CHECKS" \
        --max-examples "$IEV_SCHEMATHESIS_EXAMPLES" --workers 2 \
        ${IEV_SCHEMATHESIS_SEED:+--seed "$IEV_SCHEMATHESIS_SEED"}) || status=$?
    log "schemathesis: $((SECONDS - started)) s, $IEV_SCHEMATHESIS_EXAMPLES examples per operation and phase"
    # The runner's subshell, then the runner itself (its only child).
    pkill -TERM -P "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        log "schemathesis found something (exit $status); the runner's log ends:"
        tail -n 40 "$dir/runner.log" >&2
        return "$status"
    fi
    rm -rf "$dir"
}
