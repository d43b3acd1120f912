"""Gives a fresh local runner something to find before schemathesis runs
against it: two integrations, events (delivered to a closed loopback port,
so they fail and leave failure records), and failure records reported by
API. Writes a schemathesis config naming their ids, tokens and application
ids as dictionaries, so that about half of the generated requests reach a
real resource instead of a 404.

Usage: seed.py BASE_URL ADMIN_KEY CONFIG_OUT
"""

import json
import socket
import sys
import time
import urllib.error
import urllib.request


def call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def must(expected, answer):
    status, body = answer
    if status != expected:
        sys.exit(f"seed: expected {expected}, got {status}: {body}")
    return body


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def main():
    base, key, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    port = closed_port()
    kinds = [
        "SUBSCRIPTION_ORDER", "SUBSCRIPTION_CHANGE", "SUBSCRIPTION_CANCEL", "SUBSCRIPTION_NOTICE",
        "USER_UPDATED", "USER_ASSIGNMENT", "USER_UNASSIGNMENT",
    ]
    for app, vendor in [("app-1", "v-1"), ("app-2", "v-2")]:
        must(200, call(base, key, "PUT", f"/v1/integrations/{app}", {
            "applicationName": f"{app} product", "vendorId": vendor,
            "notificationUrls": {k: f"http://127.0.0.1:{port}/n?eventUrl={{eventUrl}}" for k in kinds},
            "oauth": {"consumerKey": f"{app}-key", "consumerSecret": f"{app}-secret"},
            "alertUrl": f"http://127.0.0.1:{port}/alerts",
        }))
    events, tokens = [], []
    for i, app in enumerate(["app-1", "app-1", "app-2"]):
        accepted = must(202, call(base, key, "POST", "/v1/events", {
            "applicationId": app, "type": "SUBSCRIPTION_ORDER",
            "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
            "creator": {"uuid": f"u-{i}", "email": f"user{i}@example.com"},
            "payload": {"company": {"uuid": f"c-{i}", "name": f"Company {i}"}, "order": {"editionCode": "BASIC"}},
        }))
        events.append(accepted["id"])
        tokens.append(accepted["token"])
    records = []
    for app in ["app-1", "app-2"]:
        record = must(201, call(base, key, "POST", "/api/integration_errors", {
            "applicationId": app, "errorCode": "UNKNOWN_ERROR", "message": "the import failed",
            "documentType": "invoice", "documentId": "INV-1", "customAttributes": {"ticket": "T-1"},
        }))
        records.append(record["id"])
    # The events fail (nothing listens on the port) and leave their records.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses = [must(200, call(base, key, "GET", f"/v1/events/{e}"))["status"] for e in events]
        if all(s == "FAILED" for s in statuses):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"seed: the events did not fail in time: {statuses}")
    page = must(200, call(base, key, "GET", "/api/integration_errors?fields=id&resolved=all&limit=100"))
    records += [r["id"] for r in page["items"] if r["id"] not in records]
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"""# Written by tests/schemathesis/seed.py for one run.
[dictionaries.ids]
values = {toml_list(events + records)}

[dictionaries.tokens]
values = {toml_list(tokens)}

[dictionaries.applications]
values = ["app-1", "app-2"]

[dictionaries.records]
values = {toml_list(records)}

[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.5 }}
"path.token" = {{ dictionary = "tokens", probability = 0.5 }}
"path.applicationId" = {{ dictionary = "applications", probability = 0.5 }}
"query.applicationId" = {{ dictionary = "applications", probability = 0.5 }}
"body.applicationId" = {{ dictionary = "applications", probability = 0.5 }}
"body.ids[*]" = {{ dictionary = "records", probability = 0.5 }}
""")
    print(f"seed: 2 integrations, {len(events)} failed events, {len(records)} failure records")


if __name__ == "__main__":
    main()
