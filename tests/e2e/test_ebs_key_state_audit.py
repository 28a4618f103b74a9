"""EBS and the state of its KMS keys, EBS's own KMS calls in the audit trail, and snapshot
details that cross the EC2 / EBS direct API boundary (docs/ebs.md §3, §6, §8, §10;
docs/kms.md §15), with boto3 against the real binary.

A key scheduled for deletion makes every snapshot under it unreadable (GetSnapshotBlock,
CreateVolume, CopySnapshot) until the deletion is cancelled and the key enabled again; the KMS
calls EC2 makes for an encrypted volume are in the caller's CloudTrail history, invoked by
ec2.amazonaws.com, with the volume id as encryption context and without any key material;
PutSnapshotBlock's Progress shows in DescribeSnapshots; a snapshot of a volume restored from a
snapshot is incremental to it; DeleteSnapshot is refused while a copy reads the snapshot; and a
cross-region copy without KmsKeyId uses the destination region's customised default key.

Accounts 192837465001 … 192837465006 (one per test); no other test uses them. Regions
ap-northeast-1 (sources) and us-west-2 (copies)."""

import json
import os
import re

import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from ebs_helpers import checksum, direct_snapshot, put_block, read_block, wait_snapshot

KEY_STATE = "192837465001"
AUDIT = "192837465002"
PROGRESS = "192837465003"
INCREMENTAL = "192837465004"
IN_USE = "192837465005"
DEFAULT_KEY = "192837465006"
TOKYO = "ap-northeast-1"
OREGON = "us-west-2"
AZ = "ap-northeast-1a"
BLOCK = 524288
FAST = {"Delay": 1, "MaxAttempts": 60}
NOT_ACCESSIBLE = "Given key ID is not accessible"


def client(server, service, account, region=TOKYO):
    return make_client(server, service, account=account, region=region)


def error(call):
    """(code, Reason, message, HTTP status) of the ClientError `call` raises."""
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return (r["Error"]["Code"], r.get("Reason") or r["Error"].get("Reason"), r["Error"].get("Message", ""),
            r["ResponseMetadata"]["HTTPStatusCode"])


def read_blocks(server, account, snap_id, region=TOKYO):
    """Every block of the snapshot, read back through the EBS direct API."""
    ebs = client(server, "ebs", account, region)
    listed = ebs.list_snapshot_blocks(SnapshotId=snap_id, MaxResults=10000)
    assert "NextToken" not in listed
    return {b["BlockIndex"]: read_block(ebs, snap_id, b["BlockIndex"], b["BlockToken"]) for b in listed["Blocks"]}


def new_volume(ec2, **kw):
    v = ec2.create_volume(AvailabilityZone=AZ, **kw)
    ec2.get_waiter("volume_available").wait(VolumeIds=[v["VolumeId"]], WaiterConfig=FAST)
    return v


def new_snapshot(ec2, volume_id):
    s = ec2.create_snapshot(VolumeId=volume_id)
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[s["SnapshotId"]], WaiterConfig=FAST)
    return ec2.describe_snapshots(SnapshotIds=[s["SnapshotId"]])["Snapshots"][0]


# --- a key scheduled for deletion ---------------------------------------------------------------

def test_key_pending_deletion_makes_snapshots_unreadable_until_cancelled(server):
    """AWS: a KMS key in PendingDeletion cannot be used for any cryptographic operation, so EBS
    can neither read a snapshot's blocks (EBS direct: 403 AccessDeniedException, Reason
    DEPENDENCY_ACCESS_DENIED) nor restore a volume from it, and a copy of it fails with "Given
    key ID is not accessible". CancelKeyDeletion leaves the key Disabled; once enabled again the
    data is there as it was."""
    ebs, ec2 = client(server, "ebs", KEY_STATE), client(server, "ec2", KEY_STATE)
    ec2_oregon = client(server, "ec2", KEY_STATE, OREGON)
    kms = client(server, "kms", KEY_STATE)
    key = kms.create_key(Description="ebs pending deletion")["KeyMetadata"]["Arn"]
    data = os.urandom(BLOCK)
    direct = direct_snapshot(server, KEY_STATE, {5: data}, KmsKeyArn=key)
    volume = new_volume(ec2, Size=1, Encrypted=True, KmsKeyId=key)
    snap = new_snapshot(ec2, volume["VolumeId"])
    assert (snap["State"], snap["KmsKeyId"]) == ("completed", key)
    token = ebs.list_snapshot_blocks(SnapshotId=direct)["Blocks"][0]["BlockToken"]

    scheduled = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert (scheduled["KeyState"], scheduled["PendingWindowInDays"]) == ("PendingDeletion", 7)
    try:
        code, reason, _, status = error(lambda: ebs.get_snapshot_block(SnapshotId=direct, BlockIndex=5, BlockToken=token))
        assert (code, reason, status) == ("AccessDeniedException", "DEPENDENCY_ACCESS_DENIED", 403)
        for source in (snap["SnapshotId"], direct):
            code, _, message, status = error(lambda: ec2.create_volume(AvailabilityZone=AZ, SnapshotId=source))
            assert status == 400 and code in ("InvalidParameterValue", "IncorrectState"), (code, message)
            assert "pending deletion" in message, message
        # Copies are accepted (KMS is checked asynchronously) and end in `error`: in the same
        # region (under the same key) and to Oregon (under Oregon's aws/ebs).
        for dest in (ec2, ec2_oregon):
            copy_id = dest.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=snap["SnapshotId"])["SnapshotId"]
            failed = wait_snapshot(dest, copy_id)
            assert (failed["State"], failed["StateMessage"]) == ("error", NOT_ACCESSIBLE), failed
    finally:
        kms.cancel_key_deletion(KeyId=key)

    # Cancelled: the key is Disabled, so reads are still refused until it is enabled.
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    code, reason, _, status = error(lambda: ebs.get_snapshot_block(SnapshotId=direct, BlockIndex=5, BlockToken=token))
    assert (code, reason, status) == ("AccessDeniedException", "DEPENDENCY_ACCESS_DENIED", 403)
    kms.enable_key(KeyId=key)
    got = ebs.get_snapshot_block(SnapshotId=direct, BlockIndex=5, BlockToken=token)
    assert got["BlockData"].read() == data and got["Checksum"] == checksum(data)
    restored = new_volume(ec2, SnapshotId=snap["SnapshotId"])
    assert (restored["Encrypted"], restored["KmsKeyId"], restored["SnapshotId"]) == (True, key, snap["SnapshotId"])
    assert ec2.describe_volumes(VolumeIds=[restored["VolumeId"]])["Volumes"][0]["State"] == "available"
    again = ec2_oregon.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=snap["SnapshotId"])["SnapshotId"]
    assert wait_snapshot(ec2_oregon, again)["State"] == "completed"


# --- EBS's KMS calls in the caller's trail -------------------------------------------------------

# A base64 run long enough to be a data key (32 bytes → 44 characters) or a ciphertext blob.
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
HEX = re.compile(r"[0-9a-f]+")


def secret_fields(value, path=""):
    """Paths of every field named like a plaintext or ciphertext that carries a value."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if re.search(r"plaintext|ciphertext", k, re.I) and v not in (None, "", {}, []):
                found.append(f"{path}.{k}")
            found += secret_fields(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += secret_fields(v, f"{path}[{i}]")
    return found


def test_ebs_kms_calls_are_audited_on_the_callers_behalf_without_key_material(server):
    """AWS: the KMS requests EC2 makes to create an encrypted volume (a data key under the
    volume's key, a grant for ec2.amazonaws.com) appear in the caller's CloudTrail history with
    `userIdentity.invokedBy` and `sourceIPAddress` ec2.amazonaws.com and the encryption context
    {"aws:ebs:id": <volume id>}; KMS records never hold plaintexts, data keys or ciphertexts."""
    ec2, kms = client(server, "ec2", AUDIT), client(server, "kms", AUDIT)
    key = kms.create_key(Description="ebs audit")["KeyMetadata"]["Arn"]
    volume = new_volume(ec2, Size=1, Encrypted=True, KmsKeyId=key)
    vid = volume["VolumeId"]
    assert (volume["Encrypted"], volume["KmsKeyId"]) == (True, key)

    ct = client(server, "cloudtrail", AUDIT)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key}])["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    by_ec2 = [r for r in records if r["userIdentity"].get("invokedBy") == "ec2.amazonaws.com"]
    names = sorted(r["eventName"] for r in by_ec2)
    assert "CreateGrant" in names, names
    # EBS asks for the volume's data key without its plaintext (docs/ebs.md §3); no plaintext key is
    # handed out for the volume, and none is logged.
    data_keys = [r for r in by_ec2 if r["eventName"].startswith("GenerateDataKey")]
    assert [r["eventName"] for r in data_keys] == ["GenerateDataKeyWithoutPlaintext"], names
    for r in by_ec2:
        assert r["eventSource"] == "kms.amazonaws.com"
        assert (r["sourceIPAddress"], r["userAgent"]) == ("ec2.amazonaws.com", "ec2.amazonaws.com"), r
        assert r["userIdentity"]["accountId"] == AUDIT and r["recipientAccountId"] == AUDIT
        assert r["resources"] == [{"accountId": AUDIT, "type": "AWS::KMS::Key", "ARN": key}]
        assert "errorCode" not in r, r
    gdk = data_keys[0]
    assert gdk["requestParameters"]["encryptionContext"] == {"aws:ebs:id": vid}
    assert gdk["requestParameters"]["keyId"] == key
    assert gdk["responseElements"] is None
    [grant] = [r for r in by_ec2 if r["eventName"] == "CreateGrant"]
    params = grant["requestParameters"]
    assert params["granteePrincipal"] == "ec2.amazonaws.com" and params["keyId"] == key
    assert params["constraints"] == {"encryptionContextSubset": {"aws:ebs:id": vid}}
    # The caller's own CreateKey is not attributed to EC2.
    [created] = [r for r in records if r["eventName"] == "CreateKey"]
    assert "invokedBy" not in created["userIdentity"]

    # Nothing in the account's whole history carries key material.
    everything = ct.lookup_events(MaxResults=50)["Events"]
    assert {e["EventName"] for e in everything} >= {"CreateVolume", "CreateGrant", gdk["eventName"]}
    for e in everything:
        raw = e["CloudTrailEvent"]
        assert secret_fields(json.loads(raw)) == [], raw
        blobs = [m for m in BASE64_RUN.findall(raw) if not HEX.fullmatch(m)]
        assert blobs == [], (e["EventName"], blobs)


# --- PutSnapshotBlock's Progress ------------------------------------------------------------------

def test_put_snapshot_block_progress_reaches_describe_snapshots(server):
    """AWS: PutSnapshotBlock's optional `x-amz-Progress` (0–100) is the snapshot's progress that
    EC2 DescribeSnapshots shows ("42%") while it is pending; once completed it is "100%"."""
    ebs, ec2 = client(server, "ebs", PROGRESS), client(server, "ec2", PROGRESS)
    snap_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]

    def described():
        s = ec2.describe_snapshots(SnapshotIds=[snap_id])["Snapshots"][0]
        return s["State"], s["Progress"]
    data = os.urandom(BLOCK)
    put_block(ebs, snap_id, 0, data, Progress=42)
    assert described() == ("pending", "42%")
    filtered = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "progress", "Values": ["42%"]}])["Snapshots"]
    assert [s["SnapshotId"] for s in filtered] == [snap_id]
    put_block(ebs, snap_id, 1, data, Progress=87)
    assert described() == ("pending", "87%")
    ebs.complete_snapshot(SnapshotId=snap_id, ChangedBlocksCount=2)
    assert wait_snapshot(ec2, snap_id)["State"] == "completed"
    assert described() == ("completed", "100%")


# --- a snapshot of a restored volume is incremental -------------------------------------------------

def test_snapshot_of_a_volume_restored_from_a_snapshot_is_incremental(server):
    """AWS: a volume created from a snapshot continues that snapshot's lineage, so a snapshot
    of the unchanged volume is incremental to it: ListChangedBlocks between the two lists
    nothing (unrelated snapshots would be a ValidationException UNRELATED_SNAPSHOTS), and the
    child lists and reads back exactly the parent's blocks."""
    ebs, ec2 = client(server, "ebs", INCREMENTAL), client(server, "ec2", INCREMENTAL)
    key = client(server, "kms", INCREMENTAL).create_key(Description="ebs incremental")["KeyMetadata"]["Arn"]
    blocks = {i: os.urandom(BLOCK) for i in (0, 3, 700, 2047)}
    parent = direct_snapshot(server, INCREMENTAL, blocks, KmsKeyArn=key)
    volume = new_volume(ec2, SnapshotId=parent)
    assert (volume["SnapshotId"], volume["KmsKeyId"], volume["Size"]) == (parent, key, 1)
    child = new_snapshot(ec2, volume["VolumeId"])
    assert (child["State"], child["VolumeId"], child["KmsKeyId"]) == ("completed", volume["VolumeId"], key)
    child_id = child["SnapshotId"]

    changed = ebs.list_changed_blocks(FirstSnapshotId=parent, SecondSnapshotId=child_id)
    assert changed["ChangedBlocks"] == [] and "NextToken" not in changed
    assert (changed["VolumeSize"], changed["BlockSize"]) == (1, BLOCK)
    listed = ebs.list_snapshot_blocks(SnapshotId=child_id)["Blocks"]
    assert [b["BlockIndex"] for b in listed] == sorted(blocks)
    assert read_blocks(server, INCREMENTAL, child_id) == blocks
    # Lineage is what makes the empty answer meaningful: an unrelated snapshot is refused.
    other = direct_snapshot(server, INCREMENTAL, {0: blocks[0]}, KmsKeyArn=key)
    code, reason, _, status = error(lambda: ebs.list_changed_blocks(FirstSnapshotId=other, SecondSnapshotId=child_id))
    assert (code, reason, status) == ("ValidationException", "UNRELATED_SNAPSHOTS", 400)


# --- DeleteSnapshot while a copy reads it ------------------------------------------------------------

def test_delete_snapshot_is_refused_while_a_copy_reads_it(server):
    """AWS: a snapshot that a CopySnapshot is still reading cannot be deleted:
    InvalidSnapshot.InUse (400) "The snapshot snap-… is currently in use by …". Once the copy
    has completed, the source deletes and the copy keeps every block.

    The copy must still be running when DeleteSnapshot arrives; if it finished first the
    attempt proves nothing, so it is repeated with a bigger source (and fails if even the
    biggest copy is always done first)."""
    ec2, oregon = client(server, "ec2", IN_USE), client(server, "ec2", IN_USE, OREGON)
    for count, size in ((300, 1), (2048, 1), (4096, 2)):
        blocks = {i: os.urandom(BLOCK) for i in range(count)}
        source = direct_snapshot(server, IN_USE, blocks, size=size, Encrypted=True)
        copy_id = oregon.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=source)["SnapshotId"]
        try:
            ec2.delete_snapshot(SnapshotId=source)
        except ClientError as e:
            r = e.response
            assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSnapshot.InUse", 400), r
            assert r["Error"]["Message"].startswith(f"The snapshot {source} is currently in use by"), r
            break
        # Deleted: acceptable only if the copy had already completed before the delete.
        done = wait_snapshot(oregon, copy_id)
        assert done["State"] == "completed", f"the source was deleted under a running copy: {done}"
    else:
        pytest.fail("every copy completed before DeleteSnapshot could reach it; the refusal was never exercised")

    # The source is still there; once the copy is done it may go, and the copy is whole.
    assert ec2.describe_snapshots(SnapshotIds=[source])["Snapshots"][0]["State"] == "completed"
    done = wait_snapshot(oregon, copy_id)
    assert (done["State"], done["Progress"]) == ("completed", "100%"), done
    ec2.delete_snapshot(SnapshotId=source)
    code, _, _, _ = error(lambda: ec2.describe_snapshots(SnapshotIds=[source]))
    assert code == "InvalidSnapshot.NotFound"
    listed = client(server, "ebs", IN_USE, OREGON).list_snapshot_blocks(SnapshotId=copy_id, MaxResults=10000)
    assert [b["BlockIndex"] for b in listed["Blocks"]] == sorted(blocks)


# --- a cross-region copy and the destination's customised default key ----------------------------------

def test_cross_region_copy_without_a_key_uses_the_destinations_customised_default(server):
    """AWS: a copy of an encrypted snapshot to another region, with no KmsKeyId, is encrypted
    under the destination region's default EBS key — the key set there with
    ModifyEbsDefaultKmsKeyId, not that region's aws/ebs — and stored by its ARN."""
    ec2_oregon = client(server, "ec2", DEFAULT_KEY, OREGON)
    kms_oregon = client(server, "kms", DEFAULT_KEY, OREGON)
    source_key = client(server, "kms", DEFAULT_KEY).create_key(Description="copy source")["KeyMetadata"]["Arn"]
    oregon_key = kms_oregon.create_key(Description="oregon ebs default")["KeyMetadata"]["Arn"]
    blocks = {i: os.urandom(BLOCK) for i in (1, 64, 1000)}
    source = direct_snapshot(server, DEFAULT_KEY, blocks, KmsKeyArn=source_key)

    assert ec2_oregon.modify_ebs_default_kms_key_id(KmsKeyId=oregon_key)["KmsKeyId"] == oregon_key
    try:
        assert ec2_oregon.get_ebs_default_kms_key_id()["KmsKeyId"] == oregon_key
        copy_id = ec2_oregon.copy_snapshot(SourceRegion=TOKYO, SourceSnapshotId=source, Encrypted=True)["SnapshotId"]
        done = wait_snapshot(ec2_oregon, copy_id)
    finally:
        ec2_oregon.reset_ebs_default_kms_key_id()
    assert (done["State"], done["Encrypted"], done["KmsKeyId"]) == ("completed", True, oregon_key), done
    aws_ebs = kms_oregon.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert aws_ebs != oregon_key
    assert read_blocks(server, DEFAULT_KEY, copy_id, OREGON) == blocks
