#!/usr/bin/env python3
"""Build the seed corpora of the fuzz targets from the golden request fixtures.

Reads tests/fixtures/codec/requests/*.json (the requests botocore sends, captured by
tests/fixtures/codec/make_requests.py) and writes them, in each entry point's input layout,
into fuzz/corpus/<target>/. Also writes one minimal input per modelled operation, so that
every operation of every generated service is reachable from the start.

Idempotent: every file has a fixed name derived from what it encodes and is rewritten with the
same bytes; files the fuzzer added to the corpus are left alone. Standard library only.

Input layouts (crates/api/src/proto/fuzzing.rs, crates/auth/src/fuzzing.rs):
  codec_*           byte 0 = service index among the generated services of that protocol
                    (order of `SERVICES` in crates/api/src/gen/mod.rs), byte 1 = operation
                    index in that service's `MODEL.operations`, then:
  codec_json        <body>
  codec_ec2/query   <url query> NUL <form body>
  codec_rest_json   <path> NUL <query> NUL <"name: value" header lines> NUL <body>
                    (an empty path means the operation's URI template with labels filled in)
  sigv4             "METHOD PATH?QUERY" LF header lines LF LF body; seeds are signed with the
                    secret "test" the entry point verifies with, in header and presigned form.

Usage: python3 fuzz/seed.py   (from anywhere)
"""

import base64
import datetime
import hashlib
import hmac
import json
import re
import sys
import urllib.parse
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
FIXTURES = ROOT / "tests" / "fixtures" / "codec" / "requests"
GEN = ROOT / "crates" / "api" / "src" / "gen"
CORPUS = FUZZ / "corpus"

# Fixture "protocol" -> (generated Protocol variant, fuzz target).
PROTOCOLS = {
    "json": ("Json", "codec_json"),
    "ec2": ("Ec2", "codec_ec2"),
    "query": ("Query", "codec_query"),
    "rest-json": ("RestJson", "codec_rest_json"),
}


def load_models():
    """[(name, protocol, [(op name, http method, request uri)])] in `SERVICES` order."""
    mod_rs = (GEN / "mod.rs").read_text()
    block = re.search(r"pub static SERVICES[^=]*=\s*&\[(.*?)\];", mod_rs, re.S)
    if not block:
        sys.exit("seed.py: SERVICES not found in crates/api/src/gen/mod.rs")
    models = []
    for module in re.findall(r"&(\w+)::MODEL", block.group(1)):
        src = (GEN / f"{module}.rs").read_text()
        head = src[src.index("pub static MODEL"):]
        name = re.search(r'\bname:\s*"([^"]+)"', head).group(1)
        protocol = re.search(r"protocol:\s*__s::Protocol::(\w+)", head).group(1)
        ops_src = head[head.index("operations: &["):]
        ops_src = ops_src[: ops_src.index("\n    ],")]
        ops = re.findall(
            r'__s::Operation \{ name: "([^"]+)", http_method: "([^"]+)", request_uri: "([^"]*)"',
            ops_src,
        )
        if not ops:
            sys.exit(f"seed.py: no operations parsed from gen/{module}.rs")
        models.append((name, protocol, ops))
    return models


def selector(models, protocol, service, operation):
    """The two leading bytes that make `pick` choose `service`.`operation`."""
    same = [m for m in models if m[1] == protocol]
    for i, (name, _, ops) in enumerate(same):
        if name == service:
            for j, op in enumerate(ops):
                if op[0] == operation:
                    if i > 255 or j > 255:
                        sys.exit(f"seed.py: {service}.{operation} not selectable by one byte")
                    return bytes([i, j])
    sys.exit(f"seed.py: {service}.{operation} ({protocol}) not in the generated models")


def header_lines(headers):
    return "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()


def codec_input(fx, body):
    proto = fx["protocol"]
    query = fx.get("query_string", "").encode()
    if proto == "json":
        return body
    if proto in ("ec2", "query"):
        return query + b"\0" + body
    return b"\0".join([fx["url_path"].encode(), query, header_lines(fx["headers"]), body])


# --- SigV4 -------------------------------------------------------------------------------

SECRET = "test"
ACCESS_KEY = "AKIAFUZZEXAMPLE00001"
REGION = "us-east-1"
AMZ_DATE = "20260101T000000Z"  # verify() checks freshness against the parsed time itself
UNRESERVED = "-_.~"


def enc(b):
    return urllib.parse.quote(b, safe=UNRESERVED)


def canonical_uri(raw):
    out = []
    for seg in raw.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    path = "/" + "/".join(out)
    if any(raw.endswith(s) for s in ("/", "/.", "/..")) and not path.endswith("/"):
        path += "/"
    return urllib.parse.quote(path, safe=UNRESERVED + "/")


def canonical_query(raw, skip=None):
    pairs = []
    for p in raw.split("&"):
        if not p:
            continue
        k, _, v = p.partition("=")
        k = urllib.parse.unquote_to_bytes(k.replace("+", " "))
        v = urllib.parse.unquote_to_bytes(v.replace("+", " "))
        if skip is not None and k == skip:
            continue
        pairs.append((enc(k), enc(v)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method, path, query, headers, body, service, skip_sig_param=False):
    """Signature over `headers` (lower-case names, all signed) as kmsnap's verifier computes it."""
    names = sorted(headers)
    canon_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    creq = "\n".join([
        method.upper(),
        canonical_uri(path),
        canonical_query(query, b"X-Amz-Signature" if skip_sig_param else None),
        canon_headers,
        ";".join(names),
        payload,
    ])
    scope = f"{AMZ_DATE[:8]}/{REGION}/{service}/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{AMZ_DATE}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    key = ("AWS4" + SECRET).encode()
    for part in (AMZ_DATE[:8], REGION, service, "aws4_request"):
        key = hmac256(key, part)
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), scope, ";".join(names)


def sigv4_inputs(fx, body):
    # The entry point reads the whole input as lossy UTF-8, so sign what it will see.
    body = body.decode("utf-8", "replace").encode()
    service = "ebs" if fx["service"] == "ebs" else "kms"
    method, path, query = fx["method"], fx["url_path"], fx.get("query_string", "")
    headers = {k.lower(): v for k, v in fx["headers"].items() if k.lower() != "content-length"}
    headers["host"] = "localhost:4566"
    headers["x-amz-date"] = AMZ_DATE
    out = {}

    h = dict(headers)
    if service == "ebs" and method == "PUT":
        h["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    sig, scope, signed = sign(method, path, query, h, body, service)
    lines = [f"{method} {path}" + (f"?{query}" if query else "")]
    lines += [f"{k}: {v}" for k, v in h.items()]
    lines.append(
        f"authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
        f"SignedHeaders={signed}, Signature={sig}"
    )
    out["header"] = ("\n".join(lines) + "\n\n").encode() + body

    # Presigned form: only host signed, auth in the query.
    scope = f"{AMZ_DATE[:8]}/{REGION}/{service}/aws4_request"
    q = "&".join(filter(None, [query, urllib.parse.urlencode({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{ACCESS_KEY}/{scope}",
        "X-Amz-Date": AMZ_DATE,
        "X-Amz-Expires": "900",
        "X-Amz-SignedHeaders": "host",
    }, quote_via=urllib.parse.quote)]))
    sig, _, _ = sign(method, path, q, {"host": headers["host"]}, body, service)
    q += f"&X-Amz-Signature={sig}"
    out["presigned"] = (f"{method} {path}?{q}\nhost: {headers['host']}\n\n").encode() + body
    return out


# --- main --------------------------------------------------------------------------------


def write(target, name, data, counts):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    if not p.exists() or p.read_bytes() != data:
        p.write_bytes(data)
    counts[target] = counts.get(target, 0) + 1


def main():
    models = load_models()
    counts = {}
    fixtures = sorted(FIXTURES.glob("*.json"))
    if not fixtures:
        sys.exit(f"seed.py: no fixtures in {FIXTURES}")
    for path in fixtures:
        fx = json.loads(path.read_text())
        protocol, target = PROTOCOLS[fx["protocol"]]
        body = base64.b64decode(fx.get("body_base64") or "")
        sel = selector(models, protocol, fx["service"], fx["operation"])
        write(target, f"fixture-{path.stem}", sel + codec_input(fx, body), counts)
        if fx["protocol"] == "rest-json":
            # Same request with an empty path: the entry point fills in the URI template.
            write(target, f"fixture-{path.stem}-tplpath",
                  sel + codec_input({**fx, "url_path": ""}, body), counts)
        for form, data in sigv4_inputs(fx, body).items():
            write("sigv4", f"fixture-{path.stem}-{form}", data, counts)

    # One minimal request per operation of every generated service.
    for protocol, target in PROTOCOLS.values():
        same = [m for m in models if m[1] == protocol]
        for i, (name, _, ops) in enumerate(same):
            for j, (op, _, _) in enumerate(ops):
                sel = bytes([i, j])
                minimal = {
                    "Json": b"{}",
                    "Ec2": b"\0",
                    "Query": b"\0",
                    "RestJson": b"\0\0\0{}",
                }[protocol]
                write(target, f"op-{name}.{op}", sel + minimal, counts)

    for target in sorted(counts):
        print(f"{target}: {counts[target]} seed files in {CORPUS / target}")


if __name__ == "__main__":
    main()
