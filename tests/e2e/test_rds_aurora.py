"""RDS, Aurora: DB clusters with one encrypted storage volume shared by their instances, DB
cluster snapshots (copy with re-key, cross-region, cross-account sharing, restore with a new
key) moving real bytes, a lost KMS key reaching clusters and their instances, and automated
cluster snapshots on the injected clock (docs/rds.md §3–§8). No database engine runs: a cluster
is its storage, moved with `kmsnap db import/export` through any of its instances.

Accounts 471147114711 (owner) and 582258225822 (recipient), regions ap-southeast-2 and
ap-northeast-1 are this file's own.
"""

import json
import os
import re
import time

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, cross_account_key_policy, make_client
from rds_helpers import code, eventually, same_storage
import rds_helpers as h

ACCOUNT = "471147114711"
OTHER = "582258225822"
REGION = "ap-southeast-2"
DEST = "ap-northeast-1"
BLOCK = 512 * 1024
FAST = {"Delay": 1, "MaxAttempts": 60}


def rds(client, account=ACCOUNT, region=REGION):
    return client("rds", account=account, region=region)


def kms(client, account=ACCOUNT, region=REGION):
    return client("kms", account=account, region=region)


def cli(server, *args):
    return h.cli(server, ACCOUNT, REGION, *args)


def create_cluster(r, name, engine="aurora-postgresql", **kw):
    return r.create_db_cluster(DBClusterIdentifier=name, Engine=engine, MasterUsername="postgres",
                               MasterUserPassword="secret-pw-1", **kw)["DBCluster"]


def add_instance(r, name, cluster, **kw):
    return r.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier=cluster, Engine="aurora-postgresql",
                                DBInstanceClass="db.r6g.large", **kw)["DBInstance"]


def cluster(r, name):
    return r.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]


def instance(r, name):
    return r.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]


def wait_cluster(r, name):
    r.get_waiter("db_cluster_available").wait(DBClusterIdentifier=name, WaiterConfig=FAST)
    return cluster(r, name)


def wait_instance(r, name):
    r.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
    return instance(r, name)


def wait_snapshot(r, name):
    r.get_waiter("db_cluster_snapshot_available").wait(DBClusterSnapshotIdentifier=name, WaiterConfig=FAST)
    return r.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)["DBClusterSnapshots"][0]


def wait_status(get, want, timeout=20):
    deadline = time.time() + timeout
    while True:
        got = get()
        if got == want or time.time() > deadline:
            assert got == want
            return
        time.sleep(0.5)


def image(tmp_path):
    """2.5 blocks of data with a hole (block 1 is zeros)."""
    data = bytearray(os.urandom(2 * BLOCK + BLOCK // 2))
    data[BLOCK:2 * BLOCK] = bytes(BLOCK)
    p = tmp_path / "aurora.img"
    p.write_bytes(bytes(data))
    return p, bytes(data)




def test_cluster_with_a_customer_key_moves_real_bytes(server, client, tmp_path):
    r, k = rds(client), kms(client)
    key = k.create_key(Description="aurora key")["KeyMetadata"]
    k.create_alias(AliasName="alias/aurora", TargetKeyId=key["KeyId"])
    c = create_cluster(r, "aur-main", StorageEncrypted=True, KmsKeyId="alias/aurora")
    assert c["Status"] == "creating" and c["StorageEncrypted"] is True and c["KmsKeyId"] == key["Arn"]
    assert c["DbClusterResourceId"].startswith("cluster-") and c["DBClusterArn"].endswith(":cluster:aur-main")
    assert c["Engine"] == "aurora-postgresql" and c["DBClusterMembers"] == []
    wait_cluster(r, "aur-main")

    # An instance has the cluster's encryption, always.
    with pytest.raises(ClientError) as e:
        add_instance(r, "aur-main-w", "aur-main", KmsKeyId=key["Arn"])
    assert code(e) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        add_instance(r, "aur-main-w", "aur-main", StorageEncrypted=False)
    assert code(e) == "InvalidParameterCombination"
    with pytest.raises(r.exceptions.DBClusterNotFoundFault):
        add_instance(r, "aur-main-w", "nosuch")
    i = add_instance(r, "aur-main-w", "aur-main")
    assert i["DBClusterIdentifier"] == "aur-main" and i["StorageEncrypted"] is True and i["KmsKeyId"] == key["Arn"]
    i = wait_instance(r, "aur-main-w")
    assert i["DBClusterIdentifier"] == "aur-main" and i["KmsKeyId"] == key["Arn"]
    by_cluster = r.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["aur-main"]}])["DBInstances"]
    assert [x["DBInstanceIdentifier"] for x in by_cluster] == ["aur-main-w"]
    assert r.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["nosuch"]}])["DBInstances"] == []
    members = cluster(r, "aur-main")["DBClusterMembers"]
    assert members == [{"DBInstanceIdentifier": "aur-main-w", "IsClusterWriter": True,
                        "DBClusterParameterGroupStatus": "in-sync", "PromotionTier": 1}]

    # Data in through the instance: it lands in the cluster's storage.
    path, data = image(tmp_path)
    res = cli(server, "db", "import", "aur-main-w", str(path))
    assert res.returncode == 0, res.stderr

    snap = r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-main-s1", DBClusterIdentifier="aur-main")["DBClusterSnapshot"]
    assert snap["Status"] == "creating" and snap["KmsKeyId"] == key["Arn"] and snap["SnapshotType"] == "manual"
    snap = wait_snapshot(r, "aur-main-s1")
    assert snap["PercentProgress"] == 100 and snap["StorageEncrypted"] is True

    # Re-key by copy; restore the copy; the new cluster's storage holds the same bytes.
    key2 = k.create_key(Description="aurora key 2")["KeyMetadata"]
    copy = r.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="aur-main-s1",
                                      TargetDBClusterSnapshotIdentifier="aur-main-s2", KmsKeyId=key2["KeyId"])["DBClusterSnapshot"]
    assert copy["KmsKeyId"] == key2["Arn"] and copy["SourceDBClusterSnapshotArn"].endswith(":cluster-snapshot:aur-main-s1")
    assert wait_snapshot(r, "aur-main-s2")["KmsKeyId"] == key2["Arn"]
    restored = r.restore_db_cluster_from_snapshot(DBClusterIdentifier="aur-copy", SnapshotIdentifier="aur-main-s2",
                                                  Engine="aurora-postgresql")["DBCluster"]
    assert restored["KmsKeyId"] == key2["Arn"] and restored["DBClusterMembers"] == []
    wait_cluster(r, "aur-copy")
    add_instance(r, "aur-copy-w", "aur-copy")
    assert wait_instance(r, "aur-copy-w")["KmsKeyId"] == key2["Arn"]
    out = tmp_path / "restored.img"
    res = cli(server, "db", "export", "aur-copy-w", str(out))
    assert res.returncode == 0, res.stderr
    same_storage(out, data)

    # KMS saw the cluster's data key made through RDS with the cluster's encryption context
    # (without its plaintext, as RDS asks for a new resource's key: spec rds.md).
    ct = client("cloudtrail", account=ACCOUNT, region=REGION)
    gdk = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GenerateDataKeyWithoutPlaintext"}])["Events"]
    details = [json.loads(e["CloudTrailEvent"]) for e in gdk]
    assert any(d["userIdentity"].get("invokedBy") == "rds.amazonaws.com"
               and d["requestParameters"].get("encryptionContext") == {"aws:rds:dbc-id": c["DbClusterResourceId"]}
               for d in details), details
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "rds.amazonaws.com"}])["Events"]
    assert {"CreateDBCluster", "CreateDBClusterSnapshot", "CopyDBClusterSnapshot", "RestoreDBClusterFromSnapshot"} <= {e["EventName"] for e in events}
    assert "secret-pw-1" not in str(events)

    # A cluster with instances cannot be deleted; without them, a final snapshot keeps the data.
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.delete_db_cluster(DBClusterIdentifier="aur-main", SkipFinalSnapshot=True)
    r.delete_db_instance(DBInstanceIdentifier="aur-main-w")
    with pytest.raises(ClientError) as e:
        r.describe_db_instances(DBInstanceIdentifier="aur-main-w")
    assert code(e) == "DBInstanceNotFound"
    gone = r.delete_db_cluster(DBClusterIdentifier="aur-main", FinalDBSnapshotIdentifier="aur-main-final")["DBCluster"]
    assert gone["Status"] == "deleting"
    r.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="aur-main", WaiterConfig=FAST)
    final = wait_snapshot(r, "aur-main-final")
    assert final["KmsKeyId"] == key["Arn"] and final["DBClusterIdentifier"] == "aur-main"


def test_unencrypted_snapshot_restores_encrypted(client):
    r, k = rds(client), kms(client)
    c = create_cluster(r, "aur-plain", engine="aurora-mysql")
    assert c["StorageEncrypted"] is False and "KmsKeyId" not in c and c["Port"] == 3306
    wait_cluster(r, "aur-plain")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-plain-s", DBClusterIdentifier="aur-plain")
    assert wait_snapshot(r, "aur-plain-s")["StorageEncrypted"] is False
    key = k.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        r.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="aur-plain-s",
                                   TargetDBClusterSnapshotIdentifier="aur-plain-enc", KmsKeyId=key["Arn"])
    assert code(e) == "InvalidParameterValue"
    c = r.restore_db_cluster_from_snapshot(DBClusterIdentifier="aur-enc", SnapshotIdentifier="aur-plain-s",
                                           Engine="aurora-mysql", KmsKeyId=key["Arn"])["DBCluster"]
    assert c["StorageEncrypted"] is True and c["KmsKeyId"] == key["Arn"]
    assert wait_cluster(r, "aur-enc")["KmsKeyId"] == key["Arn"]
    # Default key when encrypted without a key.
    d = create_cluster(r, "aur-default", StorageEncrypted=True)
    assert d["KmsKeyId"] == k.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]["Arn"]
    with pytest.raises(r.exceptions.DBClusterAlreadyExistsFault):
        create_cluster(r, "aur-default")
    with pytest.raises(r.exceptions.DBClusterSnapshotNotFoundFault):
        r.restore_db_cluster_from_snapshot(DBClusterIdentifier="x", SnapshotIdentifier="nosuch", Engine="aurora-mysql")
    for name in ["aur-plain", "aur-enc", "aur-default"]:
        wait_cluster(r, name)
        r.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True)
    r.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-plain-s")
    with pytest.raises(r.exceptions.DBClusterSnapshotNotFoundFault):
        r.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="aur-plain-s")


def test_describe_filters_and_paging(client):
    r = rds(client, region="ap-south-1")
    names = [f"page-{i:02d}" for i in range(21)]
    for n in names:
        create_cluster(r, n)
    create_cluster(r, "page-mysql", engine="aurora-mysql")
    first = r.describe_db_clusters(MaxRecords=20)
    assert len(first["DBClusters"]) == 20 and first["Marker"]
    second = r.describe_db_clusters(MaxRecords=20, Marker=first["Marker"])
    assert len(second["DBClusters"]) == 2 and "Marker" not in second
    pages = r.get_paginator("describe_db_clusters").paginate(PaginationConfig={"PageSize": 20})
    assert sorted(c["DBClusterIdentifier"] for p in pages for c in p["DBClusters"]) == sorted(names + ["page-mysql"])
    mysql = r.describe_db_clusters(Filters=[{"Name": "engine", "Values": ["aurora-mysql"]}])["DBClusters"]
    assert [c["DBClusterIdentifier"] for c in mysql] == ["page-mysql"]
    byid = r.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["page-03", "page-04"]}])["DBClusters"]
    assert [c["DBClusterIdentifier"] for c in byid] == ["page-03", "page-04"]
    with pytest.raises(ClientError) as e:
        r.describe_db_clusters(Filters=[{"Name": "nosuch", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(r.exceptions.DBClusterNotFoundFault) as e:
        r.describe_db_clusters(DBClusterIdentifier="nosuch")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    for n in names + ["page-mysql"]:
        wait_cluster(r, n)
        r.delete_db_cluster(DBClusterIdentifier=n, SkipFinalSnapshot=True)


def test_stop_start_modify(client):
    r = rds(client)
    create_cluster(r, "aur-ss")
    add_instance(r, "aur-ss-1", "aur-ss")
    wait_cluster(r, "aur-ss")
    wait_instance(r, "aur-ss-1")
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault) as e:
        r.start_db_cluster(DBClusterIdentifier="aur-ss")
    assert e.value.response["Error"]["Message"] == (
        "DbCluster aur-ss is in available state but expected it to be one of "
        "stopped,inaccessible-encryption-credentials-recoverable.")
    assert r.stop_db_cluster(DBClusterIdentifier="aur-ss")["DBCluster"]["Status"] == "stopping"
    wait_status(lambda: cluster(r, "aur-ss")["Status"], "stopped")
    assert instance(r, "aur-ss-1")["DBInstanceStatus"] == "stopped"
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.stop_db_cluster(DBClusterIdentifier="aur-ss")
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.modify_db_cluster(DBClusterIdentifier="aur-ss", BackupRetentionPeriod=7)
    with pytest.raises(ClientError) as e:
        r.reboot_db_instance(DBInstanceIdentifier="aur-ss-1")
    assert code(e) == "InvalidDBInstanceState"
    assert r.start_db_cluster(DBClusterIdentifier="aur-ss")["DBCluster"]["Status"] == "starting"
    wait_cluster(r, "aur-ss")
    assert wait_instance(r, "aur-ss-1")["DBInstanceStatus"] == "available"

    m = r.modify_db_cluster(DBClusterIdentifier="aur-ss", BackupRetentionPeriod=7, DeletionProtection=True,
                            ApplyImmediately=True, MasterUserPassword="new-secret-2")["DBCluster"]
    assert m["BackupRetentionPeriod"] == 7 and m["DeletionProtection"] is True and m["StorageEncrypted"] is False
    assert instance(r, "aur-ss-1")["BackupRetentionPeriod"] == 7
    with pytest.raises(ClientError) as e:
        r.modify_db_instance(DBInstanceIdentifier="aur-ss-1", AllocatedStorage=100, ApplyImmediately=True)
    assert code(e) == "InvalidParameterCombination"
    rebooted = r.reboot_db_instance(DBInstanceIdentifier="aur-ss-1")["DBInstance"]
    assert rebooted["DBClusterIdentifier"] == "aur-ss"
    wait_instance(r, "aur-ss-1")
    # Aurora instances are backed up with their cluster, and stop with it.
    with pytest.raises(ClientError) as e:
        r.create_db_snapshot(DBSnapshotIdentifier="inst-snap", DBInstanceIdentifier="aur-ss-1")
    assert code(e) == "InvalidParameterValue"
    r.delete_db_instance(DBInstanceIdentifier="aur-ss-1")
    with pytest.raises(ClientError) as e:
        r.delete_db_cluster(DBClusterIdentifier="aur-ss", SkipFinalSnapshot=True)
    assert code(e) == "InvalidParameterCombination"
    r.modify_db_cluster(DBClusterIdentifier="aur-ss", DeletionProtection=False)
    with pytest.raises(ClientError) as e:
        r.delete_db_cluster(DBClusterIdentifier="aur-ss")
    assert code(e) == "InvalidParameterCombination"
    r.delete_db_cluster(DBClusterIdentifier="aur-ss", SkipFinalSnapshot=True)


def test_sharing_and_cross_account_copy(client):
    r, k = rds(client), kms(client)
    key = k.create_key(Policy=cross_account_key_policy(ACCOUNT, OTHER))["KeyMetadata"]
    create_cluster(r, "aur-shared", StorageEncrypted=True, KmsKeyId=key["Arn"])
    create_cluster(r, "aur-managed", StorageEncrypted=True)
    wait_cluster(r, "aur-shared")
    wait_cluster(r, "aur-managed")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="shared-s", DBClusterIdentifier="aur-shared")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="managed-s", DBClusterIdentifier="aur-managed")
    src = wait_snapshot(r, "shared-s")
    wait_snapshot(r, "managed-s")

    with pytest.raises(ClientError) as e:
        r.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="managed-s", AttributeName="restore", ValuesToAdd=[OTHER])
    assert code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        r.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="shared-s", AttributeName="restore", ValuesToAdd=["all"])
    assert code(e) == "InvalidParameterValue"
    out = r.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="shared-s", AttributeName="restore",
                                                 ValuesToAdd=[OTHER])["DBClusterSnapshotAttributesResult"]
    assert out["DBClusterSnapshotAttributes"] == [{"AttributeName": "restore", "AttributeValues": [OTHER]}]
    got = r.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier="shared-s")["DBClusterSnapshotAttributesResult"]
    assert got["DBClusterSnapshotIdentifier"] == "shared-s" and got["DBClusterSnapshotAttributes"][0]["AttributeValues"] == [OTHER]

    b, bk = rds(client, account=OTHER), kms(client, account=OTHER)
    shared = b.describe_db_cluster_snapshots(SnapshotType="shared")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotArn"] for s in shared] == [src["DBClusterSnapshotArn"]]
    assert shared[0]["SnapshotType"] == "shared"
    assert b.describe_db_cluster_snapshots()["DBClusterSnapshots"] == []
    assert len(b.describe_db_cluster_snapshots(IncludeShared=True)["DBClusterSnapshots"]) == 1
    with pytest.raises(b.exceptions.KMSKeyNotAccessibleFault) as e:
        b.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"], TargetDBClusterSnapshotIdentifier="mine")
    assert "[None]" in e.value.response["Error"]["Message"]
    bkey = bk.create_key()["KeyMetadata"]
    copy = b.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"],
                                      TargetDBClusterSnapshotIdentifier="mine", KmsKeyId=bkey["Arn"])["DBClusterSnapshot"]
    assert copy["KmsKeyId"] == bkey["Arn"]
    assert wait_snapshot(b, "mine")["Status"] == "available"
    c = b.restore_db_cluster_from_snapshot(DBClusterIdentifier="b-aur", SnapshotIdentifier="mine", Engine="aurora-postgresql")["DBCluster"]
    assert c["KmsKeyId"] == bkey["Arn"]
    wait_cluster(b, "b-aur")

    # Sharing grants no KMS permission: under a key whose policy admits only its owner, the
    # recipient cannot read the shared snapshot.
    private = k.create_key()["KeyMetadata"]
    create_cluster(r, "aur-private", StorageEncrypted=True, KmsKeyId=private["Arn"])
    wait_cluster(r, "aur-private")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="private-s", DBClusterIdentifier="aur-private")
    psnap = wait_snapshot(r, "private-s")
    r.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="private-s", AttributeName="restore", ValuesToAdd=[OTHER])
    with pytest.raises(b.exceptions.KMSKeyNotAccessibleFault) as e:
        b.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=psnap["DBClusterSnapshotArn"],
                                   TargetDBClusterSnapshotIdentifier="nope", KmsKeyId=bkey["Arn"])
    assert e.value.response["Error"]["Message"] == (f"The source snapshot KMS key [{private['Arn']}] does not exist, is not "
                                                    "enabled or you do not have permissions to access it.")

    # Unshared: gone from the recipient's view; its copy stays.
    r.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="shared-s", AttributeName="restore", ValuesToRemove=[OTHER])
    still = b.describe_db_cluster_snapshots(SnapshotType="shared")["DBClusterSnapshots"]
    assert [x["DBClusterSnapshotArn"] for x in still] == [psnap["DBClusterSnapshotArn"]]
    with pytest.raises(b.exceptions.DBClusterSnapshotNotFoundFault):
        b.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"],
                                   TargetDBClusterSnapshotIdentifier="again", KmsKeyId=bkey["Arn"])
    assert b.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="mine")["DBClusterSnapshots"][0]["Status"] == "available"


def test_cross_region_copy_needs_a_destination_key(client):
    r, k = rds(client), kms(client)
    key = k.create_key()["KeyMetadata"]
    create_cluster(r, "aur-xr", StorageEncrypted=True, KmsKeyId=key["Arn"])
    wait_cluster(r, "aur-xr")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="xr-s", DBClusterIdentifier="aur-xr")
    src = wait_snapshot(r, "xr-s")
    d, dk = rds(client, region=DEST), kms(client, region=DEST)
    with pytest.raises(d.exceptions.KMSKeyNotAccessibleFault) as e:
        d.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"],
                                   TargetDBClusterSnapshotIdentifier="xr-copy", SourceRegion=REGION)
    assert e.value.response["Error"]["Message"] == ("Specified KMS key [None] does not exist, is not enabled or you do not "
                                                    "have permissions to access it.")
    with pytest.raises(d.exceptions.KMSKeyNotAccessibleFault):
        d.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"],
                                   TargetDBClusterSnapshotIdentifier="xr-copy", KmsKeyId=key["Arn"], SourceRegion=REGION)
    dkey = dk.create_key()["KeyMetadata"]
    copy = d.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=src["DBClusterSnapshotArn"],
                                      TargetDBClusterSnapshotIdentifier="xr-copy", KmsKeyId=dkey["Arn"],
                                      SourceRegion=REGION)["DBClusterSnapshot"]
    assert copy["Status"] == "copying" and copy["KmsKeyId"] == dkey["Arn"]
    done = wait_snapshot(d, "xr-copy")
    assert done["SourceDBClusterSnapshotArn"] == src["DBClusterSnapshotArn"] and done["KmsKeyId"] == dkey["Arn"]


def test_a_lost_key_reaches_the_cluster_and_its_instances(fresh_server):
    """The issue's "Done when": disable → recoverable; enable + start → available; disable again
    and 8 days on the injected clock → terminal, where only deletion remains."""
    s = fresh_server()
    r = make_client(s, "rds", account=ACCOUNT, region=REGION)
    k = make_client(s, "kms", account=ACCOUNT, region=REGION)
    key = k.create_key(Description="lost key")["KeyMetadata"]
    create_cluster(r, "aur-k", StorageEncrypted=True, KmsKeyId=key["Arn"])
    add_instance(r, "aur-k-1", "aur-k")
    r.create_db_instance(DBInstanceIdentifier="pg-k", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                         MasterUsername="postgres", MasterUserPassword="secret-pw-1", StorageEncrypted=True, KmsKeyId=key["Arn"])
    wait_cluster(r, "aur-k")
    wait_instance(r, "aur-k-1")
    wait_instance(r, "pg-k")
    r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-k-s", DBClusterIdentifier="aur-k")
    wait_snapshot(r, "aur-k-s")

    k.disable_key(KeyId=key["KeyId"])
    recoverable = "inaccessible-encryption-credentials-recoverable"
    wait_status(lambda: cluster(r, "aur-k")["Status"], recoverable)
    assert instance(r, "aur-k-1")["DBInstanceStatus"] == recoverable
    wait_status(lambda: instance(r, "pg-k")["DBInstanceStatus"], recoverable)
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        r.start_db_instance(DBInstanceIdentifier="pg-k")
    with pytest.raises(ClientError) as e:
        r.start_db_instance(DBInstanceIdentifier="aur-k-1")
    assert code(e) == "InvalidParameterCombination"
    # Start while the key is still unusable, and copies or restores under it, fail with RDS's KMS error.
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        r.start_db_cluster(DBClusterIdentifier="aur-k")
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        r.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="aur-k-s", TargetDBClusterSnapshotIdentifier="aur-k-c")
    with pytest.raises(r.exceptions.KMSKeyNotAccessibleFault):
        r.restore_db_cluster_from_snapshot(DBClusterIdentifier="aur-k-r", SnapshotIdentifier="aur-k-s", Engine="aurora-postgresql")
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-k-s2", DBClusterIdentifier="aur-k")

    k.enable_key(KeyId=key["KeyId"])
    assert r.start_db_cluster(DBClusterIdentifier="aur-k")["DBCluster"]["Status"] == "starting"
    assert wait_cluster(r, "aur-k")["Status"] == "available"
    assert wait_instance(r, "aur-k-1")["DBInstanceStatus"] == "available"
    assert r.start_db_instance(DBInstanceIdentifier="pg-k")["DBInstance"]["DBInstanceStatus"] == "starting"
    assert wait_instance(r, "pg-k")["DBInstanceStatus"] == "available"

    k.disable_key(KeyId=key["KeyId"])
    wait_status(lambda: cluster(r, "aur-k")["Status"], recoverable)
    s.advance_clock(8 * 86400)
    wait_status(lambda: cluster(r, "aur-k")["Status"], "inaccessible-encryption-credentials")
    assert instance(r, "aur-k-1")["DBInstanceStatus"] == "inaccessible-encryption-credentials"
    wait_status(lambda: instance(r, "pg-k")["DBInstanceStatus"], "inaccessible-encryption-credentials")
    # Durable: a restarted server holds the same states.
    s.restart()
    r = make_client(s, "rds", account=ACCOUNT, region=REGION)
    k = make_client(s, "kms", account=ACCOUNT, region=REGION)
    assert cluster(r, "aur-k")["Status"] == "inaccessible-encryption-credentials"
    assert instance(r, "aur-k-1")["DBInstanceStatus"] == "inaccessible-encryption-credentials"
    k.enable_key(KeyId=key["KeyId"])
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.start_db_cluster(DBClusterIdentifier="aur-k")
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.modify_db_cluster(DBClusterIdentifier="aur-k", BackupRetentionPeriod=3)
    with pytest.raises(r.exceptions.InvalidDBClusterStateFault):
        r.delete_db_cluster(DBClusterIdentifier="aur-k", FinalDBSnapshotIdentifier="aur-k-final")
    # What remains: restore from a backup (the key is enabled again), or delete.
    r.restore_db_cluster_from_snapshot(DBClusterIdentifier="aur-k-r", SnapshotIdentifier="aur-k-s", Engine="aurora-postgresql")
    assert wait_cluster(r, "aur-k-r")["KmsKeyId"] == key["Arn"]
    with pytest.raises(ClientError) as e:
        r.start_db_instance(DBInstanceIdentifier="pg-k")
    assert code(e) == "InvalidDBInstanceState"
    r.delete_db_instance(DBInstanceIdentifier="pg-k", SkipFinalSnapshot=True)
    r.delete_db_instance(DBInstanceIdentifier="aur-k-1")
    r.delete_db_cluster(DBClusterIdentifier="aur-k", SkipFinalSnapshot=True)
    r.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="aur-k", WaiterConfig=FAST)


def test_tags_of_clusters_and_cluster_snapshots(client):
    r = rds(client)
    c = create_cluster(r, "aur-tags", Tags=[{"Key": "team", "Value": "db"}], CopyTagsToSnapshot=True)
    assert c["TagList"] == [{"Key": "team", "Value": "db"}] and c["CopyTagsToSnapshot"] is True
    arn = c["DBClusterArn"]
    r.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}])
    assert r.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "test"}]
    r.remove_tags_from_resource(ResourceName=arn, TagKeys=["env"])
    assert r.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "team", "Value": "data"}]
    wait_cluster(r, "aur-tags")
    snap = r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="aur-tags-s", DBClusterIdentifier="aur-tags")["DBClusterSnapshot"]
    assert snap["TagList"] == [{"Key": "team", "Value": "data"}]
    assert r.list_tags_for_resource(ResourceName=snap["DBClusterSnapshotArn"])["TagList"] == [{"Key": "team", "Value": "data"}]
    with pytest.raises(r.exceptions.DBClusterNotFoundFault):
        r.list_tags_for_resource(ResourceName=arn.replace("aur-tags", "nosuch"))
    wait_snapshot(r, "aur-tags-s")
    r.delete_db_cluster(DBClusterIdentifier="aur-tags", SkipFinalSnapshot=True)


def test_a_db_snapshot_migrates_into_a_cluster(server, client, tmp_path):
    r, k = rds(client), kms(client)
    r.create_db_instance(DBInstanceIdentifier="pg-mig", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                         MasterUsername="postgres", MasterUserPassword="secret-pw-1")
    wait_instance(r, "pg-mig")
    path, data = image(tmp_path)
    res = cli(server, "db", "import", "pg-mig", str(path))
    assert res.returncode == 0, res.stderr
    snap = r.create_db_snapshot(DBSnapshotIdentifier="pg-mig-s", DBInstanceIdentifier="pg-mig")["DBSnapshot"]
    r.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="pg-mig-s", WaiterConfig=FAST)
    key = k.create_key()["KeyMetadata"]
    c = r.restore_db_cluster_from_snapshot(DBClusterIdentifier="aur-mig", SnapshotIdentifier=snap["DBSnapshotArn"],
                                           Engine="aurora-postgresql", KmsKeyId=key["Arn"])["DBCluster"]
    assert c["Engine"] == "aurora-postgresql" and c["KmsKeyId"] == key["Arn"]
    wait_cluster(r, "aur-mig")
    add_instance(r, "aur-mig-1", "aur-mig")
    wait_instance(r, "aur-mig-1")
    out = tmp_path / "migrated.img"
    res = cli(server, "db", "export", "aur-mig-1", str(out))
    assert res.returncode == 0, res.stderr
    same_storage(out, data)


def test_automated_cluster_backups_on_the_clock(fresh_server):
    """Automated cluster snapshots on the server's injected clock (a server of its own): one
    right after the cluster becomes available, one a day after, each deleted once older than
    BackupRetentionPeriod; never deleted by hand, copied into a manual snapshot instead."""
    s = fresh_server()
    r = make_client(s, "rds", account=ACCOUNT, region=REGION)
    create_cluster(r, "aur-auto", BackupRetentionPeriod=1)
    wait_cluster(r, "aur-auto")

    def automated():
        snaps = r.describe_db_cluster_snapshots(DBClusterIdentifier="aur-auto", SnapshotType="automated")["DBClusterSnapshots"]
        return sorted(x["DBClusterSnapshotIdentifier"] for x in snaps)

    def wait_automated(ok, timeout=30):
        return eventually(automated, ok, timeout, lambda: f"automated snapshots: {automated()}")

    first = wait_automated(lambda h: len(h) == 1)[0]
    assert re.fullmatch(r"rds:aur-auto-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}", first), first
    snap = wait_snapshot(r, first)
    assert (snap["SnapshotType"], snap["DBClusterIdentifier"]) == ("automated", "aur-auto")
    assert r.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"] == []
    assert first in [x["DBClusterSnapshotIdentifier"] for x in r.describe_db_cluster_snapshots()["DBClusterSnapshots"]]

    # Never deleted by hand; copied into a manual snapshot instead.
    with pytest.raises(ClientError) as e:
        r.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=first)
    assert (code(e), e.value.response["Error"]["Message"]) == ("InvalidDBClusterSnapshotStateFault", "Only manual snapshots may be deleted.")
    copy = r.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=first, TargetDBClusterSnapshotIdentifier="aur-auto-keep")["DBClusterSnapshot"]
    assert copy["SnapshotType"] == "manual"
    wait_snapshot(r, "aur-auto-keep")

    # Two days on the clock, a day at a time: each day a new one, and the previous one has
    # outlived the 1-day retention.
    seen = [first]
    for _ in range(2):
        s.advance_clock(24 * 3600 + 60)
        now = wait_automated(lambda h: len(h) == 1 and h[0] not in seen)
        wait_snapshot(r, now[0])
        seen.append(now[0])
    assert len(set(seen)) == 3

    # A stopped cluster gets none.
    r.stop_db_cluster(DBClusterIdentifier="aur-auto")
    wait_status(lambda: cluster(r, "aur-auto")["Status"], "stopped")
    s.advance_clock(2 * 24 * 3600)
    wait_automated(lambda h: h == [])
    time.sleep(2)
    assert automated() == []
    r.start_db_cluster(DBClusterIdentifier="aur-auto")
    wait_cluster(r, "aur-auto")
    wait_snapshot(r, wait_automated(lambda h: len(h) == 1)[0])

    # The cluster's deletion takes its automated snapshots; the manual copy stays.
    r.delete_db_cluster(DBClusterIdentifier="aur-auto", SkipFinalSnapshot=True)
    assert r.describe_db_cluster_snapshots(SnapshotType="automated")["DBClusterSnapshots"] == []
    assert wait_snapshot(r, "aur-auto-keep")["Status"] == "available"
