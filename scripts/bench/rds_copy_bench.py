#!/usr/bin/env python3
"""RDS DB snapshot copy benchmark for kmsnap (not a test), against the release binary on a fresh
data directory.

Issue #6's target: a snapshot copy of a DB with 2 GiB of data, cross-region (ap-northeast-1 →
us-west-2) and re-keyed (customer key → a customer key of the destination region), at the EBS
issue's throughput target: ≥ 70% of the throughput of `cp` of the same bytes on the same disk,
both measured in this run.

A postgres DB instance encrypted under a Tokyo customer key gets --gib GiB of random bytes through
`kmsnap db import`; CreateDBSnapshot seals them into a DB snapshot. The `cp` baseline copies the
source region's blob files (`cp -r` to a sibling directory, median of three, with and without
`sync`), as ebs_copy_bench.py does. CopyDBSnapshot (source as ARN, SourceRegion so boto3 adds a
PreSignedUrl, KmsKeyId of Oregon) is timed until DescribeDBSnapshots shows `available` (polled
every 50 ms); the server's RSS is sampled meanwhile. Finally the copy is restored in Oregon and
`kmsnap db export` checks the bytes.

Usage: tests/e2e/.venv/bin/python scripts/bench/rds_copy_bench.py [--gib 2] [--data-dir DIR]
Needs: the e2e venv (boto3), target/release/kmsnap.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ebs_copy_bench import BIN, TOKYO, OREGON, ACCOUNT, start, client, rss_mib, cpu_s, timed  # noqa: E402


def cli(endpoint, region, *args):
    creds = ["--endpoint", endpoint, "--region", region, "--access-key", ACCOUNT, "--secret-key", "test"]
    subprocess.run([BIN, *args, *creds], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_snapshot(rds, name, on_poll=None, timeout=3600):
    deadline = time.time() + timeout
    while True:
        s = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
        if on_poll:
            on_poll(s)
        if s["Status"] == "available":
            return s
        if s["Status"] not in ("creating", "copying", "pending"):
            raise SystemExit(f"{name} ended in {s['Status']}")
        if time.time() > deadline:
            raise SystemExit(f"{name} not available after {timeout}s")
        time.sleep(0.05)


def sha256_file(path, limit):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = limit
        while left:
            chunk = f.read(min(left, 1 << 22))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=2)
    ap.add_argument("--data-dir", help="parent directory for the run (default: a temp dir)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="kmsnap-rds-bench-", dir=args.data_dir)
    data_dir = os.path.join(base, "data")
    proc, endpoint = start(data_dir)
    results = {"gib": args.gib, "cpus": os.cpu_count()}
    try:
        rds_t, rds_o = client(endpoint, "rds", TOKYO), client(endpoint, "rds", OREGON)
        src_key = client(endpoint, "kms", TOKYO).create_key(Description="bench source")["KeyMetadata"]["Arn"]
        dst_key = client(endpoint, "kms", OREGON).create_key(Description="bench destination")["KeyMetadata"]["Arn"]
        rds_t.create_db_instance(DBInstanceIdentifier="bench", Engine="postgres", DBInstanceClass="db.t3.micro",
                                 AllocatedStorage=max(20, args.gib + 1), MasterUsername="postgres",
                                 MasterUserPassword="bench-pw-1", StorageEncrypted=True, KmsKeyId=src_key)
        rds_t.get_waiter("db_instance_available").wait(DBInstanceIdentifier="bench",
                                                       WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        image = os.path.join(base, "db.img")
        with open(image, "wb") as f:
            for _ in range(args.gib * 256):
                f.write(os.urandom(1 << 22))
        size = os.path.getsize(image)
        digest = sha256_file(image, size)
        print(f"importing {args.gib} GiB into the DB...", flush=True)
        t0 = time.perf_counter()
        cli(endpoint, TOKYO, "db", "import", "bench", image)
        print(f"  {time.perf_counter() - t0:.1f}s", flush=True)
        rds_t.create_db_snapshot(DBSnapshotIdentifier="bench-snap", DBInstanceIdentifier="bench")
        src = wait_snapshot(rds_t, "bench-snap")
        blobs = os.path.join(data_dir, "blobs", TOKYO)
        disk = int(subprocess.run(["du", "-sb", blobs], capture_output=True, text=True).stdout.split()[0])
        results["source_blob_bytes"] = disk
        idle = rss_mib(proc.pid)

        cps, cp_syncs = [], []
        for run in range(3):
            subprocess.run("sync", shell=True, check=True)
            t = timed(f"cp -r {blobs} {os.path.join(base, f'cp-baseline-{run}')}")
            cps.append(t)
            cp_syncs.append(t + timed("sync"))
        cp, cp_sync = sorted(cps)[1], sorted(cp_syncs)[1]
        print(f"  cp runs {[round(x, 2) for x in cps]}, with sync {[round(x, 2) for x in cp_syncs]}", flush=True)

        peak = [0.0]
        cpu0 = cpu_s(proc.pid)
        t0 = time.perf_counter()
        rds_o.copy_db_snapshot(SourceDBSnapshotIdentifier=src["DBSnapshotArn"], TargetDBSnapshotIdentifier="bench-copy",
                               KmsKeyId=dst_key, SourceRegion=TOKYO)
        wait_snapshot(rds_o, "bench-copy", on_poll=lambda _: peak.__setitem__(0, max(peak[0], rss_mib(proc.pid))))
        took = time.perf_counter() - t0
        cpu = cpu_s(proc.pid) - cpu0
        mb = disk / 1e6
        results.update({
            "cp_s": round(cp, 3), "cp_MBps": round(mb / cp), "cp_sync_s": round(cp_sync, 3),
            "cp_sync_MBps": round(mb / cp_sync), "copy_s": round(took, 3), "copy_MBps": round(mb / took),
            "copy_vs_cp": round(cp / took, 3), "copy_vs_cp_sync": round(cp_sync / took, 3),
            "rss_idle_MiB": round(idle, 1), "rss_peak_MiB": round(peak[0], 1), "copy_server_cpu_s": round(cpu, 2),
        })
        print(f"cp -r:            {cp:6.2f}s  {mb / cp:7.0f} MB/s")
        print(f"cp -r + sync:     {cp_sync:6.2f}s  {mb / cp_sync:7.0f} MB/s")
        print(f"CopyDBSnapshot:   {took:6.2f}s  {mb / took:7.0f} MB/s  = {cp / took:.0%} of cp, "
              f"{cp_sync / took:.0%} of cp+sync; server RSS peak {peak[0]:.0f} MiB (idle {idle:.0f}), "
              f"server CPU {cpu:.1f}s", flush=True)

        rds_o.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="bench-restored", DBSnapshotIdentifier="bench-copy")
        rds_o.get_waiter("db_instance_available").wait(DBInstanceIdentifier="bench-restored",
                                                       WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        out = os.path.join(base, "out.img")
        cli(endpoint, OREGON, "db", "export", "bench-restored", out)
        same = sha256_file(out, size) == digest
        results["restored_bytes_identical"] = same
        print(f"restored in {OREGON}: bytes identical: {same}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        print(json.dumps(results))
        return 0 if same else 1
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
