"""The server reclaims orphan blocks on its own, while it runs (issue #13 item 7, "Killed copies
leak space"; docs/blob-collection.md).

A 1 GiB encrypted snapshot is copied from Tokyo to Oregon (re-encrypted block by block) and the
server is killed with SIGKILL several times mid-copy: each kill leaves the blobs of the batches
the copy had stored but not yet committed, which `kmsnap fsck` (server down) lists as orphans.
After the last restart the copy finishes, a snapshot is written and deleted, and — without
stopping the server — the block directories shrink back to exactly the blocks the two
snapshots reference, within a minute (the collector sweeps every 2 s here). Every block of the
source and of the copy still reads back as written, and `kmsnap fsck` then finds no orphan.

Account 135713571360, on a server of its own."""

import hashlib
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blob_layout import stored_blobs
from conftest import BIN, make_client
from ebs_helpers import block_tokens, direct_snapshot, put_block, read_block, wait_snapshot

ACCOUNT = "135713571360"
TOKYO = "ap-northeast-1"
OREGON = "us-west-2"
BLOCK = 524288
BLOCKS = 2048


def fsck(data_dir):
    """`kmsnap fsck` of a stopped server's data directory: (exit status, orphans it counted)."""
    r = subprocess.run([BIN, "fsck", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=600,
                       env={k: v for k, v in os.environ.items() if k != "KMSNAP_ROOT_KEY"})
    m = re.search(r"^fsck: OK \((\d+) orphans\)$", r.stdout, re.M)
    assert m, r.stdout[-3000:] + r.stderr[-3000:]
    return r.returncode, int(m.group(1))


def stored(data_dir, region):
    """How many blobs the region's block directory holds (blob_layout's on-disk view)."""
    return len(stored_blobs(Path(data_dir) / "blobs" / region / "blocks"))


def read_digests(server, region, snap_id):
    ebs = make_client(server, "ebs", account=ACCOUNT, region=region)
    tokens = block_tokens(ebs, snap_id)

    def get(index):
        return index, hashlib.sha256(read_block(ebs, snap_id, index, tokens[index])).hexdigest()
    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(get, sorted(tokens)))


def test_killed_copies_leave_no_orphans_once_the_server_runs_again(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    srv = fresh_server(data_dir=str(data_dir), env={"KMSNAP_GC_INTERVAL_SECONDS": "2"})
    ebs = make_client(srv, "ebs", account=ACCOUNT, region=TOKYO)
    source = ebs.start_snapshot(VolumeSize=1, Encrypted=True)["SnapshotId"]
    want = {}
    lock = threading.Lock()

    def put(index):
        data = os.urandom(BLOCK)
        put_block(ebs, source, index, data)
        with lock:
            want[index] = hashlib.sha256(data).hexdigest()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(BLOCKS)))
    ebs.complete_snapshot(SnapshotId=source, ChangedBlocksCount=BLOCKS)
    assert wait_snapshot(make_client(srv, "ec2", account=ACCOUNT, region=TOKYO), source)["State"] == "completed"

    oregon = make_client(srv, "ec2", account=ACCOUNT, region=OREGON)
    copy = oregon.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=source)["SnapshotId"]

    # Kill the server mid-copy, up to three times, each time further along; while it is down,
    # fsck counts what the kill left (the blobs of batches stored but not committed).
    kills, last, left = 0, 0, []
    deadline = time.time() + 240
    while kills < 3 and time.time() < deadline:
        s = oregon.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]
        if s["State"] != "pending":
            break
        progress = int(s["Progress"].rstrip("%") or 0)
        if max(1, last + 5) <= progress <= 95:
            srv.kill9()
            kills, last = kills + 1, progress
            status, orphans = fsck(data_dir)
            assert status == 0, "the copy's committed blocks are intact"
            left.append(orphans)
            srv.start()
            oregon = make_client(srv, "ec2", account=ACCOUNT, region=OREGON)
            continue
        time.sleep(0.01)
    assert kills >= 1, "the copy ended before it could be interrupted"
    assert sum(left) > 0, f"the kills left orphan blocks: {left}"

    done = wait_snapshot(oregon, copy, timeout=300)
    assert done["State"] == "completed", done
    # A deleted snapshot's blocks are orphans too.
    gone = direct_snapshot(srv, ACCOUNT, {i: os.urandom(BLOCK) for i in range(16)}, region=TOKYO)
    make_client(srv, "ec2", account=ACCOUNT, region=TOKYO).delete_snapshot(SnapshotId=gone)

    # Without stopping the server: only the referenced blocks are left, soon.
    deadline = time.time() + 60
    while (stored(data_dir, TOKYO), stored(data_dir, OREGON)) != (BLOCKS, BLOCKS):
        assert time.time() < deadline, (
            f"orphans still there after 60 s: {stored(data_dir, TOKYO)} blocks in Tokyo, "
            f"{stored(data_dir, OREGON)} in Oregon; {BLOCKS} each are referenced")
        time.sleep(0.5)
    status, body = srv.get("/_kmsnap/metrics")
    reclaimed = re.search(r"^kmsnap_blob_gc_deleted_blobs_total (\d+)$", body.decode(), re.M)
    assert status == 200 and reclaimed and int(reclaimed.group(1)) >= 16, body.decode()[-1500:]

    assert read_digests(srv, TOKYO, source) == want
    assert read_digests(srv, OREGON, copy) == want

    srv.stop()
    assert fsck(data_dir) == (0, 0)
