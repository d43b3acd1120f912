"""schemathesis hooks for the test command (tests/run.sh): a check that every
error answer is in the API's error shape, {"error": {"code", "message", "field"?}},
and probes, once per operation, of the inputs a generator working from the
schema does not make."""

import json
import threading
import urllib.error
import urllib.parse
import urllib.request

import schemathesis


def shape_problem(status, content_type, text):
    """What is wrong with an error answer, or None if it is in the error shape."""
    if not content_type.startswith("application/json"):
        return f"a {status} answer is {content_type or 'untyped'}, not JSON: {text[:200]!r}"
    try:
        body = json.loads(text)
    except ValueError as e:
        return f"a {status} answer is not JSON ({e}): {text[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(error, dict):
        return f"a {status} answer is not {{\"error\": {{...}}}}: {body!r}"
    if not isinstance(error.get("code"), str) or not error["code"]:
        return f"a {status} error has no code: {body!r}"
    if not isinstance(error.get("message"), str) or not error["message"]:
        return f"a {status} error has no message: {body!r}"
    if "field" in error and not isinstance(error["field"], str):
        return f"a {status} error's field is not text: {body!r}"
    extra = set(error) - {"code", "message", "field"}
    if extra:
        return f"a {status} error has members outside the shape {sorted(extra)}: {body!r}"
    return None


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx and 5xx answer is JSON in the error shape, whatever the route."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    problem = shape_problem(response.status_code, content_type, response.text)
    if problem:
        raise AssertionError(problem)
    return None


def send(method, url, headers, body=None):
    """One request as given: the URL is not encoded again, so `%FF` stays `%FF`."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read().decode(errors="replace")


@schemathesis.check
class edge_probes:
    """Once per operation, what a generator working from the schema does not
    make, each of which must be refused (4xx in the error shape, never a 5xx):
    `%FF` (not UTF-8) as each path segment, a bad value for each query
    parameter (`%FF`), and for a JSON object body a JSON array, the body's own
    values in order (which serde would read field by field into a struct) and
    bytes that are not UTF-8."""

    def __init__(self):
        self.probed = set()
        self.lock = threading.Lock()

    def after_response(self, ctx, response, case):
        operation = case.operation
        with self.lock:
            if operation.label in self.probed:
                return None
            self.probed.add(operation.label)
        sent = urllib.parse.urlsplit(response.request.url)
        origin = f"{sent.scheme}://{sent.netloc}"
        headers = {k: v for k, v in response.request.headers.items() if k.lower() == "authorization"}
        method = operation.method.upper()
        values = {k: urllib.parse.quote(str(v), safe="") for k, v in (case.path_parameters or {}).items()}

        def path_with(overrides):
            path = operation.path
            for name, value in {**values, **overrides}.items():
                path = path.replace("{" + name + "}", value)
            return path

        probes = []
        for name in values:
            probes.append((f"path parameter {name} = %FF", path_with({name: "%FF"}), None, False))
        for parameter in operation.query:
            probes.append((f"query parameter {parameter.name} = %FF", path_with({}) + f"?{parameter.name}=%FF", None, True))
        if list(operation.body) and method != "GET":
            probes.append(("a JSON array body", path_with({}), b"[]", False))
            if isinstance(case.body, dict) and case.body:
                positional = json.dumps(list(case.body.values())).encode()
                probes.append(("the body's values as an array", path_with({}), positional, False))
            probes.append(("a body that is not UTF-8", path_with({}), b"\xff\xfe", False))
        problems = []
        for what, path, body, may_succeed in probes:
            probe_headers = dict(headers)
            if body is not None:
                probe_headers["Content-Type"] = "application/json"
            status, content_type, text = send(method, origin + path, probe_headers, body)
            if status >= 500:
                problems.append(f"{what}: {status} {text[:200]!r}")
            elif status < 400:
                # Any text is a valid value of a text parameter: `%FF` reads as U+FFFD.
                if not may_succeed:
                    problems.append(f"{what}: accepted with {status}: {text[:200]!r}")
            else:
                problem = shape_problem(status, content_type, text)
                if problem:
                    problems.append(f"{what}: {problem}")
        if problems:
            raise AssertionError(f"{method} {operation.path}: " + "; ".join(problems))
        return None
