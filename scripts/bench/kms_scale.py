#!/usr/bin/env python3
"""KMS scale benchmark (not a test): CreateKey throughput, RSS with 100,000 keys, restart time.

1. CreateKey: one CreateKey request signed by botocore, replayed by wrk (8 connections) until the
   account+region holds N keys (every request is a new key and one durable commit).
2. RSS after creation, then after *using* every key once (Encrypt under each key, so every key's
   record and unwrapped material sits in the server's cache), from /proc/<pid>/status.
3. Restart: SIGTERM, start again on the same data dir; time to the listening line and to the
   first successful Encrypt and DescribeKey afterwards.

Targets (KMS issue): CreateKey >= 2,000 req/s; RSS with 100,000 keys < 300 MiB; restart < 1 s.
Usage: scripts/bench/kms_scale.py [--keys 100000]
"""

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import rss_mib, wrk  # noqa: E402
from kms_bench import BIN, kms_client, signed_headers, start  # noqa: E402


def created_count(endpoint):
    with urllib.request.urlopen(endpoint + "/_kmsnap/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'kmsnap_requests_total\{service="kms",operation="CreateKey",status="200"\} (\d+)', text)
    return int(m.group(1)) if m else 0


def list_key_arns(endpoint):
    kms = kms_client(endpoint)
    arns = []
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1000}):
        arns += [k["KeyArn"] for k in page["Keys"]]
    return arns


def encrypt_all(args):
    endpoint, arns = args
    kms = kms_client(endpoint)
    for arn in arns:
        kms.encrypt(KeyId=arn, Plaintext=b"x" * 64)
    return len(arns)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    d = tempfile.mkdtemp(prefix="kmsnap-scale-")
    p, endpoint = start(d)
    try:
        body = "{}"
        headers = signed_headers(endpoint, "CreateKey", body)
        t0 = time.perf_counter()
        first = None
        while created_count(endpoint) < args.keys:
            left = args.keys - created_count(endpoint)
            dur = 10 if first is None else max(2, min(30, int(left / max(first[0], 1)) + 1))
            rps, p99, non2xx, _ = wrk(endpoint, body, headers, dur, 8)
            if first is None:
                first = (rps, p99)
                print(f"CreateKey: {rps:,.0f} req/s, p99 {p99:.2f} ms (first {dur}s, 8 connections)")
        total = created_count(endpoint)
        took = time.perf_counter() - t0
        print(f"created {total:,} keys in {took:.1f}s ({total / took:,.0f}/s overall, incl. quota refusals at the end)")
        print(f"RSS after creating: {rss_mib(p.pid):.1f} MiB")

        arns = list_key_arns(endpoint)
        print(f"ListKeys: {len(arns):,} keys")
        chunks = [arns[i::args.workers] for i in range(args.workers)]
        t1 = time.perf_counter()
        with multiprocessing.Pool(args.workers) as pool:
            n = sum(pool.map(encrypt_all, [(endpoint, c) for c in chunks]))
        print(f"used every key once (Encrypt): {n:,} in {time.perf_counter() - t1:.1f}s")
        print(f"RSS with {len(arns):,} keys in use: {rss_mib(p.pid):.1f} MiB")

        p.terminate()
        p.wait()
        t2 = time.perf_counter()
        p, endpoint = start(d)
        listening = time.perf_counter() - t2
        kms = kms_client(endpoint)
        kms.encrypt(KeyId=arns[len(arns) // 2], Plaintext=b"y")
        first_encrypt = time.perf_counter() - t2
        kms.describe_key(KeyId=arns[-1])
        print(f"restart with {len(arns):,} keys: listening after {listening * 1000:.0f} ms, "
              f"first Encrypt after {first_encrypt * 1000:.0f} ms")
        print(f"idle RSS after restart: {rss_mib(p.pid):.1f} MiB; data dir {du(d)}")
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


def du(path):
    out = subprocess.run(["du", "-sh", path], capture_output=True, text=True).stdout.split()
    return out[0] if out else "?"


if __name__ == "__main__":
    main()
