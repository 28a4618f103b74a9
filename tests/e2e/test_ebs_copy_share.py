"""EBS snapshot copy and sharing (issue #5 "Copy and share", "Crash safety"; docs/ebs.md
§6–§7), with boto3 against the real binary.

The central scenario: snapshots with real data written in Tokyo (ap-northeast-1) through the EBS
direct API under the AWS managed key, a customer single-region key and a multi-region key are
copied to Oregon (us-west-2) under keys valid there (aws/ebs there, an Oregon customer key, the
MRK's replica) and read back block for block; a Tokyo key named for the cross-region copy ends
in `error`; sharing is refused for aws/ebs and `all` for encrypted snapshots; a snapshot shared
with another account copies under that account's key only once the owner's key policy admits
it; a later copy of the same lineage re-encrypts only the changed blocks; and a 1 GiB copy
survives kill -9.

Accounts: 135713571357 (owner; scenario and sharing), 135713571358 (incremental copy),
135713571359 (crash test, on a server of its own), 999999999999 (recipient; it uses only keys
and snapshots made here). No other test uses them."""

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from blob_layout import stored_blobs
from conftest import cross_account_key_policy, make_client
from ebs_helpers import block_tokens, direct_snapshot, put_block, read_block, wait_snapshot

OWNER = "135713571357"
INCREMENTAL = "135713571358"
CRASH = "135713571359"
RECIPIENT = "999999999999"
TOKYO = "ap-northeast-1"
OREGON = "us-west-2"
BLOCK = 524288
NOT_ACCESSIBLE = "Given key ID is not accessible"


def client(server, service, account=OWNER, region=TOKYO):
    return make_client(server, service, account=account, region=region)


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def block_data(seed, index):
    """Deterministic, incompressible-looking 512 KiB for (seed, index)."""
    head = hashlib.sha256(f"{seed}/{index}".encode()).digest()
    return (head * (BLOCK // len(head)))[:BLOCK]


def read_digests(server, account, region, snap_id):
    """SHA-256 of every block of the snapshot, read through the EBS direct API."""
    ebs = client(server, "ebs", account=account, region=region)
    tokens = block_tokens(ebs, snap_id)

    def get(index):
        return index, hashlib.sha256(read_block(ebs, snap_id, index, tokens[index])).hexdigest()
    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(get, sorted(tokens)))


def digests(blocks):
    return {i: hashlib.sha256(d).hexdigest() for i, d in blocks.items()}


def copy(server, account, source_id, region=OREGON, **kw):
    """CopySnapshot from Tokyo with an ec2 client of `region` (boto3 adds PresignedUrl and
    DestinationRegion by itself); waits for the outcome."""
    ec2 = client(server, "ec2", account=account, region=region)
    snap_id = ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=source_id, **kw)["SnapshotId"]
    return wait_snapshot(ec2, snap_id)


def blob_files(server, region):
    """The blobs the region's blob location holds, each as (file, offset): count new ones as a
    set difference, since the server's blob collector may delete other tests' orphans at any
    time (docs/blob-collection.md), and never reuses a slot or file name for a new blob."""
    return {(b.path, b.offset) for b in stored_blobs(Path(server.data_dir) / "blobs" / region)}


def sparse_blocks(seed, count=12):
    return {i * 37 % 2048: block_data(seed, i) for i in range(count)}


# --- the central scenario -----------------------------------------------------------------------

def test_tokyo_snapshots_copy_to_oregon_under_keys_valid_there(server):
    kms_tokyo = client(server, "kms")
    kms_oregon = client(server, "kms", region=OREGON)
    customer_tokyo = kms_tokyo.create_key(Description="ebs copy: tokyo customer")["KeyMetadata"]["Arn"]
    mrk = kms_tokyo.create_key(Description="ebs copy: mrk", MultiRegion=True)["KeyMetadata"]["Arn"]
    replica = kms_tokyo.replicate_key(KeyId=mrk, ReplicaRegion=OREGON)["ReplicaKeyMetadata"]["Arn"]
    customer_oregon = kms_oregon.create_key(Description="ebs copy: oregon customer")["KeyMetadata"]["Arn"]
    for _ in range(100):
        if kms_oregon.describe_key(KeyId=replica)["KeyMetadata"]["KeyState"] == "Enabled":
            break
        time.sleep(0.1)

    data = {name: sparse_blocks(f"scenario-{name}") for name in ("managed", "customer", "mrk")}
    sources = {
        "managed": direct_snapshot(server, OWNER, data["managed"], Encrypted=True),
        "customer": direct_snapshot(server, OWNER, data["customer"], KmsKeyArn=customer_tokyo, Encrypted=True),
        "mrk": direct_snapshot(server, OWNER, data["mrk"], KmsKeyArn=mrk, Encrypted=True),
    }
    ec2_tokyo = client(server, "ec2")
    managed_tokyo = ec2_tokyo.describe_snapshots(SnapshotIds=[sources["managed"]])["Snapshots"][0]["KmsKeyId"]
    assert kms_tokyo.describe_key(KeyId=managed_tokyo)["KeyMetadata"]["KeyManager"] == "AWS"

    copies = {
        "managed": copy(server, OWNER, sources["managed"]),  # no key: Oregon's aws/ebs
        "customer": copy(server, OWNER, sources["customer"], Encrypted=True, KmsKeyId=customer_oregon),
        "mrk": copy(server, OWNER, sources["mrk"], Encrypted=True, KmsKeyId=replica),
    }
    aws_ebs_oregon = kms_oregon.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    expected_keys = {"managed": aws_ebs_oregon, "customer": customer_oregon, "mrk": replica}
    for name, c in copies.items():
        assert c["State"] == "completed", (name, c)
        assert (c["Progress"], c["Encrypted"], c["KmsKeyId"], c["OwnerId"]) == ("100%", True, expected_keys[name], OWNER)
        assert c["VolumeId"] == "vol-ffffffff"
        assert read_digests(server, OWNER, OREGON, c["SnapshotId"]) == digests(data[name]), name

    # A Tokyo key for the Oregon copy: accepted, then `error` with AWS's message.
    failed = copy(server, OWNER, sources["customer"], Encrypted=True, KmsKeyId=customer_tokyo)
    assert failed["State"] == "error"
    assert failed["StateMessage"] == NOT_ACCESSIBLE

    # Copies of encrypted snapshots never become unencrypted.
    still = copy(server, OWNER, sources["customer"], Encrypted=False)
    assert (still["State"], still["Encrypted"], still["KmsKeyId"]) == ("completed", True, aws_ebs_oregon)

    # The CopySnapshot call is in the trail, without the presigned URL boto3 added.
    trail = client(server, "cloudtrail", region=OREGON)
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CopySnapshot"}])["Events"]
    assert events
    logged = json.loads(events[0]["CloudTrailEvent"])
    assert logged["eventSource"] == "ec2.amazonaws.com"
    assert "presignedUrl" not in json.dumps(logged["requestParameters"])
    assert logged["requestParameters"]["sourceRegion"] == TOKYO


def test_copy_request_errors(server):
    ec2 = client(server, "ec2", region=OREGON)
    src = direct_snapshot(server, OWNER, {0: block_data("errors", 0)})
    code, message = error(lambda: ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=src, KmsKeyId="alias/aws/ebs"))
    assert code == "InvalidParameterDependency", message
    code, _ = error(lambda: ec2.copy_snapshot(SourceRegion=OREGON, SourceSnapshotId=src))
    assert code == "InvalidSnapshot.NotFound"
    code, _ = error(lambda: ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId="snap-0123456789abcdef0"))
    assert code == "InvalidSnapshot.NotFound"
    code, _ = error(lambda: ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=src, DryRun=True))
    assert code == "DryRunOperation"
    # An unencrypted copy with tags of its own (the source's are not copied) and a description.
    r = ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=src, Description="mine",
                          TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert r["Tags"] == [{"Key": "k", "Value": "v"}]
    s = wait_snapshot(ec2, r["SnapshotId"])
    assert (s["State"], s["Encrypted"], s["Description"]) == ("completed", False, "mine")
    assert s["Tags"] == [{"Key": "k", "Value": "v"}]
    default = wait_snapshot(ec2, ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=src)["SnapshotId"])
    assert default["Description"] == f"[Copied {src} from {TOKYO}]"
    # Asked to encrypt: the destination's default key.
    enc = wait_snapshot(ec2, ec2.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=src, Encrypted=True)["SnapshotId"])
    assert enc["State"] == "completed" and enc["Encrypted"] and enc["KmsKeyId"].startswith(f"arn:aws:kms:{OREGON}:{OWNER}:key/")


# --- sharing ------------------------------------------------------------------------------------

def test_sharing_rules_and_a_recipient_copy_under_its_own_key(server):
    ec2 = client(server, "ec2")
    kms = client(server, "kms")
    managed = direct_snapshot(server, OWNER, {1: block_data("share-managed", 1)}, Encrypted=True)
    code, message = error(lambda: ec2.modify_snapshot_attribute(
        SnapshotId=managed, Attribute="createVolumePermission", OperationType="add", UserIds=[RECIPIENT]))
    assert (code, message) == ("OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")

    key = kms.create_key(Description="ebs share")["KeyMetadata"]["Arn"]
    data = sparse_blocks("share-customer", 10)
    shared = direct_snapshot(server, OWNER, data, KmsKeyArn=key, Encrypted=True)
    code, message = error(lambda: ec2.modify_snapshot_attribute(
        SnapshotId=shared, Attribute="createVolumePermission", CreateVolumePermission={"Add": [{"Group": "all"}]}))
    assert code == "OperationNotPermitted" and message.startswith("Encrypted snapshots cannot be shared publicly")
    code, _ = error(lambda: ec2.modify_snapshot_attribute(
        SnapshotId=shared, Attribute="createVolumePermission", OperationType="add", UserIds=["12345"]))
    assert code == "InvalidParameterValue"

    def permissions():
        return ec2.describe_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission")["CreateVolumePermissions"]
    assert permissions() == []
    ec2.modify_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission",
                                  CreateVolumePermission={"Add": [{"UserId": RECIPIENT}]})
    assert permissions() == [{"UserId": RECIPIENT}]
    # Removing what is not there is a no-op.
    ec2.modify_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission", OperationType="remove",
                                  UserIds=["111122223333"])
    assert permissions() == [{"UserId": RECIPIENT}]

    # What the recipient sees.
    theirs = client(server, "ec2", account=RECIPIENT)
    restorable = theirs.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]
    assert shared in [s["SnapshotId"] for s in restorable]
    by_owner = theirs.describe_snapshots(OwnerIds=[OWNER])["Snapshots"]
    assert [s["SnapshotId"] for s in by_owner] == [shared]
    assert (by_owner[0]["OwnerId"], by_owner[0]["KmsKeyId"]) == (OWNER, key)
    code, _ = error(lambda: theirs.describe_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission"))
    assert code == "InvalidSnapshot.NotFound"

    # Shared, but the key policy does not admit the recipient: its copy ends in `error`.
    their_key = client(server, "kms", account=RECIPIENT, region=OREGON).create_key(Description="recipient")["KeyMetadata"]["Arn"]
    denied = copy(server, RECIPIENT, shared, Encrypted=True, KmsKeyId=their_key)
    assert (denied["State"], denied["StateMessage"]) == ("error", NOT_ACCESSIBLE)

    # Once the owner's key policy admits it, the recipient copies under its own key.
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=cross_account_key_policy(OWNER, RECIPIENT))
    mine = copy(server, RECIPIENT, shared, Encrypted=True, KmsKeyId=their_key)
    assert (mine["State"], mine["OwnerId"], mine["KmsKeyId"]) == ("completed", RECIPIENT, their_key)
    assert read_digests(server, RECIPIENT, OREGON, mine["SnapshotId"]) == digests(data)
    owned = client(server, "ec2", account=RECIPIENT, region=OREGON).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert mine["SnapshotId"] in [s["SnapshotId"] for s in owned]

    # The owner deletes the source (and stops sharing it): the recipient's copy is its own.
    ec2.reset_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission")
    assert permissions() == []
    assert shared not in [s["SnapshotId"] for s in theirs.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]]
    ec2.delete_snapshot(SnapshotId=shared)
    assert read_digests(server, RECIPIENT, OREGON, mine["SnapshotId"]) == digests(data)


# --- incremental copy ---------------------------------------------------------------------------

def test_a_later_copy_of_the_lineage_copies_only_changed_blocks(server):
    kms_oregon = client(server, "kms", account=INCREMENTAL, region=OREGON)
    dest_key = kms_oregon.create_key(Description="incremental")["KeyMetadata"]["Arn"]
    src_key = client(server, "kms", account=INCREMENTAL).create_key(Description="incremental src")["KeyMetadata"]["Arn"]
    first = {i: block_data("incremental-1", i) for i in range(200)}
    s1 = direct_snapshot(server, INCREMENTAL, first, KmsKeyArn=src_key, Encrypted=True)

    before = blob_files(server, OREGON)
    t0 = time.time()
    c1 = copy(server, INCREMENTAL, s1, Encrypted=True, KmsKeyId=dest_key)
    full_time = time.time() - t0
    assert c1["State"] == "completed"
    assert len(blob_files(server, OREGON) - before) == 200

    changed = {i: block_data("incremental-2", i) for i in (7, 150)}  # 1% of the blocks
    s2 = direct_snapshot(server, INCREMENTAL, changed, ParentSnapshotId=s1)
    before = blob_files(server, OREGON)
    t0 = time.time()
    c2 = copy(server, INCREMENTAL, s2, Encrypted=True, KmsKeyId=dest_key)
    incremental_time = time.time() - t0
    assert c2["State"] == "completed"
    assert len(blob_files(server, OREGON) - before) == 2, "only the changed blocks were re-encrypted"
    assert read_digests(server, INCREMENTAL, OREGON, c2["SnapshotId"]) == digests({**first, **changed})
    assert read_digests(server, INCREMENTAL, OREGON, c1["SnapshotId"]) == digests(first)
    assert incremental_time < full_time, (full_time, incremental_time)


# --- crash safety -------------------------------------------------------------------------------

def test_kill9_mid_copy_resumes_and_never_completes_half_made(fresh_server, tmp_path):
    srv = fresh_server(data_dir=str(tmp_path / "data"))
    ebs = make_client(srv, "ebs", account=CRASH, region=TOKYO)
    snap_id = ebs.start_snapshot(VolumeSize=1, Encrypted=True)["SnapshotId"]
    want = {}
    lock = threading.Lock()

    def put(index):
        data = os.urandom(BLOCK)
        put_block(ebs, snap_id, index, data)
        with lock:
            want[index] = hashlib.sha256(data).hexdigest()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, range(2048)))
    ebs.complete_snapshot(SnapshotId=snap_id, ChangedBlocksCount=2048)
    assert wait_snapshot(make_client(srv, "ec2", account=CRASH, region=TOKYO), snap_id)["State"] == "completed"

    oregon = make_client(srv, "ec2", account=CRASH, region=OREGON)
    copy_id = oregon.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=snap_id)["SnapshotId"]

    def never_half_complete(s):
        if s["State"] == "completed":
            listed = make_client(srv, "ebs", account=CRASH, region=OREGON).list_snapshot_blocks(
                SnapshotId=copy_id, MaxResults=10000)["Blocks"]
            assert len(listed) == 2048, "completed with missing blocks"
            assert s["Progress"] == "100%"

    killed_at = None
    deadline = time.time() + 120
    while killed_at is None:
        s = oregon.describe_snapshots(SnapshotIds=[copy_id])["Snapshots"][0]
        never_half_complete(s)
        assert s["State"] == "pending", f"copy ended before it could be interrupted: {s}"
        progress = int(s["Progress"].rstrip("%") or 0)
        if 1 <= progress <= 99:
            srv.kill9()
            killed_at = progress
        assert time.time() < deadline
        time.sleep(0.01)

    srv.start()
    oregon = make_client(srv, "ec2", account=CRASH, region=OREGON)
    after = oregon.describe_snapshots(SnapshotIds=[copy_id])["Snapshots"][0]
    never_half_complete(after)
    assert after["State"] in ("pending", "completed")
    assert int(after["Progress"].rstrip("%")) >= killed_at - 3, "resumes from the committed cursor, not from zero"
    done = wait_snapshot(oregon, copy_id, timeout=300, observe=never_half_complete)
    assert done["State"] == "completed", done
    assert read_digests(srv, CRASH, OREGON, copy_id) == want
