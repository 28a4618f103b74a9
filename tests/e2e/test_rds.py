"""RDS, first slice: DB instances and manual DB snapshots stored in the EBS block store
(docs/rds.md). The headline is the "encrypt an existing instance" procedure with real bytes:
unencrypted instance with data → snapshot → copy under a customer key → restore → the restored
instance is encrypted under that key and its storage is byte-identical. No database engine
runs: a DB is its storage, moved with `kmsnap db import/export`.

Account 369036903690 and region eu-central-1 are this file's own.
"""

import json
import os

import pytest
from botocore.exceptions import ClientError

from rds_helpers import code, same_storage, wait_instance, wait_snapshot
import rds_helpers as h

ACCOUNT = "369036903690"
REGION = "eu-central-1"
MIB = 1 << 20
BLOCK = 512 * 1024


def rds(client):
    return client("rds", account=ACCOUNT, region=REGION)


def kms(client):
    return client("kms", account=ACCOUNT, region=REGION)


def cli(server, *args):
    return h.cli(server, ACCOUNT, REGION, *args)


def create_pg(r, name, **kw):
    return h.create_pg(r, name, "secret-pw-1", **kw)


def image(tmp_path):
    """3 MiB + a partial block of data with a hole in the middle (block 2 is zeros)."""
    data = bytearray(os.urandom(6 * BLOCK + 1000))
    data[2 * BLOCK:3 * BLOCK] = bytes(BLOCK)
    p = tmp_path / "db.img"
    p.write_bytes(bytes(data))
    return p, bytes(data)




def test_encrypt_an_existing_instance(server, client, tmp_path):
    r, k = rds(client), kms(client)
    created = create_pg(r, "pg-plain")
    assert created["DBInstanceStatus"] == "creating"
    assert created["StorageEncrypted"] is False and "KmsKeyId" not in created
    assert created["DbiResourceId"].startswith("db-") and len(created["DbiResourceId"]) == 29
    inst = wait_instance(r, "pg-plain")
    assert inst["DBInstanceStatus"] == "available"

    path, data = image(tmp_path)
    res = cli(server, "db", "import", "pg-plain", str(path))
    assert res.returncode == 0, res.stderr

    snap = r.create_db_snapshot(DBSnapshotIdentifier="pg-plain-snap", DBInstanceIdentifier="pg-plain")["DBSnapshot"]
    assert snap["Status"] == "creating" and snap["SnapshotType"] == "manual" and snap["Encrypted"] is False
    snap = wait_snapshot(r, "pg-plain-snap")
    assert snap["PercentProgress"] == 100

    key = k.create_key(Description="rds customer key")["KeyMetadata"]
    k.create_alias(AliasName="alias/rds-encrypt", TargetKeyId=key["KeyId"])
    copy = r.copy_db_snapshot(SourceDBSnapshotIdentifier="pg-plain-snap", TargetDBSnapshotIdentifier="pg-enc-snap",
                              KmsKeyId="alias/rds-encrypt")["DBSnapshot"]
    assert copy["Encrypted"] is True and copy["KmsKeyId"] == key["Arn"]
    assert copy["SourceDBSnapshotIdentifier"].endswith(":snapshot:pg-plain-snap")
    copy = wait_snapshot(r, "pg-enc-snap")
    assert copy["Encrypted"] is True and copy["KmsKeyId"] == key["Arn"]

    restored = r.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="pg-enc", DBSnapshotIdentifier="pg-enc-snap",
                                                      DBInstanceClass="db.t3.micro")["DBInstance"]
    assert restored["StorageEncrypted"] is True and restored["KmsKeyId"] == key["Arn"]
    restored = wait_instance(r, "pg-enc")
    assert restored["StorageEncrypted"] is True and restored["KmsKeyId"] == key["Arn"]
    assert restored["Engine"] == "postgres" and restored["AllocatedStorage"] == 20

    out = tmp_path / "restored.img"
    res = cli(server, "db", "export", "pg-enc", str(out))
    assert res.returncode == 0, res.stderr
    assert os.path.getsize(out) == 20 << 30
    same_storage(out, data)

    # The storage was re-encrypted through RDS: KMS saw the data key use invoked by RDS.
    ct = client("cloudtrail", account=ACCOUNT, region=REGION)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "rds.amazonaws.com"}])["Events"]
    names = {e["EventName"] for e in events}
    assert {"CreateDBInstance", "CreateDBSnapshot", "CopyDBSnapshot", "RestoreDBInstanceFromDBSnapshot"} <= names
    assert "secret-pw-1" not in str(events)
    # The copy's new data key was made by KMS for RDS, naming the source DB in its context.
    gdk = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GenerateDataKey"}])["Events"]
    details = [json.loads(e["CloudTrailEvent"]) for e in gdk]
    assert any(d["userIdentity"].get("invokedBy") == "rds.amazonaws.com"
               and d["requestParameters"].get("encryptionContext") == {"aws:rds:db-id": created["DbiResourceId"]}
               and d["requestParameters"].get("keyId") == key["Arn"]
               for d in details), details

    # RDS's backing storage is not EC2's.
    ec2 = client("ec2", account=ACCOUNT, region=REGION)
    assert ec2.describe_volumes()["Volumes"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []

    # Clean-up paths: delete with a final snapshot keeps the data.
    r.delete_db_instance(DBInstanceIdentifier="pg-enc", FinalDBSnapshotIdentifier="pg-enc-final")
    with pytest.raises(ClientError) as e:
        r.describe_db_instances(DBInstanceIdentifier="pg-enc")
    assert code(e) == "DBInstanceNotFound"
    final = wait_snapshot(r, "pg-enc-final")
    assert final["Encrypted"] is True and final["KmsKeyId"] == key["Arn"]
    r.delete_db_snapshot(DBSnapshotIdentifier="pg-enc-final")
    r.delete_db_instance(DBInstanceIdentifier="pg-plain", SkipFinalSnapshot=True)


def test_default_key_is_aws_rds(client):
    r, k = rds(client), kms(client)
    inst = create_pg(r, "pg-default", StorageEncrypted=True)
    managed = k.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert inst["StorageEncrypted"] is True and inst["KmsKeyId"] == managed["Arn"]
    inst = wait_instance(r, "pg-default")
    snap = r.create_db_snapshot(DBSnapshotIdentifier="pg-default-snap", DBInstanceIdentifier="pg-default")["DBSnapshot"]
    assert snap["KmsKeyId"] == managed["Arn"]
    assert wait_snapshot(r, "pg-default-snap")["Status"] == "available"
    r.delete_db_snapshot(DBSnapshotIdentifier="pg-default-snap")
    r.delete_db_instance(DBInstanceIdentifier="pg-default", SkipFinalSnapshot=True)


def test_errors(client):
    r, k = rds(client), kms(client)
    with pytest.raises(ClientError) as e:
        r.describe_db_instances(DBInstanceIdentifier="nosuch")
    assert code(e) == "DBInstanceNotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(r.exceptions.DBInstanceNotFoundFault):
        r.create_db_snapshot(DBSnapshotIdentifier="s1", DBInstanceIdentifier="nosuch")
    with pytest.raises(r.exceptions.DBSnapshotNotFoundFault):
        r.describe_db_snapshots(DBSnapshotIdentifier="nosuch")

    with pytest.raises(ClientError) as e:
        create_pg(r, "bad--name")
    assert code(e) == "InvalidParameterValue"
    assert "not a valid identifier" in e.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as e:
        create_pg(r, "pg-nokey", KmsKeyId="alias/aws/rds")
    assert code(e) == "InvalidParameterCombination"

    key = k.create_key()["KeyMetadata"]
    k.disable_key(KeyId=key["KeyId"])
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        create_pg(r, "pg-disabled", StorageEncrypted=True, KmsKeyId=key["Arn"])

    create_pg(r, "pg-errs")
    with pytest.raises(ClientError) as e:
        create_pg(r, "pg-errs")
    assert code(e) == "DBInstanceAlreadyExists"
    # Creation settles before the next call (issue #17), so a snapshot right away works; the
    # state rule for an instance really still creating is in test_fast_loops.py ([timing]).
    r.create_db_snapshot(DBSnapshotIdentifier="early", DBInstanceIdentifier="pg-errs")
    r.delete_db_snapshot(DBSnapshotIdentifier="early")
    wait_instance(r, "pg-errs")
    r.create_db_snapshot(DBSnapshotIdentifier="pg-errs-snap", DBInstanceIdentifier="pg-errs")
    with pytest.raises(r.exceptions.DBSnapshotAlreadyExistsFault):
        r.create_db_snapshot(DBSnapshotIdentifier="pg-errs-snap", DBInstanceIdentifier="pg-errs")
    wait_snapshot(r, "pg-errs-snap")
    # A copy under a disabled key is refused at once.
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        r.copy_db_snapshot(SourceDBSnapshotIdentifier="pg-errs-snap", TargetDBSnapshotIdentifier="c1", KmsKeyId=key["Arn"])
    with pytest.raises(ClientError) as e:
        r.delete_db_instance(DBInstanceIdentifier="pg-errs")
    assert code(e) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        r.describe_db_instances(Filters=[{"Name": "bogus", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"
    r.delete_db_snapshot(DBSnapshotIdentifier="pg-errs-snap")
    r.delete_db_instance(DBInstanceIdentifier="pg-errs", SkipFinalSnapshot=True)


def test_describe_filters_and_paging(client):
    r = rds(client)
    for i in range(3):
        r.create_db_instance(DBInstanceIdentifier=f"page-{i}", Engine="mysql" if i else "mariadb",
                             DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="dbadmin")
    mysql = r.describe_db_instances(Filters=[{"Name": "engine", "Values": ["mysql"]}])["DBInstances"]
    assert sorted(d["DBInstanceIdentifier"] for d in mysql) == ["page-1", "page-2"]
    one = r.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["page-0"]}])["DBInstances"]
    assert [d["Engine"] for d in one] == ["mariadb"]
    pages = list(r.get_paginator("describe_db_instances").paginate(PaginationConfig={"PageSize": 20}))
    names = [d["DBInstanceIdentifier"] for p in pages for d in p["DBInstances"]]
    assert {"page-0", "page-1", "page-2"} <= set(names)
    for i in range(3):
        r.delete_db_instance(DBInstanceIdentifier=f"page-{i}", SkipFinalSnapshot=True)
