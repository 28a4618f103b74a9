"""RDS DB instance lifecycle, tags and automated backups (issue #6; docs/rds.md §1–§4, §9),
with boto3 against the real binary.

* Tags of instances and snapshots by ARN (Add/Remove/ListTagsForResource), `Tags` on create,
  `CopyTagsToSnapshot`, `CopyTags` on copy, a restore taking the snapshot's tags.
* ModifyDBInstance (storage grows the real volume: the export is larger), Stop/Start/Reboot
  with every state a waiter or a poller looks for, deletion protection and final snapshots.
* Automated backups on the server's injected clock (a server of its own, as the clock moves
  days): `rds:<db>-YYYY-MM-DD-HH-MM` snapshots daily, expired after the retention period,
  never deleted by DeleteDBSnapshot, copied into manual ones.

Accounts: 715071507150 (tags, lifecycle), 826082608260 (backups, own server). Region
sa-east-1. No other test uses them.
"""

import os
import re
import subprocess
import time

import pytest
from botocore.exceptions import ParamValidationError

from conftest import BIN, make_client
from rds_helpers import error, eventually, wait_instance, wait_snapshot
import rds_helpers as h

ACCOUNT = "715071507150"
BACKUPS = "826082608260"
REGION = "sa-east-1"


def rds(client, account=ACCOUNT):
    return client("rds", account=account, region=REGION)


def status(r, name):
    return r.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]


def wait_status(r, name, wanted, timeout=30):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        s = status(r, name)
        if not seen or seen[-1] != s:
            seen.append(s)
        if s == wanted:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {wanted}: {seen}")


def create_pg(r, name, **kw):
    return h.create_pg(r, name, "secret-pw-3", **kw)


def tags(r, arn):
    return {t["Key"]: t["Value"] for t in r.list_tags_for_resource(ResourceName=arn)["TagList"]}


def test_tags_of_instances_and_snapshots(client):
    r = rds(client)
    inst = create_pg(r, "tag-db", Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "db"}], CopyTagsToSnapshot=True)
    arn = inst["DBInstanceArn"]
    assert tags(r, arn) == {"env": "prod", "team": "db"}
    r.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "staging"}, {"Key": "cost", "Value": "42"}])
    assert tags(r, arn) == {"env": "staging", "team": "db", "cost": "42"}
    r.remove_tags_from_resource(ResourceName=arn, TagKeys=["team", "absent"])
    assert tags(r, arn) == {"env": "staging", "cost": "42"}
    assert {t["Key"] for t in r.describe_db_instances(DBInstanceIdentifier="tag-db")["DBInstances"][0]["TagList"]} == {"env", "cost"}
    wait_instance(r, "tag-db")

    # CopyTagsToSnapshot: the snapshot gets the instance's tags, plus its own.
    snap = r.create_db_snapshot(DBSnapshotIdentifier="tag-snap", DBInstanceIdentifier="tag-db",
                                Tags=[{"Key": "kind", "Value": "manual"}])["DBSnapshot"]
    snap_arn = snap["DBSnapshotArn"]
    assert tags(r, snap_arn) == {"env": "staging", "cost": "42", "kind": "manual"}
    wait_snapshot(r, "tag-snap")
    r.add_tags_to_resource(ResourceName=snap_arn, Tags=[{"Key": "keep", "Value": "yes"}])
    with_tags = r.copy_db_snapshot(SourceDBSnapshotIdentifier="tag-snap", TargetDBSnapshotIdentifier="tag-copy", CopyTags=True,
                                   Tags=[{"Key": "kind", "Value": "copy"}])["DBSnapshot"]
    assert {t["Key"]: t["Value"] for t in with_tags["TagList"]} == {"env": "staging", "cost": "42", "kind": "copy", "keep": "yes"}
    bare = r.copy_db_snapshot(SourceDBSnapshotIdentifier="tag-snap", TargetDBSnapshotIdentifier="tag-copy-2")["DBSnapshot"]
    assert bare["TagList"] == []
    wait_snapshot(r, "tag-copy")
    wait_snapshot(r, "tag-copy-2")
    # A restore without Tags takes the snapshot's; with Tags, those.
    a = r.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="tag-r1", DBSnapshotIdentifier="tag-snap")["DBInstance"]
    assert tags(r, a["DBInstanceArn"]) == {"env": "staging", "cost": "42", "kind": "manual", "keep": "yes"}
    b = r.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="tag-r2", DBSnapshotIdentifier="tag-snap",
                                               Tags=[{"Key": "only", "Value": "this"}])["DBInstance"]
    assert tags(r, b["DBInstanceArn"]) == {"only": "this"}

    # Errors as RDS answers them.
    with pytest.raises(r.exceptions.DBInstanceNotFoundFault):
        r.list_tags_for_resource(ResourceName=f"arn:aws:rds:{REGION}:{ACCOUNT}:db:nosuch")
    with pytest.raises(r.exceptions.DBSnapshotNotFoundFault):
        r.add_tags_to_resource(ResourceName=f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:nosuch", Tags=[{"Key": "a", "Value": "b"}])
    with pytest.raises(r.exceptions.DBInstanceNotFoundFault):
        r.list_tags_for_resource(ResourceName=f"arn:aws:rds:{REGION}:111122223333:db:tag-db")
    for bad in (f"arn:aws:rds:us-east-1:{ACCOUNT}:db:tag-db", "tag-db", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1"):
        code, msg = error(lambda: r.list_tags_for_resource(ResourceName=bad))
        assert (code, msg) == ("InvalidParameterValue", "The specified resource name does not match an RDS resource in this region."), bad

    for name in ("tag-r1", "tag-r2", "tag-db"):
        r.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    for name in ("tag-snap", "tag-copy", "tag-copy-2"):
        r.delete_db_snapshot(DBSnapshotIdentifier=name)


def test_modify_stop_start_reboot_delete(server, client, tmp_path):
    r = rds(client)
    create_pg(r, "life-db", BackupRetentionPeriod=0)
    inst = wait_instance(r, "life-db")
    assert inst["BackupRetentionPeriod"] == 0 and inst["DeletionProtection"] is False

    # Storage grows (the real volume too); it never shrinks; retention and class change.
    mod = r.modify_db_instance(DBInstanceIdentifier="life-db", AllocatedStorage=30, BackupRetentionPeriod=3,
                               DBInstanceClass="db.t3.small", ApplyImmediately=True)["DBInstance"]
    assert mod["DBInstanceStatus"] == "modifying"
    # Settled by the next call (issue #17); modifying while really modifying: test_fast_loops.py.
    assert status(r, "life-db") == "available"
    inst = wait_instance(r, "life-db")
    assert (inst["AllocatedStorage"], inst["BackupRetentionPeriod"], inst["DBInstanceClass"]) == (30, 3, "db.t3.small")
    out = tmp_path / "life.img"
    res = subprocess.run([BIN, "db", "export", "life-db", str(out), "--endpoint", server.endpoint, "--region", REGION,
                          "--access-key", ACCOUNT, "--secret-key", "test"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert os.path.getsize(out) == 30 << 30
    code, _ = error(lambda: r.modify_db_instance(DBInstanceIdentifier="life-db", AllocatedStorage=20, ApplyImmediately=True))
    assert code == "InvalidParameterCombination"
    code, _ = error(lambda: r.modify_db_instance(DBInstanceIdentifier="life-db", BackupRetentionPeriod=36))
    assert code == "InvalidParameterValue"
    with pytest.raises(r.exceptions.DBInstanceNotFoundFault):
        r.modify_db_instance(DBInstanceIdentifier="nosuch", AllocatedStorage=40)
    # Encryption is fixed at creation: the API has no member that could change it.
    for bad in ({"StorageEncrypted": True}, {"KmsKeyId": "alias/aws/rds"}):
        with pytest.raises(ParamValidationError):
            r.modify_db_instance(DBInstanceIdentifier="life-db", **bad)

    # Reboot: the response says rebooting; the next call already finds it available (issue #17).
    assert r.reboot_db_instance(DBInstanceIdentifier="life-db")["DBInstance"]["DBInstanceStatus"] == "rebooting"
    assert status(r, "life-db") == "available"

    # Start refuses an instance that is not stopped, with RDS's wording.
    code, msg = error(lambda: r.start_db_instance(DBInstanceIdentifier="life-db"))
    assert code == "InvalidDBInstanceState"
    assert msg == ("Instance life-db cannot be started as it is not in one of the following statuses: 'stopped, "
                   "inaccessible-encryption-credentials-recoverable, incompatible-network (only valid for non-SqlServer instances)'.")

    # Stop (with a snapshot): stopping → stopped; start: starting → available.
    stopped = r.stop_db_instance(DBInstanceIdentifier="life-db", DBSnapshotIdentifier="life-stop-snap")["DBInstance"]
    assert stopped["DBInstanceStatus"] == "stopping"
    assert status(r, "life-db") == "stopped"
    assert wait_snapshot(r, "life-stop-snap")["AllocatedStorage"] == 30
    code, _ = error(lambda: r.stop_db_instance(DBInstanceIdentifier="life-db"))
    assert code == "InvalidDBInstanceState"
    code, _ = error(lambda: r.reboot_db_instance(DBInstanceIdentifier="life-db"))
    assert code == "InvalidDBInstanceState"
    started = r.start_db_instance(DBInstanceIdentifier="life-db")["DBInstance"]
    assert started["DBInstanceStatus"] == "starting"
    assert status(r, "life-db") == "available"

    # Deletion protection; then a final snapshot keeps the data.
    r.modify_db_instance(DBInstanceIdentifier="life-db", DeletionProtection=True, ApplyImmediately=True)
    wait_instance(r, "life-db")
    code, msg = error(lambda: r.delete_db_instance(DBInstanceIdentifier="life-db", SkipFinalSnapshot=True))
    assert (code, msg) == ("InvalidParameterCombination", "Cannot delete protected DB Instance, please disable deletion protection and try again.")
    r.modify_db_instance(DBInstanceIdentifier="life-db", DeletionProtection=False, ApplyImmediately=True)
    wait_instance(r, "life-db")
    code, _ = error(lambda: r.delete_db_instance(DBInstanceIdentifier="life-db"))
    assert code == "InvalidParameterCombination"
    code, _ = error(lambda: r.delete_db_instance(DBInstanceIdentifier="life-db", SkipFinalSnapshot=True, FinalDBSnapshotIdentifier="x"))
    assert code == "InvalidParameterCombination"
    with pytest.raises(r.exceptions.DBSnapshotAlreadyExistsFault):
        r.delete_db_instance(DBInstanceIdentifier="life-db", FinalDBSnapshotIdentifier="life-stop-snap")
    gone = r.delete_db_instance(DBInstanceIdentifier="life-db", FinalDBSnapshotIdentifier="life-final")["DBInstance"]
    assert gone["DBInstanceStatus"] == "deleting"
    r.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="life-db", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert wait_snapshot(r, "life-final")["AllocatedStorage"] == 30
    # Its automated snapshots went with it.
    assert r.describe_db_snapshots(DBInstanceIdentifier="life-db", SnapshotType="automated")["DBSnapshots"] == []
    for name in ("life-final", "life-stop-snap"):
        r.delete_db_snapshot(DBSnapshotIdentifier=name)


def test_rename(client):
    r = rds(client)
    create_pg(r, "ren-db", BackupRetentionPeriod=0)
    wait_instance(r, "ren-db")
    out = r.modify_db_instance(DBInstanceIdentifier="ren-db", NewDBInstanceIdentifier="ren-db-2", ApplyImmediately=True)["DBInstance"]
    assert out["DBInstanceIdentifier"] == "ren-db-2" and out["DBInstanceArn"].endswith(":db:ren-db-2")
    with pytest.raises(r.exceptions.DBInstanceNotFoundFault):
        r.describe_db_instances(DBInstanceIdentifier="ren-db")
    wait_instance(r, "ren-db-2")
    r.delete_db_instance(DBInstanceIdentifier="ren-db-2", SkipFinalSnapshot=True)


def test_automated_backups_on_the_clock(fresh_server):
    server = fresh_server()
    r = make_client(server, "rds", account=BACKUPS, region=REGION)
    create_pg(r, "auto-db", BackupRetentionPeriod=2)
    wait_instance(r, "auto-db")

    def automated():
        snaps = r.describe_db_snapshots(DBInstanceIdentifier="auto-db", SnapshotType="automated")["DBSnapshots"]
        return sorted(s["DBSnapshotIdentifier"] for s in snaps)

    def wait_automated(n, timeout=30):
        return eventually(automated, lambda have: len(have) == n, timeout, lambda: f"wanted {n} automated snapshots, have {automated()}")

    first = wait_automated(1)[0]
    assert re.fullmatch(r"rds:auto-db-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}", first), first
    snap = wait_snapshot(r, first)
    assert snap["SnapshotType"] == "automated"
    assert r.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
    assert first in [s["DBSnapshotIdentifier"] for s in r.describe_db_snapshots()["DBSnapshots"]]

    # Never deleted by hand; copied into a manual snapshot instead.
    code, msg = error(lambda: r.delete_db_snapshot(DBSnapshotIdentifier=first))
    assert (code, msg) == ("InvalidDBSnapshotState", "Only manual snapshots may be deleted.")
    copy = r.copy_db_snapshot(SourceDBSnapshotIdentifier=first, TargetDBSnapshotIdentifier="auto-keep")["DBSnapshot"]
    assert copy["SnapshotType"] == "manual"
    wait_snapshot(r, "auto-keep")

    # A day later a second one; two days after the first, it expires.
    server.advance_clock(25 * 3600)
    two = wait_automated(2)
    assert two[0] == first
    for s in two:
        wait_snapshot(r, s)
    server.advance_clock(24 * 3600)
    deadline = time.time() + 30
    while first in automated() and time.time() < deadline:
        time.sleep(0.3)
    later = automated()
    assert first not in later and len(later) == 2, later
    assert two[1] in later

    # Retention 0 deletes them all; the manual copy stays.
    r.modify_db_instance(DBInstanceIdentifier="auto-db", BackupRetentionPeriod=0, ApplyImmediately=True)
    assert automated() == []
    assert wait_snapshot(r, "auto-keep")["Status"] == "available"

    # A stopped instance starts again after 7 days.
    wait_instance(r, "auto-db")
    r.stop_db_instance(DBInstanceIdentifier="auto-db")
    wait_status(r, "auto-db", "stopped")
    server.advance_clock(7 * 24 * 3600 + 60)
    wait_instance(r, "auto-db")
