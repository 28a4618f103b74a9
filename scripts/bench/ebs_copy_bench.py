#!/usr/bin/env python3
"""EBS snapshot copy benchmark for kmsnap (not a test), against the release binary on a fresh
data directory.

Issue #17's method and targets (replacing issue #5's `cp` baseline, which read a source still in
the page cache while the server reads with O_DIRECT, and so was not the same work):
- a re-encrypting cross-region copy (ap-northeast-1 → us-west-2, customer key → another
  customer key) of a 4 GiB snapshot runs at ≥ 90 % of the baseline: `dd iflag=direct
  oflag=direct` of the very same bytes (the source region's blob files) on the same disk. Neither
  side reads from the page cache, and both write past it (the copy makes its blobs durable before
  it commits them; dd's O_DIRECT writes reach the device before it returns);
- the server writes ≤ 1.1 bytes per byte copied (`write_bytes` of /proc/<pid>/io over the copy,
  divided by the source's blob bytes);
- a later copy of a child snapshot with 1 % of its blocks changed, to the same destination key,
  takes ≤ 5 % of the full copy's time; the server's RSS stays < 256 MiB.

Both sides run --runs times (default 3), alternating (dd, copy, dd, copy, …) so drift of the
machine touches both alike; each copy goes to a new destination key, so every run is a full
re-encryption (a copy to a key that already holds the lineage would copy only changed blocks).
Reported: median and spread (min–max) of each side, the ratio of the medians, and the median
bytes-written ratio. The source snapshot is written through the EBS direct API (StartSnapshot,
PutSnapshotBlock with several threads, CompleteSnapshot), so its blocks are real sealed blob
files in the data directory. A copy is timed from CopySnapshot to DescribeSnapshots showing
`completed` (polled every 50 ms); the server's RSS is sampled at the same time from /proc.

Usage: scripts/bench/ebs_copy_bench.py [--gib 4] [--runs 3] [--data-dir DIR] [--threads 8]
                                       [--json FILE] [--perf perf.data]
Needs: the e2e venv (boto3): tests/e2e/.venv/bin/python scripts/bench/ebs_copy_bench.py;
       target/release/kmsnap (cargo build --release -p kmsnap-server), or KMSNAP_BIN; GNU dd.
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
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


def write_bytes(pid):
    """Bytes the process caused to be sent to the storage layer (/proc/<pid>/io)."""
    with open(f"/proc/{pid}/io") as f:
        return int(dict(line.split(": ", 1) for line in f.read().splitlines())["write_bytes"])


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_copy(endpoint, pid, source, key, perf=None):
    """CopySnapshot Tokyo → Oregon under `key`, timed to `completed`; returns (seconds, peak RSS
    MiB, server CPU seconds, bytes the server wrote). `perf`: record the server with
    `perf record -g` into that file."""
    ec2 = client(endpoint, "ec2", OREGON)
    peak = [0.0]
    cpu0, written0 = cpu_s(pid), write_bytes(pid)

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
    return took, peak[0], cpu_s(pid) - cpu0, write_bytes(pid) - written0


def dd_copy(src_dir, dst_dir):
    """The baseline: every file of `src_dir` copied into `dst_dir` by `dd iflag=direct
    oflag=direct` (4 MiB blocks), one file after another; returns the seconds taken."""
    os.makedirs(dst_dir)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src_dir) for f in fs)
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        subprocess.run(["dd", f"if={f}", f"of={os.path.join(dst_dir, str(i))}", "bs=4M",
                        "iflag=direct", "oflag=direct", "status=none"], check=True)
    return time.perf_counter() - t0


def spread(xs):
    """`median (min–max)` of a list of seconds."""
    return f"{statistics.median(xs):.2f}s ({min(xs):.2f}–{max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=4)
    ap.add_argument("--data-dir", help="parent directory for the run (default: a temp dir)")
    ap.add_argument("--runs", type=int, default=3, help="dd and copy runs, alternating")
    ap.add_argument("--threads", type=int, default=8, help="PutSnapshotBlock threads while preparing")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--perf", help="record the server during the first full copy with `perf record -g` into this file")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="kmsnap-copy-bench-", dir=args.data_dir)
    data_dir = os.path.join(base, "data")
    proc, endpoint = start(data_dir)
    results = {"gib": args.gib, "cpus": os.cpu_count()}
    try:
        kms_t, kms_o = client(endpoint, "kms", TOKYO), client(endpoint, "kms", OREGON)
        src_key = kms_t.create_key(Description="bench source")["KeyMetadata"]["Arn"]
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

        # Alternating runs: dd of the source's blob files, then a full re-encrypting copy to a
        # fresh key. dd's output is removed after each run (it is not part of the comparison).
        dds, copies, ratios, peaks, cpus = [], [], [], [], []
        for run in range(args.runs):
            dst = os.path.join(base, f"dd-baseline-{run}")
            dds.append(dd_copy(blobs, dst))
            shutil.rmtree(dst)
            key = kms_o.create_key(Description=f"bench destination {run}")["KeyMetadata"]["Arn"]
            took, peak, cpu, written = timed_copy(endpoint, proc.pid, source, key,
                                                  perf=args.perf if run == 0 else None)
            copies.append(took)
            ratios.append(written / size)
            peaks.append(peak)
            cpus.append(cpu)
            print(f"  run {run + 1}: dd {dds[-1]:.2f}s, copy {took:.2f}s, {ratios[-1]:.3f} bytes written per byte",
                  flush=True)
        mb = size / 1e6
        dd, full = statistics.median(dds), statistics.median(copies)
        results.update({
            "runs": args.runs, "dd_s": [round(x, 3) for x in dds], "copy_s": [round(x, 3) for x in copies],
            "dd_median_MBps": round(mb / dd), "copy_median_MBps": round(mb / full),
            "copy_vs_dd": round(dd / full, 3),
            "written_per_byte": [round(x, 3) for x in ratios],
            "written_per_byte_median": round(statistics.median(ratios), 3),
            "rss_idle_MiB": round(idle, 1), "rss_peak_MiB": round(max(peaks), 1),
            "copy_server_cpu_s_median": round(statistics.median(cpus), 2),
        })
        print(f"dd direct:      {spread(dds)}  {mb / dd:7.0f} MB/s (median)")
        print(f"CopySnapshot:   {spread(copies)}  {mb / full:7.0f} MB/s (median) = {dd / full:.0%} of dd; "
              f"{statistics.median(ratios):.3f} bytes written per byte copied; "
              f"server RSS peak {max(peaks):.0f} MiB (idle {idle:.0f}), server CPU {statistics.median(cpus):.1f}s",
              flush=True)

        changed = sorted(range(0, n, 100))  # 1% of the blocks
        child = write_snapshot(endpoint, {i: os.urandom(BLOCK) for i in changed}, args.threads, parent=source)
        # To the last run's key, which already holds the lineage: only the changed blocks move.
        inc, _, _, _ = timed_copy(endpoint, proc.pid, child, key)
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
