#!/usr/bin/env python3
"""EBS snapshot copy benchmark for kmsnap (not a test), against the release binary on a fresh
data directory.

Issue #5's targets:
- a re-encrypting cross-region copy (ap-northeast-1 → us-west-2, customer key → another
  customer key) of a 4 GiB snapshot runs at ≥ 70% of the throughput of `cp` of the same bytes
  on the same disk, both measured in this run; the server's RSS stays < 256 MiB during it;
- a later copy of a child snapshot with 1% of its blocks changed, to the same destination key,
  takes ≤ 5% of the full copy's time.

The source snapshot is written through the EBS direct API (StartSnapshot, PutSnapshotBlock with
several threads, CompleteSnapshot), so its blocks are real sealed blob files in the data
directory. The `cp` baseline copies those very files (`cp -r` of the source region's blob
directory to a sibling directory on the same file system); it is reported both as `cp` alone
(the page cache absorbs the writes: nothing is on disk when it returns) and as `cp` + `sync`
(the bytes on disk, as the server's copy guarantees before it commits each batch). The copy is
timed from CopySnapshot to DescribeSnapshots showing `completed` (polled every 50 ms); the
server's RSS is sampled at the same time from /proc.

Note: `cp -r` is one thread; the server's copy uses every core (re-encryption on blocking
threads), so on a machine with more cores the ratio moves in the copy's favour.

Usage: scripts/bench/ebs_copy_bench.py [--gib 4] [--data-dir DIR] [--threads 8] [--json FILE]
                                       [--perf perf.data]
Needs: the e2e venv (boto3): tests/e2e/.venv/bin/python scripts/bench/ebs_copy_bench.py;
       target/release/kmsnap (cargo build --release -p kmsnap-server).
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KMSNAP_BIN", os.path.join(ROOT, "target", "release", "kmsnap"))
ACCOUNT = "864286428642"
TOKYO, OREGON = "ap-northeast-1", "us-west-2"
BLOCK = 524288


def start(data_dir):
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log", "warn"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    return p, line.split("listening on ", 1)[1]


def client(endpoint, service, region):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=ACCOUNT,
                        aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 2}, read_timeout=300, max_pool_connections=32))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) / 1024


def write_snapshot(endpoint, blocks, threads, parent=None, **enc):
    ebs = client(endpoint, "ebs", TOKYO)
    kw = {"ParentSnapshotId": parent} if parent else enc
    snap = ebs.start_snapshot(VolumeSize=max(1, (max(blocks) + 1 + 2047) // 2048), Timeout=600, **kw)["SnapshotId"]

    def put(index):
        data = blocks[index]() if callable(blocks[index]) else blocks[index]
        ebs.put_snapshot_block(SnapshotId=snap, BlockIndex=index, BlockData=data, DataLength=BLOCK,
                               Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                               ChecksumAlgorithm="SHA256")
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, sorted(blocks)))
    ebs.complete_snapshot(SnapshotId=snap, ChangedBlocksCount=len(blocks))
    wait(client(endpoint, "ec2", TOKYO), snap)
    return snap


def wait(ec2, snap, on_poll=None, timeout=3600):
    deadline = time.time() + timeout
    while True:
        s = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]
        if on_poll:
            on_poll(s)
        if s["State"] != "pending":
            if s["State"] != "completed":
                raise SystemExit(f"{snap} ended in {s['State']}: {s.get('StateMessage')}")
            return s
        if time.time() > deadline:
            raise SystemExit(f"{snap} still pending after {timeout}s")
        time.sleep(0.05)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_copy(endpoint, pid, source, key, perf=None):
    """CopySnapshot Tokyo → Oregon under `key`, timed to `completed`; returns (seconds, peak RSS
    MiB, server CPU seconds). `perf`: record the server with `perf record -g` into that file."""
    ec2 = client(endpoint, "ec2", OREGON)
    peak = [0.0]
    cpu0 = cpu_s(pid)

    def sample(_):
        peak[0] = max(peak[0], rss_mib(pid))
    prof = None
    if perf:
        prof = subprocess.Popen(["perf", "record", "-g", "-o", perf, "-p", str(pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    t0 = time.perf_counter()
    snap = ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=source, Encrypted=True, KmsKeyId=key)["SnapshotId"]
    wait(ec2, snap, on_poll=sample)
    took = time.perf_counter() - t0
    if prof:
        prof.send_signal(2)
        prof.wait()
    return took, peak[0], cpu_s(pid) - cpu0


def timed(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=4)
    ap.add_argument("--data-dir", help="parent directory for the run (default: a temp dir)")
    ap.add_argument("--threads", type=int, default=8, help="PutSnapshotBlock threads while preparing")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--perf", help="record the server during the full copy with `perf record -g` into this file")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="kmsnap-copy-bench-", dir=args.data_dir)
    data_dir = os.path.join(base, "data")
    proc, endpoint = start(data_dir)
    results = {"gib": args.gib, "cpus": os.cpu_count()}
    try:
        kms_t, kms_o = client(endpoint, "kms", TOKYO), client(endpoint, "kms", OREGON)
        src_key = kms_t.create_key(Description="bench source")["KeyMetadata"]["Arn"]
        dst_key = kms_o.create_key(Description="bench destination")["KeyMetadata"]["Arn"]
        n = args.gib * 2048
        print(f"writing a {args.gib} GiB snapshot ({n} blocks) through PutSnapshotBlock...", flush=True)
        t0 = time.perf_counter()
        source = write_snapshot(endpoint, {i: (lambda: os.urandom(BLOCK)) for i in range(n)}, args.threads,
                                Encrypted=True, KmsKeyArn=src_key)
        print(f"  {time.perf_counter() - t0:.1f}s", flush=True)
        blobs = os.path.join(data_dir, "blobs", TOKYO)
        size = int(subprocess.run(["du", "-sb", blobs], capture_output=True, text=True).stdout.split()[0])
        results["source_bytes"] = size
        idle = rss_mib(proc.pid)

        # cp baselines: three runs into fresh sibling directories (kept until the end: deleting
        # them would leave the copy creating inodes among recently deleted ones, which ext4
        # makes slower), median taken; each with and without its sync.
        cps, cp_syncs = [], []
        for run in range(3):
            subprocess.run("sync", shell=True, check=True)
            dst = os.path.join(base, f"cp-baseline-{run}")
            t = timed(f"cp -r {blobs} {dst}")
            cps.append(t)
            cp_syncs.append(t + timed("sync"))
        cp, cp_sync = sorted(cps)[1], sorted(cp_syncs)[1]
        print(f"  cp runs {[round(x, 2) for x in cps]}, with sync {[round(x, 2) for x in cp_syncs]}", flush=True)
        full, peak, cpu = timed_copy(endpoint, proc.pid, source, dst_key, perf=args.perf)
        mb = size / 1e6
        results.update({
            "cp_s": round(cp, 3), "cp_MBps": round(mb / cp), "cp_sync_s": round(cp_sync, 3),
            "cp_sync_MBps": round(mb / cp_sync),
            "copy_s": round(full, 3), "copy_MBps": round(mb / full),
            "copy_vs_cp": round(cp / full, 3), "copy_vs_cp_sync": round(cp_sync / full, 3),
            "rss_idle_MiB": round(idle, 1), "rss_peak_MiB": round(peak, 1), "copy_server_cpu_s": round(cpu, 2),
        })
        print(f"cp -r:          {cp:6.2f}s  {mb / cp:7.0f} MB/s")
        print(f"cp -r + sync:   {cp_sync:6.2f}s  {mb / cp_sync:7.0f} MB/s")
        print(f"CopySnapshot:   {full:6.2f}s  {mb / full:7.0f} MB/s  = {cp / full:.0%} of cp, "
              f"{cp_sync / full:.0%} of cp+sync; server RSS peak {peak:.0f} MiB (idle {idle:.0f}), "
              f"server CPU {cpu:.1f}s", flush=True)

        changed = sorted(range(0, n, 100))  # 1% of the blocks
        child = write_snapshot(endpoint, {i: os.urandom(BLOCK) for i in changed}, args.threads, parent=source)
        inc, _, _ = timed_copy(endpoint, proc.pid, child, dst_key)
        results.update({"incremental_blocks": len(changed), "incremental_s": round(inc, 3),
                        "incremental_vs_full": round(inc / full, 4)})
        print(f"incremental:    {inc:6.2f}s  ({len(changed)} changed blocks) = {inc / full:.1%} of the full copy")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        print(json.dumps(results))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
