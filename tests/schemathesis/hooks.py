"""schemathesis hooks for the test command (tests/run.sh): a check that every
error answer is in the API's error shape, {"error": {"code", "message", "field"?}}."""

import json

import schemathesis


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx answer is JSON in the error shape, whatever the route."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if not content_type.startswith("application/json"):
        raise AssertionError(
            f"a {response.status_code} answer is {content_type or 'untyped'}, not JSON: {response.text[:200]!r}"
        )
    try:
        body = json.loads(response.text)
    except ValueError as e:
        raise AssertionError(f"a {response.status_code} answer is not JSON ({e}): {response.text[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(error, dict):
        raise AssertionError(f"a {response.status_code} answer is not {{\"error\": {{...}}}}: {body!r}")
    if not isinstance(error.get("code"), str) or not error["code"]:
        raise AssertionError(f"a {response.status_code} error has no code: {body!r}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        raise AssertionError(f"a {response.status_code} error has no message: {body!r}")
    if "field" in error and not isinstance(error["field"], str):
        raise AssertionError(f"a {response.status_code} error's field is not text: {body!r}")
    extra = set(error) - {"code", "message", "field"}
    if extra:
        raise AssertionError(f"a {response.status_code} error has members outside the shape {sorted(extra)}: {body!r}")
    return None
