"""RDS read replicas (issue #6; docs/rds.md §9 "Read replicas match encryption"), with boto3
against the real binary: same-region and cross-region (boto3's `SourceRegion` → `PreSignedUrl`)
replicas under their keys follow their source's storage byte for byte, the encryption rules
refuse what AWS refuses, and deleting the source promotes its replicas.

Account 937093709370; regions us-west-2 (source) and ap-northeast-1. No other test uses it.
"""

import os
import time

import pytest

from rds_helpers import error
import rds_helpers as h

ACCOUNT = "937093709370"
OREGON = "us-west-2"
TOKYO = "ap-northeast-1"
BLOCK = 512 * 1024


def cli(server, region, *args):
    return h.cli(server, ACCOUNT, region, *args)


def wait_instance(r, name):
    return h.wait_instance(r, name, attempts=90)


def create_pg(r, name, **kw):
    return h.create_pg(r, name, "secret-pw-4", **kw)


def load(server, region, name, tmp_path, data):
    p = tmp_path / f"{name}-in.img"
    p.write_bytes(data)
    res = cli(server, region, "db", "import", name, str(p))
    assert res.returncode == 0, res.stderr


def storage(server, region, name, tmp_path, size):
    out = tmp_path / f"{name}-out.img"
    res = cli(server, region, "db", "export", name, str(out))
    assert res.returncode == 0, res.stderr
    with open(out, "rb") as f:
        return f.read(size)


def eventually_equal(server, region, name, tmp_path, data, timeout=45):
    deadline = time.time() + timeout
    while True:
        got = storage(server, region, name, tmp_path, len(data))
        if got == data or time.time() > deadline:
            return got
        time.sleep(1)


def test_replicas_follow_their_source_under_their_keys(server, client, tmp_path):
    src = client("rds", account=ACCOUNT, region=OREGON)
    dst = client("rds", account=ACCOUNT, region=TOKYO)
    src_key = client("kms", account=ACCOUNT, region=OREGON).create_key()["KeyMetadata"]
    dst_key = client("kms", account=ACCOUNT, region=TOKYO).create_key()["KeyMetadata"]

    # Encryption and backup rules.
    create_pg(src, "rep-plain", BackupRetentionPeriod=1)
    create_pg(src, "rep-nobackup", BackupRetentionPeriod=0, StorageEncrypted=True, KmsKeyId=src_key["Arn"])
    create_pg(src, "rep-src", BackupRetentionPeriod=1, StorageEncrypted=True, KmsKeyId=src_key["Arn"])
    for name in ("rep-plain", "rep-nobackup", "rep-src"):
        wait_instance(src, name)
    code, msg = error(lambda: src.create_db_instance_read_replica(DBInstanceIdentifier="rep-x", SourceDBInstanceIdentifier="rep-nobackup"))
    assert code == "InvalidDBInstanceState" and msg.startswith("Automated backups are not enabled for this database instance.")
    code, _ = error(lambda: src.create_db_instance_read_replica(DBInstanceIdentifier="rep-x", SourceDBInstanceIdentifier="rep-plain",
                                                                KmsKeyId=src_key["Arn"]))
    assert code == "InvalidParameterCombination"
    with pytest.raises(src.exceptions.DBInstanceNotFoundFault):
        src.create_db_instance_read_replica(DBInstanceIdentifier="rep-x", SourceDBInstanceIdentifier="nosuch")
    source_arn = f"arn:aws:rds:{OREGON}:{ACCOUNT}:db:rep-src"
    code, msg = error(lambda: dst.create_db_instance_read_replica(DBInstanceIdentifier="rep-tokyo", SourceDBInstanceIdentifier=source_arn,
                                                                  SourceRegion=OREGON))
    assert (code, msg) == ("InvalidParameterCombination", "For encrypted cross-region replica, kmsKeyId should be explicitly specified")
    code, _ = error(lambda: dst.create_db_instance_read_replica(DBInstanceIdentifier="rep-tokyo", SourceDBInstanceIdentifier=source_arn,
                                                                KmsKeyId=src_key["Arn"], SourceRegion=OREGON))
    assert code == "KMSKeyNotAccessibleFault"

    first = os.urandom(3 * BLOCK + 100)
    load(server, OREGON, "rep-src", tmp_path, first)
    local = src.create_db_instance_read_replica(DBInstanceIdentifier="rep-local", SourceDBInstanceIdentifier="rep-src")["DBInstance"]
    assert local["DBInstanceStatus"] == "creating" and local["KmsKeyId"] == src_key["Arn"]
    assert local["ReadReplicaSourceDBInstanceIdentifier"] == "rep-src"
    tokyo = dst.create_db_instance_read_replica(DBInstanceIdentifier="rep-tokyo", SourceDBInstanceIdentifier=source_arn,
                                                KmsKeyId=dst_key["Arn"], SourceRegion=OREGON)["DBInstance"]
    assert tokyo["KmsKeyId"] == dst_key["Arn"] and tokyo["StorageEncrypted"] is True
    assert tokyo["ReadReplicaSourceDBInstanceIdentifier"] == source_arn
    wait_instance(src, "rep-local")
    wait_instance(dst, "rep-tokyo")
    assert storage(server, OREGON, "rep-local", tmp_path, len(first)) == first
    assert storage(server, TOKYO, "rep-tokyo", tmp_path, len(first)) == first
    shown = src.describe_db_instances(DBInstanceIdentifier="rep-src")["DBInstances"][0]
    assert sorted(shown["ReadReplicaDBInstanceIdentifiers"]) == sorted(["rep-local", f"arn:aws:rds:{TOKYO}:{ACCOUNT}:db:rep-tokyo"])

    # New data on the source reaches both replicas.
    second = os.urandom(2 * BLOCK + 5)
    load(server, OREGON, "rep-src", tmp_path, second)
    assert eventually_equal(server, OREGON, "rep-local", tmp_path, second) == second
    assert eventually_equal(server, TOKYO, "rep-tokyo", tmp_path, second) == second

    # A replication pins the instances: no stop, and the source keeps its backups.
    for r, name in ((src, "rep-src"), (src, "rep-local")):
        code, _ = error(lambda: r.stop_db_instance(DBInstanceIdentifier=name))
        assert code == "InvalidDBInstanceState", name
    code, _ = error(lambda: src.modify_db_instance(DBInstanceIdentifier="rep-src", BackupRetentionPeriod=0, ApplyImmediately=True))
    assert code == "InvalidParameterCombination"
    code, _ = error(lambda: src.delete_db_instance(DBInstanceIdentifier="rep-local", FinalDBSnapshotIdentifier="rep-final"))
    assert code == "InvalidParameterCombination"

    # Deleting the source promotes its replicas; their data stays.
    src.delete_db_instance(DBInstanceIdentifier="rep-src", SkipFinalSnapshot=True)
    deadline = time.time() + 30
    while "ReadReplicaSourceDBInstanceIdentifier" in dst.describe_db_instances(DBInstanceIdentifier="rep-tokyo")["DBInstances"][0]:
        assert time.time() < deadline, "replica never promoted"
        time.sleep(0.5)
    assert storage(server, TOKYO, "rep-tokyo", tmp_path, len(second)) == second

    for r, name in ((src, "rep-local"), (dst, "rep-tokyo"), (src, "rep-plain"), (src, "rep-nobackup")):
        r.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
