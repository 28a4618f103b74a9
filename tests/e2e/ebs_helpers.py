"""Helpers the EBS end-to-end tests share (test_ebs_copy_share.py, test_ebs_key_state_audit.py):
blocks written and read through the EBS direct API, and waiting for a snapshot to leave
`pending`. Accounts, regions and clients stay each test file's own and are passed in."""

import base64
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import make_client


def checksum(data):
    """The base64 SHA-256 that PutSnapshotBlock's Checksum and GetSnapshotBlock's answer carry."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put_block(ebs, snap_id, index, data, **kw):
    return ebs.put_snapshot_block(SnapshotId=snap_id, BlockIndex=index, BlockData=data, DataLength=len(data),
                                  Checksum=checksum(data), ChecksumAlgorithm="SHA256", **kw)


def put_blocks(ebs, snap_id, blocks, threads=4):
    """Writes `blocks` ({index: data}) with `threads` parallel uploaders."""
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda item: put_block(ebs, snap_id, *item), blocks.items()))


def wait_snapshot(ec2, snap_id, timeout=120, observe=None):
    """Polls DescribeSnapshots until the snapshot leaves `pending`; `observe(snapshot)` sees every
    answer on the way."""
    deadline = time.time() + timeout
    while True:
        s = ec2.describe_snapshots(SnapshotIds=[snap_id])["Snapshots"][0]
        if observe:
            observe(s)
        if s["State"] != "pending":
            return s
        assert time.time() < deadline, f"{snap_id} still pending: {s}"
        time.sleep(0.05)


def direct_snapshot(server, account, blocks, size=1, region="ap-northeast-1", **start):
    """A completed snapshot of `account` in `region` written through StartSnapshot (`start`: its
    other parameters) / PutSnapshotBlock / CompleteSnapshot, which answers `pending` until the
    snapshot is done."""
    ebs = make_client(server, "ebs", account=account, region=region)
    snap_id = ebs.start_snapshot(VolumeSize=size, **start)["SnapshotId"]
    put_blocks(ebs, snap_id, blocks)
    assert ebs.complete_snapshot(SnapshotId=snap_id, ChangedBlocksCount=len(blocks))["Status"] == "pending"
    s = wait_snapshot(make_client(server, "ec2", account=account, region=region), snap_id)
    assert s["State"] == "completed", s
    return snap_id


def block_tokens(ebs, snap_id):
    """{index: block token} of every block of the snapshot (ListSnapshotBlocks, all pages)."""
    tokens, kw = {}, {}
    while True:
        page = ebs.list_snapshot_blocks(SnapshotId=snap_id, MaxResults=10000, **kw)
        tokens.update({b["BlockIndex"]: b["BlockToken"] for b in page["Blocks"]})
        if not page.get("NextToken"):
            return tokens
        kw = {"NextToken": page["NextToken"]}


def read_block(ebs, snap_id, index, token):
    """GetSnapshotBlock's data, whose Checksum header must match it."""
    r = ebs.get_snapshot_block(SnapshotId=snap_id, BlockIndex=index, BlockToken=token)
    data = r["BlockData"].read()
    assert r["Checksum"] == checksum(data)
    return data
