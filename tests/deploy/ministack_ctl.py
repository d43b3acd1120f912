#!/usr/bin/env python3
"""Starts and stops a loopback-only ministack (an AWS emulator) for the
deployment test in tests/run.sh.

    ministack_ctl.py start --port 4599 [--state-dir DIR] [--auth]
    ministack_ctl.py stop  --port 4599 [--state-dir DIR]

`start` launches ministack in its own process group (so `stop` can kill the
server *and* every Lambda worker it spawned), waits for /_ministack/health and
prints JSON {pid, port, endpoint, started_in_s, log}.

Environment given to ministack (and therefore inherited by every provided.*
bootstrap it spawns; see lambda_svc._provided_worker_env, which starts from
dict(os.environ)):
  GATEWAY_PORT, BIND_HOST=127.0.0.1, LAMBDA_EXECUTOR=local,
  AWS_ENDPOINT_URL=http://127.0.0.1:<port>  <- required: the provided.* path only
        sets AWS_ENDPOINT_URL for the child if ministack's own env has it,
  AWS_REGION/AWS_DEFAULT_REGION=us-east-1, AWS_EC2_METADATA_DISABLED=true,
  AWS_SECRET_ACCESS_KEY=test (ministack sets the child's AWS_ACCESS_KEY_ID to the
        account id and AWS_SECRET_ACCESS_KEY from its own env, default "test").
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MINISTACK = os.path.join(ROOT, ".tools", "deploy", "bin", "ministack")


def _paths(state_dir, port):
    os.makedirs(state_dir, exist_ok=True)
    return (os.path.join(state_dir, f"ministack-{port}.pid"),
            os.path.join(state_dir, f"ministack-{port}.log"))


def healthy(port, timeout=1.0):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ministack/health", timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def start(port, state_dir, ministack_bin=DEFAULT_MINISTACK, auth=False, wait_s=60, extra_env=None):
    pid_file, log_file = _paths(state_dir, port)
    if healthy(port):
        raise SystemExit(f"something already answers on 127.0.0.1:{port}")
    # The bootstraps inherit this environment: nothing of the test command's own
    # stand-ins (DynamoDB Local, moto) or settings may leak into the stack's functions.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "IEV_", "RUST_LOG"))}
    env.update({
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "LAMBDA_EXECUTOR": "local",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    if auth:
        env["AUTH"] = "true"
    env.update(extra_env or {})
    t0 = time.time()
    log = open(log_file, "ab")
    proc = subprocess.Popen([ministack_bin], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=state_dir)
    with open(pid_file, "w") as f:
        f.write(str(proc.pid))
    while time.time() - t0 < wait_s:
        if proc.poll() is not None:
            raise SystemExit(f"ministack exited with {proc.returncode}; see {log_file}")
        if healthy(port):
            return {"pid": proc.pid, "port": port, "endpoint": f"http://127.0.0.1:{port}",
                    "started_in_s": round(time.time() - t0, 2), "log": log_file}
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"ministack not healthy after {wait_s}s; see {log_file}")


def stop(port, state_dir, grace_s=5):
    pid_file, _ = _paths(state_dir, port)
    try:
        pid = int(open(pid_file).read().strip())
    except FileNotFoundError:
        return {"stopped": False, "reason": "no pid file"}
    # The whole process group: ministack plus the bootstraps it spawned
    # (they inherit the group because ministack's Popen does not setsid).
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        os.unlink(pid_file)
        shutil.rmtree(os.path.join(tempfile.gettempdir(), f"ministack-provided-code-{port}"), ignore_errors=True)
        return {"stopped": False, "reason": "not running"}
    t0 = time.time()
    while time.time() - t0 < grace_s:
        try:  # reap it if it is our own child (started in this process), else no-op
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.unlink(pid_file)
    # ministack leaves each provided.* function's unzipped code here (hundreds of MB
    # with debug binaries); it is named for the port, so only this instance's.
    cache = os.path.join(tempfile.gettempdir(), f"ministack-provided-code-{port}")
    shutil.rmtree(cache, ignore_errors=True)
    return {"stopped": True, "pid": pid, "took_s": round(time.time() - t0, 2), "removed": cache}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state-dir", default=os.path.join(ROOT, ".tools", "ministack"))
    ap.add_argument("--ministack", default=DEFAULT_MINISTACK)
    ap.add_argument("--auth", action="store_true", help="AUTH=true: enforce IAM")
    a = ap.parse_args()
    if a.action == "start":
        print(json.dumps(start(a.port, a.state_dir, a.ministack, a.auth)))
    else:
        print(json.dumps(stop(a.port, a.state_dir)))


if __name__ == "__main__":
    sys.exit(main())
