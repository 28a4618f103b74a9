#!/usr/bin/env python3
"""KMS crypto load benchmark for kmsnap (not a test): Encrypt, Decrypt and GenerateDataKey over
HTTP with SigV4, with wrk, against the release binary on a fresh data dir; also Sign with an
ECC_NIST_P256 key, GenerateMac with an HMAC_256 key (issue #16: >= 20,000 req/s each at 8
connections) and Sign with an RSA_2048 key (held against `openssl speed -seconds 3 rsa2048`).

The KMS issue's target: >= 40,000 req/s each, p99 <= 5 ms, 8 connections, 64-byte plaintexts, on
the project's 2-core machine. Figures depend on what else the machine is doing (wrk itself takes
one of the two cores' worth of time); run on an idle machine.

A key is created with boto3 (CreateKey), a ciphertext made with boto3 (Encrypt); then for each
case one request is signed once by botocore and replayed by wrk: the server verifies the SigV4
signature on every request (SigV4 has no replay protection inside its 15-minute window, on AWS
either), so the figure includes authentication, routing, decoding, the crypto and encoding.

Usage: scripts/bench/kms_bench.py [--duration 10] [--connections 8] [--case NAME ...]
Needs: wrk (apt-get install wrk), the e2e venv (boto3), target/release/kmsnap
       (cargo build --release --bin kmsnap).
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import parse_wrk, rss_mib, wrk  # noqa: E402  (same wrk driver and output parsing)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KMSNAP_BIN", os.path.join(ROOT, "target", "release", "kmsnap"))
ACCOUNT = "111111111111"
REGION = "us-east-1"
TARGET_RPS = 40_000
TARGET_P99_MS = 5.0


def start(data_dir):
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log", "warn"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if "listening on " not in line:
        p.kill()
        sys.exit(f"server did not start: {line!r}")
    return p, line.split("listening on ", 1)[1]


def server_cpu_seconds(pid):
    """CPU time of every thread of `pid` so far, from the scheduler's exact per-thread runtime
    (/proc/<pid>/task/*/schedstat; tick-sampled utime/stime is too coarse for µs per request)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just exited
    return total / 1e9


def kms_client(endpoint):
    return boto3.client("kms", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCOUNT,
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))


def signed_headers(endpoint, target, body):
    if target == "sts:GetCallerIdentity":
        service, headers = "sts", {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    else:
        service, headers = "kms", {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{target}"}
    creds = botocore.credentials.Credentials(ACCOUNT, "test")
    req = botocore.awsrequest.AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    botocore.auth.SigV4Auth(creds, service, REGION).add_auth(req)
    return dict(req.prepare().headers)


def cases(kms, key_arn):
    plaintext = os.urandom(64)
    blob = kms.encrypt(KeyId=key_arn, Plaintext=plaintext)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    return {
        "Encrypt-64B": ("Encrypt", {"KeyId": key_arn, "Plaintext": b64(plaintext)}),
        "Decrypt": ("Decrypt", {"CiphertextBlob": b64(blob)}),
        "GenerateDataKey-AES_256": ("GenerateDataKey", {"KeyId": key_arn, "KeySpec": "AES_256"}),
        # Issue #16's keys; the 40k req/s target is the symmetric operations' only.
        "Sign-ECC_NIST_P256": ("Sign", {"KeyId": ecc, "Message": b64(plaintext), "SigningAlgorithm": "ECDSA_SHA_256"}),
        "GenerateMac-HMAC_256": ("GenerateMac", {"KeyId": mac, "Message": b64(plaintext), "MacAlgorithm": "HMAC_SHA_256"}),
        # Compare with `openssl speed -seconds 3 rsa2048` sign/s × cores (issue #16).
        "Sign-RSA_2048": ("Sign", {"KeyId": rsa, "Message": b64(plaintext), "SigningAlgorithm": "RSASSA_PSS_SHA_256"}),
    }


# Cases measured without a target (informational).
NO_TARGET = ("baseline-", "Sign-", "GenerateMac-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--case", action="append",
                    help="Encrypt-64B, Decrypt, GenerateDataKey-AES_256, Sign-ECC_NIST_P256, GenerateMac-HMAC_256, "
                         "Sign-RSA_2048")
    ap.add_argument("--baseline", action="store_true",
                    help="also run sts GetCallerIdentity: the same HTTP + SigV4 + codec path with no domain work, "
                         "i.e. the ceiling any KMS operation can reach on this machine")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} not built: cargo build --release --bin kmsnap")

    d = tempfile.mkdtemp(prefix="kmsnap-kms-bench-")
    p, endpoint = start(d)
    failed = False
    try:
        kms = kms_client(endpoint)
        key_arn = kms.create_key(Description="kms_bench")["KeyMetadata"]["Arn"]
        all_cases = cases(kms, key_arn)
        time.sleep(0.2)
        print(f"server {endpoint}, key {key_arn}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        names = list(args.case or all_cases)
        if args.baseline:
            names.append("baseline-sts-GetCallerIdentity")
        for name in names:
            if name.startswith("baseline-"):
                target, body = "sts:GetCallerIdentity", "Action=GetCallerIdentity&Version=2011-06-15"
            else:
                target, body = all_cases[name]
                body = json.dumps(body)
            h = signed_headers(endpoint, target, body)
            cpu0 = server_cpu_seconds(p.pid)
            rps, p99, non2xx, out = wrk(endpoint, body, h, args.duration, args.connections)
            cpu = server_cpu_seconds(p.pid) - cpu0
            n = parse_wrk(out)["requests"]
            per_req = f", server CPU {cpu / n * 1e6:.1f} µs/req" if n else ""
            ok = rps >= TARGET_RPS and p99 <= TARGET_P99_MS and non2xx == 0
            informational = name.startswith(NO_TARGET)
            failed |= not ok and not informational
            verdict = (f"no target, non-2xx {non2xx}" if informational
                       else f"{'meets' if ok else 'BELOW'} target {TARGET_RPS:,} req/s, p99 {TARGET_P99_MS} ms")
            print(f"{name}: {rps:,.0f} req/s, p99 {p99:.2f} ms, non-2xx {non2xx}{per_req} "
                  f"({args.connections} connections, {args.duration}s, load average {os.getloadavg()[0]:.2f}) [{verdict}]")
        print(f"RSS after load: {rss_mib(p.pid):.1f} MiB")
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
