#!/usr/bin/env python3
"""HTTP load benchmark for kmsnap (not a test): round trips with wrk, 8 connections, against the
release binary; plus cold start to listening and idle RSS.

Each wrk request carries a real SigV4 Authorization header made by botocore; the server verifies
the signature on every request (SigV4 has no replay protection within its 15-minute window, on
AWS either), so the figure includes full authentication, routing, decoding and encoding.

Usage: scripts/bench/http_bench.py [--duration 10] [--connections 8] [--case NAME ...]
Needs: wrk (apt-get install wrk), the e2e venv (botocore), target/release/kmsnap.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KMSNAP_BIN", os.path.join(ROOT, "target", "release", "kmsnap"))

CASES = {
    "sts-GetCallerIdentity": ("sts", "Action=GetCallerIdentity&Version=2011-06-15",
                              {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}),
    "kms-unbuilt-CreateCustomKeyStore": ("kms", '{"CustomKeyStoreName": "bench"}',
                                         {"Content-Type": "application/x-amz-json-1.1",
                                          "X-Amz-Target": "TrentService.CreateCustomKeyStore"}),
}


def start(data_dir):
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log", "warn"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    took = time.perf_counter() - t0
    return p, line.split("listening on ", 1)[1], took


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def signed_headers(endpoint, service, body, headers, region="us-east-1"):
    creds = botocore.credentials.Credentials("111111111111", "test")
    req = botocore.awsrequest.AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
    return dict(req.prepare().headers)


def wrk(endpoint, body, headers, duration, connections):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\n')
    script.write("wrk.body = %s\n" % json.dumps(body))
    for k, v in headers.items():
        if k.lower() in ("content-length", "host"):
            continue
        script.write("wrk.headers[%s] = %s\n" % (json.dumps(k), json.dumps(v)))
    script.close()
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, endpoint + "/"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    r = parse_wrk(out)
    return r["rps"], r["p99_ms"], r["non2xx"], out


def parse_wrk(out):
    """What a `wrk --latency` run printed: rps, requests, p50_ms, p99_ms, non2xx (responses
    outside 2xx/3xx) and socket_errors (the line, or None)."""
    def ms(q):
        m = re.search(rf"{q}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--case", action="append")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    starts = []
    for _ in range(10):
        d = tempfile.mkdtemp()
        p, _, took = start(d)
        starts.append(took * 1000)
        p.terminate(); p.wait()
        shutil.rmtree(d)
    print(f"cold start to listening: median {statistics.median(starts):.1f} ms, max {max(starts):.1f} ms (10 runs, fresh data dir)")

    d = tempfile.mkdtemp()
    p, endpoint, _ = start(d)
    try:
        time.sleep(0.5)
        print(f"idle RSS after start: {rss_mib(p.pid):.1f} MiB")
        for name in args.case or list(CASES):
            service, body, headers = CASES[name]
            h = signed_headers(endpoint, service, body, headers)
            rps, p99, non2xx, _ = wrk(endpoint, body, h, args.duration, args.connections)
            print(f"{name}: {rps:,.0f} req/s, p99 {p99:.2f} ms, non-2xx {non2xx} ({args.connections} connections, {args.duration}s)")
        print(f"RSS after load: {rss_mib(p.pid):.1f} MiB")
    finally:
        p.terminate(); p.wait()
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
