"""RDS DB snapshots across accounts and regions (issue #6; docs/rds.md §4–§6), with boto3
against the real binary and real bytes moved with `kmsnap db import/export`.

The headline is the cross-account migration: a snapshot under the AWS managed `aws/rds` key is
refused for sharing; the owner copies it under a customer key whose policy admits the other
account, shares the copy; the other account sees it as `shared` (addressed by ARN), copies it
under its own key, restores it, and its storage is byte-identical. Without access to the
source key the copy is refused; unsharing hides the snapshot again. Then a cross-region copy
(boto3's `SourceRegion` → `PreSignedUrl`) under a destination-region key, with the spec's
refusals for a missing key and a source-region key.

Accounts: 482048204820 (owner), 593059305930 (recipient), 604060406040 (cross-region).
Regions: eu-west-1 (sharing), us-west-2 → ap-northeast-1 (cross-region). No other test uses
these accounts.
"""

import json
import os

import pytest

from conftest import cross_account_key_policy
from rds_helpers import cli, wait_instance
import rds_helpers as h

OWNER = "482048204820"
RECIPIENT = "593059305930"
TRAVELLER = "604060406040"
SHARE_REGION = "eu-west-1"
OREGON = "us-west-2"
TOKYO = "ap-northeast-1"
BLOCK = 512 * 1024


def rds(client, account, region=SHARE_REGION):
    return client("rds", account=account, region=region)


def kms(client, account, region=SHARE_REGION):
    return client("kms", account=account, region=region)


def wait_snapshot(r, name):
    return h.wait_snapshot(r, name, attempts=90)


def create_pg(r, name, **kw):
    return h.create_pg(r, name, "secret-pw-2", **kw)


def error(call):
    return h.error(call, with_status=True)


def image(tmp_path, name):
    """2 MiB + a partial block of random data with a hole (block 1 is zeros)."""
    data = bytearray(os.urandom(4 * BLOCK + 777))
    data[BLOCK:2 * BLOCK] = bytes(BLOCK)
    p = tmp_path / f"{name}.img"
    p.write_bytes(bytes(data))
    return p, bytes(data)


def imported(server, account, region, r, name, tmp_path):
    """An available instance `name` holding fresh random data; returns the data."""
    wait_instance(r, name)
    path, data = image(tmp_path, name)
    res = cli(server, account, region, "db", "import", name, str(path))
    assert res.returncode == 0, res.stderr
    return data


def exported(server, account, region, name, tmp_path, size):
    out = tmp_path / f"{name}-out.img"
    res = cli(server, account, region, "db", "export", name, str(out))
    assert res.returncode == 0, res.stderr
    with open(out, "rb") as f:
        got = f.read(size)
        rest = f.read(BLOCK)
    assert rest.strip(b"\0") == b""
    return got


def test_cross_account_migration(server, client, aws, tmp_path):
    ra, rb = rds(client, OWNER), rds(client, RECIPIENT)
    ka, kb = kms(client, OWNER), kms(client, RECIPIENT)

    create_pg(ra, "mig-src", StorageEncrypted=True)  # aws/rds
    data = imported(server, OWNER, SHARE_REGION, ra, "mig-src", tmp_path)
    ra.create_db_snapshot(DBSnapshotIdentifier="mig-snap", DBInstanceIdentifier="mig-src")
    managed = wait_snapshot(ra, "mig-snap")
    assert managed["KmsKeyId"] == ka.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]["Arn"]

    # A snapshot under the AWS managed key is never shared.
    code, msg, status = error(lambda: ra.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="mig-snap", AttributeName="restore", ValuesToAdd=[RECIPIENT]))
    assert (code, status) == ("InvalidParameterValue", 400)
    assert msg == ("The snapshot mig-snap is encrypted with the default KMS key and can't be shared. "
                   "Copy it with a customer managed key and share the copy.")
    attrs = ra.describe_db_snapshot_attributes(DBSnapshotIdentifier="mig-snap")["DBSnapshotAttributesResult"]
    assert attrs["DBSnapshotAttributes"] == [{"AttributeName": "restore", "AttributeValues": []}]

    # The owner re-keys under a customer key whose policy admits the recipient, and shares it.
    shared_key = ka.create_key(Policy=cross_account_key_policy(OWNER, RECIPIENT))["KeyMetadata"]
    ra.copy_db_snapshot(SourceDBSnapshotIdentifier="mig-snap", TargetDBSnapshotIdentifier="mig-share",
                        KmsKeyId=shared_key["Arn"])
    share = wait_snapshot(ra, "mig-share")
    assert share["KmsKeyId"] == shared_key["Arn"]
    code, _, _ = error(lambda: ra.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="mig-share", AttributeName="restore", ValuesToAdd=["all"]))
    assert code == "InvalidParameterValue"
    code, _, _ = error(lambda: ra.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="mig-share", AttributeName="launch", ValuesToAdd=[RECIPIENT]))
    assert code == "InvalidParameterValue"
    res = ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="mig-share", AttributeName="restore",
                                          ValuesToAdd=[RECIPIENT])["DBSnapshotAttributesResult"]
    assert res == {"DBSnapshotIdentifier": "mig-share",
                   "DBSnapshotAttributes": [{"AttributeName": "restore", "AttributeValues": [RECIPIENT]}]}
    assert ra.describe_db_snapshot_attributes(DBSnapshotIdentifier="mig-share")["DBSnapshotAttributesResult"] == res
    arn = share["DBSnapshotArn"]
    assert arn == f"arn:aws:rds:{SHARE_REGION}:{OWNER}:snapshot:mig-share"

    # The recipient sees it as `shared`, by ARN; not in its own default view.
    shared = rb.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"]
    assert [(s["DBSnapshotArn"], s["DBSnapshotIdentifier"], s["SnapshotType"]) for s in shared] == [(arn, arn, "shared")]
    assert shared[0]["Encrypted"] is True and shared[0]["KmsKeyId"] == shared_key["Arn"]
    assert rb.describe_db_snapshots()["DBSnapshots"] == []
    assert [s["DBSnapshotArn"] for s in rb.describe_db_snapshots(IncludeShared=True)["DBSnapshots"]] == [arn]
    assert rb.describe_db_snapshots(DBSnapshotIdentifier=arn)["DBSnapshots"][0]["SnapshotType"] == "shared"
    assert rb.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    # Only the owner sees who it is shared with; only the owner changes it.
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.describe_db_snapshot_attributes(DBSnapshotIdentifier=arn)
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.modify_db_snapshot_attribute(DBSnapshotIdentifier=arn, AttributeName="restore", ValuesToAdd=[TRAVELLER])
    # The aws/rds snapshot was never shared: the recipient cannot name it.
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.copy_db_snapshot(SourceDBSnapshotIdentifier=managed["DBSnapshotArn"], TargetDBSnapshotIdentifier="nope")

    # An encrypted shared snapshot is copied under a key of the recipient's choosing.
    code, msg, _ = error(lambda: rb.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="mig-b"))
    assert code == "InvalidParameterValue"
    own_key = kb.create_key(Description="recipient key")["KeyMetadata"]
    copy = rb.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="mig-b",
                               KmsKeyId=own_key["Arn"])["DBSnapshot"]
    assert copy["Status"] == "creating" and copy["KmsKeyId"] == own_key["Arn"]
    assert copy["SourceDBSnapshotIdentifier"] == arn and copy["SnapshotType"] == "manual"
    assert copy["DBSnapshotArn"] == f"arn:aws:rds:{SHARE_REGION}:{RECIPIENT}:snapshot:mig-b"
    copy = wait_snapshot(rb, "mig-b")
    assert copy["KmsKeyId"] == own_key["Arn"]
    restored = rb.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="mig-b-db", DBSnapshotIdentifier="mig-b",
                                                       DBInstanceClass="db.t3.micro")["DBInstance"]
    assert restored["KmsKeyId"] == own_key["Arn"] and restored["StorageEncrypted"] is True
    wait_instance(rb, "mig-b-db")
    assert exported(server, RECIPIENT, SHARE_REGION, "mig-b-db", tmp_path, len(data)) == data

    # A shared snapshot also restores directly (under the owner's key, which admits the recipient).
    direct = rb.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="mig-direct", DBSnapshotIdentifier=arn)["DBInstance"]
    assert direct["KmsKeyId"] == shared_key["Arn"] and direct["TagList"] == []
    wait_instance(rb, "mig-direct")
    assert exported(server, RECIPIENT, SHARE_REGION, "mig-direct", tmp_path, len(data)) == data
    rb.delete_db_instance(DBInstanceIdentifier="mig-direct", SkipFinalSnapshot=True)

    # The aws cli sees the same.
    out = aws("rds", "describe-db-snapshots", "--snapshot-type", "shared", account=RECIPIENT, region=SHARE_REGION)
    assert out.returncode == 0, out.stderr
    assert [s["DBSnapshotArn"] for s in json.loads(out.stdout)["DBSnapshots"]] == [arn]

    # Without access to the source key, the recipient's copy is refused at the call.
    private_key = ka.create_key(Description="owner only")["KeyMetadata"]
    ra.copy_db_snapshot(SourceDBSnapshotIdentifier="mig-snap", TargetDBSnapshotIdentifier="mig-private",
                        KmsKeyId=private_key["Arn"])
    private = wait_snapshot(ra, "mig-private")
    ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="mig-private", AttributeName="restore", ValuesToAdd=[RECIPIENT])
    code, msg, status = error(lambda: rb.copy_db_snapshot(SourceDBSnapshotIdentifier=private["DBSnapshotArn"],
                                                          TargetDBSnapshotIdentifier="mig-denied", KmsKeyId=own_key["Arn"]))
    assert (code, status) == ("KMSKeyNotAccessibleFault", 400)
    assert msg == (f"The source snapshot KMS key [{private_key['Arn']}] does not exist, is not enabled "
                   "or you do not have permissions to access it.")
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.describe_db_snapshots(DBSnapshotIdentifier="mig-denied")

    # Unsharing hides the snapshots again; the recipient's copy stays.
    for name in ("mig-share", "mig-private"):
        res = ra.modify_db_snapshot_attribute(DBSnapshotIdentifier=name, AttributeName="restore",
                                              ValuesToRemove=[RECIPIENT])["DBSnapshotAttributesResult"]
        assert res["DBSnapshotAttributes"][0]["AttributeValues"] == []
    assert rb.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"] == []
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.describe_db_snapshots(DBSnapshotIdentifier=arn)
    with pytest.raises(rb.exceptions.DBSnapshotNotFoundFault):
        rb.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="mig-b2", KmsKeyId=own_key["Arn"])
    assert wait_snapshot(rb, "mig-b")["Status"] == "available"

    # The trail shows the sharing, as RDS calls of the owner.
    ct = client("cloudtrail", account=OWNER, region=SHARE_REGION)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "ModifyDBSnapshotAttribute"}])["Events"]
    assert len(events) >= 4 and "secret-pw-2" not in json.dumps([e["CloudTrailEvent"] for e in events])

    rb.delete_db_instance(DBInstanceIdentifier="mig-b-db", SkipFinalSnapshot=True)
    rb.delete_db_snapshot(DBSnapshotIdentifier="mig-b")
    ra.delete_db_instance(DBInstanceIdentifier="mig-src", SkipFinalSnapshot=True)


def test_public_snapshots_and_attribute_errors(client):
    ra, rb = rds(client, OWNER), rds(client, RECIPIENT)
    create_pg(ra, "pub-src")
    wait_instance(ra, "pub-src")
    ra.create_db_snapshot(DBSnapshotIdentifier="pub-snap", DBInstanceIdentifier="pub-src")
    # A snapshot's seal moves no bytes: it is available at the next call (issue #17).
    assert ra.describe_db_snapshots(DBSnapshotIdentifier="pub-snap")["DBSnapshots"][0]["Status"] == "available"
    wait_snapshot(ra, "pub-snap")
    code, _, _ = error(lambda: ra.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="pub-snap", AttributeName="restore", ValuesToAdd=["12345"]))
    assert code == "InvalidParameterValue"
    with pytest.raises(ra.exceptions.DBSnapshotNotFoundFault):
        ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="nosuch", AttributeName="restore", ValuesToAdd=[RECIPIENT])
    code, msg, _ = error(lambda: ra.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="rds:pub-src-2026-01-01-00-00", AttributeName="restore", ValuesToAdd=[RECIPIENT]))
    assert code == "InvalidParameterValue" and "is not a valid identifier" in msg
    many = [f"7000000000{i:02d}" for i in range(21)]
    with pytest.raises(ra.exceptions.SharedSnapshotQuotaExceededFault):
        ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="pub-snap", AttributeName="restore", ValuesToAdd=many)

    # An unencrypted snapshot may be public: everyone sees it as `public` when asking.
    res = ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="pub-snap", AttributeName="restore", ValuesToAdd=["all"])
    assert res["DBSnapshotAttributesResult"]["DBSnapshotAttributes"][0]["AttributeValues"] == ["all"]
    arn = f"arn:aws:rds:{SHARE_REGION}:{OWNER}:snapshot:pub-snap"
    public = rb.describe_db_snapshots(SnapshotType="public")["DBSnapshots"]
    assert arn in [s["DBSnapshotArn"] for s in public]
    assert all(s["SnapshotType"] == "public" for s in public)
    assert arn not in [s["DBSnapshotArn"] for s in rb.describe_db_snapshots()["DBSnapshots"]]
    assert arn in [s["DBSnapshotArn"] for s in rb.describe_db_snapshots(IncludePublic=True)["DBSnapshots"]]
    # A public unencrypted snapshot is copied by anyone, without a key.
    rb.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="pub-copy")
    assert wait_snapshot(rb, "pub-copy")["Encrypted"] is False
    ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="pub-snap", AttributeName="restore", ValuesToRemove=["all"])
    assert arn not in [s["DBSnapshotArn"] for s in rb.describe_db_snapshots(SnapshotType="public")["DBSnapshots"]]
    rb.delete_db_snapshot(DBSnapshotIdentifier="pub-copy")
    ra.delete_db_snapshot(DBSnapshotIdentifier="pub-snap")
    ra.delete_db_instance(DBInstanceIdentifier="pub-src", SkipFinalSnapshot=True)


def test_cross_region_copy(server, client, aws, tmp_path):
    src, dst = rds(client, TRAVELLER, OREGON), rds(client, TRAVELLER, TOKYO)
    src_key = kms(client, TRAVELLER, OREGON).create_key()["KeyMetadata"]
    dst_key = kms(client, TRAVELLER, TOKYO).create_key()["KeyMetadata"]
    create_pg(src, "xr-db", StorageEncrypted=True, KmsKeyId=src_key["Arn"], Tags=[{"Key": "team", "Value": "data"}])
    data = imported(server, TRAVELLER, OREGON, src, "xr-db", tmp_path)
    src.create_db_snapshot(DBSnapshotIdentifier="xr-snap", DBInstanceIdentifier="xr-db",
                           Tags=[{"Key": "purpose", "Value": "move"}])
    arn = wait_snapshot(src, "xr-snap")["DBSnapshotArn"]

    # boto3 turns SourceRegion into a PreSignedUrl; the server takes the region from the ARN.
    code, msg, status = error(lambda: dst.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="xr-copy",
                                                           SourceRegion=OREGON))
    assert (code, msg, status) == ("InvalidParameterValue", "Must specify new KMS key for cross region encrypted snapshot copy.", 400)
    code, msg, _ = error(lambda: dst.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="xr-copy",
                                                      KmsKeyId=src_key["Arn"], SourceRegion=OREGON))
    assert code == "KMSKeyNotAccessibleFault"
    assert msg == f"The target KMS key [{src_key['Arn']}] does not exist, is not enabled or you do not have permissions to access it."
    with pytest.raises(dst.exceptions.DBSnapshotNotFoundFault):
        dst.copy_db_snapshot(SourceDBSnapshotIdentifier=arn.replace("xr-snap", "nosuch"), TargetDBSnapshotIdentifier="xr-copy",
                             KmsKeyId=dst_key["Arn"], SourceRegion=OREGON)

    # The aws cli's --source-region presigns the same way.
    out = aws("rds", "copy-db-snapshot", "--source-db-snapshot-identifier", arn, "--target-db-snapshot-identifier", "xr-cli",
              "--source-region", OREGON, account=TRAVELLER, region=TOKYO)
    assert out.returncode != 0 and "Must specify new KMS key for cross region encrypted snapshot copy." in out.stderr
    out = aws("rds", "copy-db-snapshot", "--source-db-snapshot-identifier", arn, "--target-db-snapshot-identifier", "xr-cli",
              "--kms-key-id", dst_key["Arn"], "--source-region", OREGON, account=TRAVELLER, region=TOKYO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["DBSnapshot"]["SourceRegion"] == OREGON
    wait_snapshot(dst, "xr-cli")
    dst.delete_db_snapshot(DBSnapshotIdentifier="xr-cli")

    copy = dst.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="xr-copy", KmsKeyId=dst_key["Arn"],
                                CopyTags=True, SourceRegion=OREGON)["DBSnapshot"]
    assert copy["Status"] == "creating" and copy["PercentProgress"] == 0
    assert copy["SourceRegion"] == OREGON and copy["SourceDBSnapshotIdentifier"] == arn
    assert copy["KmsKeyId"] == dst_key["Arn"] and copy["Encrypted"] is True
    assert copy["DBSnapshotArn"] == f"arn:aws:rds:{TOKYO}:{TRAVELLER}:snapshot:xr-copy"
    assert {"Key": "purpose", "Value": "move"} in copy["TagList"]
    copy = wait_snapshot(dst, "xr-copy")
    assert copy["AvailabilityZone"].startswith(TOKYO)
    with pytest.raises(src.exceptions.DBSnapshotNotFoundFault):
        src.describe_db_snapshots(DBSnapshotIdentifier="xr-copy")

    restored = dst.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="xr-tokyo", DBSnapshotIdentifier="xr-copy")["DBInstance"]
    assert restored["KmsKeyId"] == dst_key["Arn"]
    assert {"Key": "purpose", "Value": "move"} in restored["TagList"]  # the snapshot's tags carry over
    wait_instance(dst, "xr-tokyo")
    assert exported(server, TRAVELLER, TOKYO, "xr-tokyo", tmp_path, len(data)) == data
    # A snapshot of another region is never restored directly.
    with pytest.raises(dst.exceptions.DBSnapshotNotFoundFault):
        dst.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="xr-direct", DBSnapshotIdentifier=arn)

    # The presigned URL (a signature) never reaches the trail.
    ct = client("cloudtrail", account=TRAVELLER, region=TOKYO)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CopyDBSnapshot"}])["Events"]
    assert events and "X-Amz-Signature" not in json.dumps([e["CloudTrailEvent"] for e in events])

    dst.delete_db_instance(DBInstanceIdentifier="xr-tokyo", SkipFinalSnapshot=True)
    src.delete_db_instance(DBInstanceIdentifier="xr-db", SkipFinalSnapshot=True)


def test_sharing_survives_a_restart(fresh_server):
    from conftest import make_client

    server = fresh_server()
    ra = make_client(server, "rds", account=OWNER, region=SHARE_REGION)
    create_pg(ra, "dur-db", BackupRetentionPeriod=0, Tags=[{"Key": "k", "Value": "v"}])
    wait_instance(ra, "dur-db")
    ra.create_db_snapshot(DBSnapshotIdentifier="dur-snap", DBInstanceIdentifier="dur-db")
    wait_snapshot(ra, "dur-snap")
    ra.modify_db_snapshot_attribute(DBSnapshotIdentifier="dur-snap", AttributeName="restore", ValuesToAdd=[RECIPIENT])
    ra.modify_db_instance(DBInstanceIdentifier="dur-db", DeletionProtection=True, ApplyImmediately=True)
    server.kill9()
    server.start()
    ra = make_client(server, "rds", account=OWNER, region=SHARE_REGION)
    rb = make_client(server, "rds", account=RECIPIENT, region=SHARE_REGION)
    arn = f"arn:aws:rds:{SHARE_REGION}:{OWNER}:snapshot:dur-snap"
    assert [s["DBSnapshotArn"] for s in rb.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"]] == [arn]
    assert ra.describe_db_snapshot_attributes(DBSnapshotIdentifier="dur-snap")["DBSnapshotAttributesResult"]["DBSnapshotAttributes"][0]["AttributeValues"] == [RECIPIENT]
    inst = wait_instance(ra, "dur-db")
    assert inst["DeletionProtection"] is True and inst["TagList"] == [{"Key": "k", "Value": "v"}]
