"""Hostile inputs through the real HTTP server (security issue #13): the fuzz targets' corpora
replayed as HTTP requests, mutated copies of them, and oversized, malformed and slow requests.

Whatever comes in, the server must answer with a client error (4xx), AWS's `NotImplemented`
(501) or a success — never another 5xx, never a hang — and stay healthy afterwards.

The corpora are the ones `fuzz/seed.py` builds (the golden request fixtures of
tests/fixtures/codec plus one minimal input per modelled operation), read through the same
input layouts as the fuzz entry points (fuzz/README.md), plus whatever a developer's fuzzing
left in fuzz/corpus/. Codec inputs are signed with valid dev-mode credentials so that they get
past SigV4 into the decoders; SigV4 inputs are sent as they are.
"""

import importlib.util
import random
import re
import socket
import time
import urllib.parse
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import ROOT

FUZZ = ROOT / "fuzz"
JSON_TARGETS = {
    "kms": "TrentService.",
    "cloudtrail": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.",
}
CT_JSON = "application/x-amz-json-1.1"
CT_FORM = "application/x-www-form-urlencoded; charset=utf-8"


def load_seed_module():
    spec = importlib.util.spec_from_file_location("fuzz_seed", FUZZ / "seed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpora():
    seed = load_seed_module()
    seed.main()  # idempotent; writes fuzz/corpus/<target>/ (git-ignored)
    models = seed.load_models()
    out = {}
    for target in ("codec_json", "codec_ec2", "codec_query", "codec_rest_json", "sigv4"):
        d = seed.CORPUS / target
        out[target] = sorted((p.name, p.read_bytes()) for p in d.iterdir() if p.is_file())
        assert out[target], f"empty corpus {d}"
    return models, out


def raw_request(endpoint, data, timeout=20):
    """Send `data` as it is on one connection; return (status or None, response bytes)."""
    u = urllib.parse.urlsplit(endpoint)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before taking everything: read its answer
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
    resp = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    return (int(m.group(1)) if m else None), resp


def signed_http(endpoint, method, path, query, headers, body, service, region="us-east-1"):
    """Sign with botocore (dev-mode root of 000000000000) and send with raw sockets, so that
    bytes no HTTP library would send (invalid UTF-8, odd paths) still reach the server."""
    url = endpoint + path + (f"?{query}" if query else "")
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), service, region).add_auth(req)
    p = req.prepare()
    u = urllib.parse.urlsplit(p.url)
    target = u.path + (f"?{u.query}" if u.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {u.netloc}", "Connection: close",
             f"Content-Length: {len(body)}"]
    for k, v in p.headers.items():
        if k.lower() not in ("host", "content-length", "connection"):
            lines.append(f"{k}: {v}")
    return raw_request(endpoint, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def assert_acceptable(status, resp, what):
    assert status is not None, f"{what}: no HTTP response: {resp[:200]!r}"
    assert status < 500 or (status == 501 and b"NotImplemented" in resp), \
        f"{what}: HTTP {status}: {resp[:600]!r}"


def assert_healthy(server):
    status, body = server.get("/_kmsnap/health")
    assert status == 200 and b'"ok"' in body


def pick(models, protocol, data):
    same = [m for m in models if m[1] == protocol]
    name, _, ops = same[data[0] % len(same)]
    op, method, uri = ops[data[1] % len(ops)]
    return name, op, method, uri


def fill_template(uri):
    path, _, query = uri.partition("?")
    path = re.sub(r"\{[^}]+\}", "x", path)
    return path, re.sub(r"\{[^}]+\}", "x", query)


def codec_request(models, target, data):
    """(method, path, query, headers, body, service) for one codec corpus input."""
    if len(data) < 2:
        return None
    protocol = {"codec_json": "Json", "codec_ec2": "Ec2", "codec_query": "Query",
                "codec_rest_json": "RestJson"}[target]
    service, op, method, uri = pick(models, protocol, data)
    rest = data[2:]
    if protocol == "Json":
        return ("POST", "/", "", {"Content-Type": CT_JSON, "X-Amz-Target": JSON_TARGETS[service] + op},
                rest, service)
    if protocol in ("Ec2", "Query"):
        query, _, body = rest.partition(b"\0")
        if b"Action=" not in body and b"Action=" not in query:
            body = f"Action={op}&".encode() + body
        return ("POST", "/", query.decode("latin-1"), {"Content-Type": CT_FORM}, body, service)
    parts = rest.split(b"\0", 3)
    if len(parts) < 4:
        return None
    path, query, header_lines, body = parts
    tpath, tquery = fill_template(uri)
    path = path.decode("latin-1") or tpath
    if not path.startswith("/"):
        path = "/" + path
    query = query.decode("latin-1") or tquery
    headers = {"Content-Type": "application/json"}
    for line in header_lines.decode("latin-1").splitlines():
        k, sep, v = line.partition(":")
        k = k.strip()
        if sep and re.fullmatch(r"[A-Za-z0-9-]+", k) and k.lower() not in ("host", "content-length"):
            headers[k] = v.strip()
    signing = "ebs" if service == "ebs" else service
    return (method, urllib.parse.quote(path, safe="/%:=+@,;"), query, headers, body, signing)


def mutations(data, rng, n):
    """Deterministic mutants of `data` (the selector bytes kept, so the same operation is hit)."""
    head, tail = data[:2], data[2:]
    for _ in range(n):
        t = bytearray(tail)
        kind = rng.randrange(5)
        if kind == 0 and t:
            t = t[: rng.randrange(len(t))]
        elif kind == 1 and t:
            for _ in range(1 + rng.randrange(8)):
                t[rng.randrange(len(t))] = rng.randrange(256)
        elif kind == 2:
            pos = rng.randrange(len(t) + 1)
            t[pos:pos] = rng.choice([b"\xff\xfe", b"{", b"[[[[", b"%", b"&&=", b"\0", b"\"\\u0000\"",
                                     b"9" * 40, b"-1", b".-1.", b"A" * 5000])
        elif kind == 3 and len(t) > 1:
            a, b = sorted(rng.sample(range(len(t)), 2))
            t = t[:a] + t[b:] + t[a:b]
        else:
            t = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        yield head + bytes(t)


@pytest.mark.parametrize("target", ["codec_json", "codec_ec2", "codec_query", "codec_rest_json"])
def test_codec_corpus_replayed_through_http(fresh_server, corpora, target):
    server = fresh_server()
    models, corpus = corpora
    rng = random.Random(13)
    sent = 0
    for name, data in corpus[target]:
        for i, d in enumerate([data, *mutations(data, rng, 3)]):
            req = codec_request(models, target, d)
            if req is None:
                continue
            method, path, query, headers, body, service = req
            try:
                status, resp = signed_http(server.endpoint, method, path, query, headers, body, service)
            except (ValueError, UnicodeError):
                continue  # botocore cannot sign it (e.g. a header value it refuses); nothing sent
            assert_acceptable(status, resp, f"{target}/{name} mutant {i}")
            sent += 1
        if sent % 50 == 0:
            assert_healthy(server)
    assert sent >= len(corpus[target])
    assert_healthy(server)


def test_sigv4_corpus_replayed_through_http(fresh_server, corpora):
    server = fresh_server()
    _, corpus = corpora
    rng = random.Random(7)
    u = urllib.parse.urlsplit(server.endpoint)
    for name, data in corpus["sigv4"]:
        for i, d in enumerate([data, *mutations(b"\0\0" + data, rng, 3)]):
            d = d if i == 0 else d[2:]
            head, _, body = d.partition(b"\n\n")
            lines = head.split(b"\n")
            start = lines[0].split(b" ", 1)
            if len(start) != 2 or not start[0].isalpha():
                start = [b"POST", b"/"]
            target = start[1].replace(b" ", b"%20").replace(b"\r", b"").replace(b"\n", b"") or b"/"
            if not target.startswith(b"/"):
                target = b"/" + target
            hdrs = [l.replace(b"\r", b"") for l in lines[1:] if b":" in l and not l.lower().startswith((b"host", b"content-length"))]
            raw = b"\r\n".join([start[0] + b" " + target + b" HTTP/1.1", f"Host: {u.netloc}".encode(),
                                b"Connection: close", f"Content-Length: {len(body)}".encode(), *hdrs]) + b"\r\n\r\n" + body
            status, resp = raw_request(server.endpoint, raw)
            if status is None and not resp:
                continue  # the server closed a connection whose bytes were not HTTP: fine
            assert_acceptable(status, resp, f"sigv4/{name} mutant {i}")
    assert_healthy(server)


def test_oversized_and_malformed_requests(fresh_server):
    server = fresh_server()
    u = urllib.parse.urlsplit(server.endpoint)
    host = f"Host: {u.netloc}\r\n".encode()
    cases = {
        "huge content-length": b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 99999999999\r\n\r\nabc",
        "negative content-length": b"POST / HTTP/1.1\r\n" + host + b"Content-Length: -5\r\n\r\n",
        "two content-lengths": b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "long uri": b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n" + host + b"\r\n",
        "many headers": b"GET / HTTP/1.1\r\n" + host + b"".join(b"X-H%d: v\r\n" % i for i in range(300)) + b"\r\n",
        "huge header": b"GET / HTTP/1.1\r\n" + host + b"X-Big: " + b"v" * 200000 + b"\r\n\r\n",
        "not http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),
        "bad chunked": b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        "big chunked body": b"POST / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n"
                            + b"".join(b"100000\r\n" + bytes(0x100000) + b"\r\n" for _ in range(10)) + b"0\r\n\r\n",
        "kms 1.1 MB encryption context": (
            b"POST / HTTP/1.1\r\n" + host + b"X-Amz-Target: TrentService.Encrypt\r\nContent-Type: application/x-amz-json-1.1\r\n"
            + b"Content-Length: 1100030\r\n\r\n" + b'{"EncryptionContext":{"a":"' + b"b" * 1100000 + b'"}}'),
        "deep json": (b"POST / HTTP/1.1\r\n" + host + b"X-Amz-Target: TrentService.Encrypt\r\n"
                      + b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 200000\r\n\r\n" + b"[" * 100000 + b"]" * 100000),
    }
    for what, raw in cases.items():
        status, resp = raw_request(server.endpoint, raw, timeout=60)
        if status is None:
            assert not resp, f"{what}: {resp[:200]!r}"
        else:
            assert_acceptable(status, resp, what)
            assert 400 <= status < 500, f"{what}: HTTP {status}"
        assert_healthy(server)


def test_slow_requests_are_cut_off_and_the_server_stays_healthy(fresh_server):
    server = fresh_server(env={"KMSNAP_HEADER_TIMEOUT_SECONDS": "2", "KMSNAP_BODY_TIMEOUT_SECONDS": "2"})
    u = urllib.parse.urlsplit(server.endpoint)
    socks = []
    for i in range(16):
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        if i % 2:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never finish
        else:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                      b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 1000\r\n\r\n{")  # body never finishes
        socks.append(s)
    assert_healthy(server)
    deadline = time.time() + 20
    for s in socks:
        s.settimeout(max(0.1, deadline - time.time()))
        data = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
        except socket.timeout:
            pytest.fail("a slow connection was still open 20 s later")
        except ConnectionResetError:
            pass
        if data:
            status = int(data.split(b" ", 2)[1])
            assert 400 <= status < 500, data[:300]
        s.close()
    assert_healthy(server)
