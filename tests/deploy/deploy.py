#!/usr/bin/env python3
"""Deploy a SAM template to a running ministack without `sam build`.

    deploy.py --template template.yaml --bin-dir target/debug --port 4599 --stack-name iev \
              [--param Key=Value ...] [--map LogicalId=binary ...] [--bucket NAME] [--replace]

For every AWS::Serverless::Function (and plain AWS::Lambda::Function) the binary
is chosen by, in order: --map LogicalId=binary, Metadata.BuildProperties.Binary
(the cargo-lambda SAM metadata), then the basename of a string CodeUri. It is
looked up as <bin-dir>/<binary>/bootstrap, then <bin-dir>/<binary>; zipped as a
single executable `bootstrap`; uploaded to s3://<bucket>/<binary>/<sha256>.zip in
ministack; and CodeUri becomes {Bucket, Key} (Code {S3Bucket, S3Key} for plain
functions). The rewritten template (SAM transform still declared) goes to
CloudFormation CreateStack; ministack applies the SAM transform itself (it needs
ministack[full], which brings aws-sam-translator).

Prints one JSON document: status, timings, outputs, resources, functions and for
each AWS::ApiGatewayV2::Api / AWS::Serverless::HttpApi the id, the Host header to
send to http://127.0.0.1:<port>, the path-style base URL and its routes.
Exit code 0 on CREATE_COMPLETE, 1 otherwise (the failed events are in the JSON).
"""
import argparse
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
TERMINAL_BAD = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "ROLLBACK_IN_PROGRESS",
                "DELETE_COMPLETE", "DELETE_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"}


# --------------------------------------------------------------------------
# CloudFormation YAML (short-form intrinsic tags) -> plain JSON-able dicts
# --------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader, tag_suffix, node):
    name = tag_suffix  # e.g. "Ref", "GetAtt", "Sub"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if name == "Ref":
        return {"Ref": value}
    if name == "GetAtt" and isinstance(value, str):
        first, _, rest = value.partition(".")
        return {"Fn::GetAtt": [first, rest]}
    if name == "Condition":
        return {"Condition": value}
    return {f"Fn::{name}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)
# CloudFormation treats timestamps/dates as strings; keep them verbatim.
_CfnLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in _CfnLoader.yaml_implicit_resolvers.items()
}


def load_template(path):
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return yaml.load(text, Loader=_CfnLoader)


# --------------------------------------------------------------------------
# Packaging
# --------------------------------------------------------------------------
def find_binary(bin_dir, name):
    for cand in (os.path.join(bin_dir, name, "bootstrap"), os.path.join(bin_dir, name)):
        if os.path.isfile(cand):
            return cand
    raise SystemExit(f"no binary for '{name}' in {bin_dir} (tried {name}/bootstrap and {name})")


def bootstrap_bytes(path, mode):
    """The bytes that become `bootstrap`.

    strip-debug: the binary without DWARF (a debug build drops from ~360 MB to
                 ~60 MB; symbols stay, so panics still name functions);
    full:        the binary as built;
    shim:        a 2-line shell script that execs the host binary in place. Only
                 valid because ministack's local executor runs bootstraps on this
                 host; nothing is copied, so a rebuilt binary is picked up by the
                 next cold start (fastest, least faithful).
    """
    path = os.path.abspath(path)
    if mode == "shim":
        return f"#!/bin/sh\nexec {shlex.quote(path)} \"$@\"\n".encode()
    with open(path, "rb") as f:
        is_elf = f.read(4) == b"\x7fELF"
    if mode == "strip-debug" and is_elf:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "bootstrap")
            subprocess.run(["strip", "--strip-debug", "-o", out, path], check=True)
            with open(out, "rb") as f:
                return f.read()
    with open(path, "rb") as f:
        return f.read()


def zip_bootstrap(data):
    """A zip holding one executable `bootstrap` (mode 0755), deterministic bytes."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as z:
        # level 1: debug binaries are hundreds of MB; speed matters more than size
        z.writestr(info, data, compresslevel=1)
    return buf.getvalue()


def function_binaries(template, overrides):
    """{logical_id: binary_name} for every function resource."""
    out = {}
    for lid, res in (template.get("Resources") or {}).items():
        rtype = res.get("Type")
        if rtype not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        props = res.get("Properties") or {}
        if props.get("PackageType") == "Image":
            continue
        if lid in overrides:
            out[lid] = overrides[lid]
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            code_uri = props.get("CodeUri")
            if isinstance(code_uri, str) and code_uri not in (".", "./") and not code_uri.startswith("s3://"):
                binary = os.path.basename(code_uri.rstrip("/"))
        if not binary:
            if rtype == "AWS::Lambda::Function" and (props.get("Code") or {}).get("ZipFile"):
                continue  # inline code: leave alone
            raise SystemExit(f"{lid}: cannot tell which binary it runs; pass --map {lid}=<binary>")
        out[lid] = binary
    return out


def _references(value, names):
    """Which of `names` does this template fragment reference (Ref, GetAtt, Sub)?"""
    found = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and v in names:
                found.add(v)
            elif k == "Fn::GetAtt":
                target = v[0] if isinstance(v, list) else str(v).split(".")[0]
                if target in names:
                    found.add(target)
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                for n in names:
                    if "${" + n + "}" in text or "${" + n + "." in text:
                        found.add(n)
            found |= _references(v, names)
    elif isinstance(value, list):
        for v in value:
            found |= _references(v, names)
    return found


def drop_resources(template, names, unsupported):
    res = template.get("Resources") or {}
    drop = {n: "--drop" for n in names}
    if unsupported:
        for lid, r in res.items():
            if r.get("Type") == "AWS::CloudWatch::Alarm" and (r.get("Properties") or {}).get("Metrics"):
                drop[lid] = "AWS::CloudWatch::Alarm with Metrics (metric math): ministack refuses it"
    missing = [n for n in drop if n not in res]
    if missing:
        raise SystemExit(f"--drop: no such resources: {missing}")
    for n in drop:
        del res[n]
    for section in ("Resources", "Outputs"):
        for lid, body in (template.get(section) or {}).items():
            deps = body.get("DependsOn", []) if isinstance(body, dict) else []
            refs = _references(body, set(drop)) | (set([deps] if isinstance(deps, str) else deps) & set(drop))
            if refs:
                raise SystemExit(f"cannot drop {sorted(refs)}: {section}.{lid} references it")
    return drop


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", required=True)
    ap.add_argument("--bin-dir", required=True, help="dir with <binary> or <binary>/bootstrap files")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stack-name", required=True)
    ap.add_argument("--bucket", default="harness-lambda-artifacts")
    ap.add_argument("--param", action="append", default=[], help="Key=Value stack parameter")
    ap.add_argument("--map", action="append", default=[], help="LogicalId=binary override")
    ap.add_argument("--replace", action="store_true", help="delete an existing stack of that name first")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--write-template", help="also write the rewritten template (JSON) here")
    ap.add_argument("--drop", action="append", default=[], help="LogicalId to leave out of the stack")
    ap.add_argument("--drop-unsupported", action="store_true",
                    help="leave out what ministack cannot create: AWS::CloudWatch::Alarm with "
                         "Metrics (metric math), refused by its provisioner")
    ap.add_argument("--package", choices=["strip-debug", "full", "shim"], default="strip-debug",
                    help="what goes into each zip's bootstrap (default strip-debug)")
    a = ap.parse_args()

    endpoint = f"http://127.0.0.1:{a.port}"
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                    region_name=REGION)
    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=300,
                 s3={"addressing_style": "path"})
    client = lambda svc: session.client(svc, endpoint_url=endpoint, config=cfg)  # noqa: E731
    s3, cfn = client("s3"), client("cloudformation")
    timings = {}

    template = load_template(a.template)
    dropped = drop_resources(template, a.drop, a.drop_unsupported)
    overrides = dict(kv.split("=", 1) for kv in a.map)
    binaries = function_binaries(template, overrides)

    # 1. zip + upload, once per distinct binary
    t0 = time.time()
    try:
        s3.head_bucket(Bucket=a.bucket)
    except ClientError:
        s3.create_bucket(Bucket=a.bucket)
    keys = {}
    for binary in sorted(set(binaries.values())):
        data = zip_bootstrap(bootstrap_bytes(find_binary(a.bin_dir, binary), a.package))
        key = f"{binary}/{hashlib.sha256(data).hexdigest()}.zip"
        s3.put_object(Bucket=a.bucket, Key=key, Body=data)
        keys[binary] = (key, len(data))
    timings["package_upload_s"] = round(time.time() - t0, 2)

    # 2. rewrite code locations
    for lid, binary in binaries.items():
        res = template["Resources"][lid]
        props = res.setdefault("Properties", {})
        key = keys[binary][0]
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = {"Bucket": a.bucket, "Key": key}
        else:
            props["Code"] = {"S3Bucket": a.bucket, "S3Key": key}
        # sam build metadata is meaningless once the code is a zip
        (res.get("Metadata") or {}).pop("BuildMethod", None)
    body = json.dumps(template)
    if a.write_template:
        with open(a.write_template, "w") as f:
            json.dump(template, f, indent=1)

    # 3. create the stack
    if a.replace:
        try:
            cfn.describe_stacks(StackName=a.stack_name)
            cfn.delete_stack(StackName=a.stack_name)
            _wait(cfn, a.stack_name, {"DELETE_COMPLETE"}, {"DELETE_FAILED"}, a.timeout, missing_ok=True)
        except ClientError:
            pass
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in (p.split("=", 1) for p in a.param)]
    t0 = time.time()
    kwargs = dict(StackName=a.stack_name, Parameters=params,
                  Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    if len(body) <= 51200:
        kwargs["TemplateBody"] = body
    else:  # CloudFormation's TemplateBody quota; ministack serves TemplateURL from its S3
        s3.put_object(Bucket=a.bucket, Key=f"templates/{a.stack_name}.json", Body=body.encode())
        kwargs["TemplateURL"] = f"{endpoint}/{a.bucket}/templates/{a.stack_name}.json"
    cfn.create_stack(**kwargs)
    status = _wait(cfn, a.stack_name, TERMINAL_OK, TERMINAL_BAD, a.timeout)
    timings["create_stack_s"] = round(time.time() - t0, 2)

    result = {"stack": a.stack_name, "status": status, "dropped": dropped, "endpoint": endpoint, "timings": timings,
              "artifacts": {b: {"s3": f"s3://{a.bucket}/{k}", "bytes": n} for b, (k, n) in keys.items()}}
    if status not in TERMINAL_OK:
        events = cfn.describe_stack_events(StackName=a.stack_name)["StackEvents"]
        result["failures"] = [
            {"logical": e["LogicalResourceId"], "type": e.get("ResourceType"),
             "status": e["ResourceStatus"], "reason": e.get("ResourceStatusReason")}
            for e in events if "FAILED" in e["ResourceStatus"] or e.get("ResourceStatusReason")]
        print(json.dumps(result, indent=1))
        return 1

    stack = cfn.describe_stacks(StackName=a.stack_name)["Stacks"][0]
    result["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = _list_resources(cfn, a.stack_name)
    result["resources"] = {r["LogicalResourceId"]: {"type": r["ResourceType"], "id": r.get("PhysicalResourceId")}
                           for r in resources}
    result["functions"] = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
                           if r["ResourceType"] == "AWS::Lambda::Function"}
    # ministack's AWS::Lambda::Function provisioner drops ReservedConcurrentExecutions
    # (the function record gets "concurrency": None); apply it through the Lambda API.
    lam = client("lambda")
    reserved = {}
    for lid, res in (template.get("Resources") or {}).items():
        n = (res.get("Properties") or {}).get("ReservedConcurrentExecutions")
        if lid in result["functions"] and n is not None:
            if isinstance(n, int) or (isinstance(n, str) and n.isdigit()):
                lam.put_function_concurrency(FunctionName=result["functions"][lid],
                                             ReservedConcurrentExecutions=int(n))
                reserved[lid] = int(n)
            else:
                reserved[lid] = f"not applied (not a literal): {n!r}"
    result["reserved_concurrency_applied"] = reserved
    # ministack keeps an SQS event source's ScalingConfig.MaximumConcurrency as
    # the string a template parameter resolves to (boto3 reads it back as a
    # number), and its poller then fails comparing it with a number: set the
    # same value again through the API, which stores a number.
    rescaled = {}
    for mapping in lam.list_event_source_mappings().get("EventSourceMappings", []):
        limit = (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if limit is not None:
            lam.update_event_source_mapping(UUID=mapping["UUID"],
                                            ScalingConfig={"MaximumConcurrency": int(limit)})
            rescaled[mapping["UUID"]] = int(limit)
    result["scaling_config_as_number"] = rescaled
    apigw = client("apigatewayv2")
    apis = []
    for r in resources:
        if r["ResourceType"] != "AWS::ApiGatewayV2::Api":
            continue
        api_id = r["PhysicalResourceId"]
        routes = apigw.get_routes(ApiId=api_id).get("Items", [])
        stages = [s["StageName"] for s in apigw.get_stages(ApiId=api_id).get("Items", [])]
        apis.append({
            "logical": r["LogicalResourceId"], "api_id": api_id, "stages": stages,
            "base_url": endpoint,
            "host_header": f"{api_id}.execute-api.localhost:{a.port}",
            # same API without a Host header ($default stage: the path follows directly)
            "path_style_base_url": f"{endpoint}/_aws/execute-api/{api_id}/$default",
            "routes": sorted(rt["RouteKey"] for rt in routes),
        })
    result["apis"] = apis
    print(json.dumps(result, indent=1))
    return 0


def _list_resources(cfn, stack):
    out, token = [], None
    while True:
        kw = {"StackName": stack}
        if token:
            kw["NextToken"] = token
        page = cfn.list_stack_resources(**kw)
        out += page["StackResourceSummaries"]
        token = page.get("NextToken")
        if not token:
            return out


def _wait(cfn, stack, ok, bad, timeout, missing_ok=False):
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        try:
            status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        except ClientError:
            if missing_ok:
                return "DELETE_COMPLETE"
            raise
        if status in ok or status in bad:
            return status
        time.sleep(0.25)
    return f"TIMEOUT({status})"


if __name__ == "__main__":
    sys.exit(main())
