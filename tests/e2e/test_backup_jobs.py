"""AWS Backup on-demand backup jobs of EBS volumes and their recovery points (issue #15 item 2,
docs/backup.md §8–§9), through boto3 and the aws cli, against the release binary: the recovery
point is a native EC2 snapshot encrypted exactly like the volume."""

import base64
import hashlib
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, run_aws

REGION = "ap-northeast-1"
AZ = "ap-northeast-1a"
FAST = {"Delay": 1, "MaxAttempts": 60}
ROLE = "arn:aws:iam::{}:role/service-role/AWSBackupDefaultServiceRole"
BLOCK = bytes(range(256)) * 2048


def clients(server, account):
    return {s: make_client(server, s, account=account, region=REGION) for s in ("backup", "ec2", "ebs", "kms")}


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message")


def volume_with_data(c, key_arn=None):
    """A volume holding BLOCK at index 3: a direct-API snapshot restored into a volume."""
    ebs, ec2 = c["ebs"], c["ec2"]
    sid = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    checksum = base64.b64encode(hashlib.sha256(BLOCK).digest()).decode()
    ebs.put_snapshot_block(SnapshotId=sid, BlockIndex=3, BlockData=BLOCK, DataLength=len(BLOCK),
                           Checksum=checksum, ChecksumAlgorithm="SHA256")
    ebs.complete_snapshot(SnapshotId=sid, ChangedBlocksCount=1)
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig=FAST)
    kw = {"Encrypted": True, "KmsKeyId": key_arn} if key_arn else {}
    v = ec2.create_volume(AvailabilityZone=AZ, SnapshotId=sid, **kw)
    ec2.get_waiter("volume_available").wait(VolumeIds=[v["VolumeId"]], WaiterConfig=FAST)
    return v


def volume_arn(account, vid):
    return f"arn:aws:ec2:{REGION}:{account}:volume/{vid}"


def empty_volume_and_vault(server, account, vault):
    """Clients of `account`, its backup client, a new empty volume's ARN, and vault `vault`."""
    c = clients(server, account)
    vol = c["ec2"].create_volume(AvailabilityZone=AZ, Size=1)
    c["backup"].create_backup_vault(BackupVaultName=vault)
    return c, c["backup"], volume_arn(account, vol["VolumeId"])


def wait_job(backup, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = backup.describe_backup_job(BackupJobId=job_id)
        if j["State"] in ("COMPLETED", "FAILED", "ABORTED"):
            return j
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {j}")


def read_block(ebs, snap_id, index):
    blocks = ebs.list_snapshot_blocks(SnapshotId=snap_id)["Blocks"]
    token = {b["BlockIndex"]: b["BlockToken"] for b in blocks}[index]
    return [b["BlockIndex"] for b in blocks], ebs.get_snapshot_block(
        SnapshotId=snap_id, BlockIndex=index, BlockToken=token)["BlockData"].read()


def test_an_encrypted_volume_backs_up_to_a_native_snapshot_under_its_key(server):
    account = "320000000001"
    c = clients(server, account)
    key = c["kms"].create_key(Description="volume key")["KeyMetadata"]["Arn"]
    vol = volume_with_data(c, key)
    c["backup"].create_backup_vault(BackupVaultName="jobs-vault")
    out = c["backup"].start_backup_job(BackupVaultName="jobs-vault", ResourceArn=volume_arn(account, vol["VolumeId"]),
                                       IamRoleArn=ROLE.format(account), Lifecycle={"DeleteAfterDays": 30})
    rp = out["RecoveryPointArn"]
    assert rp.startswith(f"arn:aws:ec2:{REGION}::snapshot/snap-")
    assert len(out["BackupJobId"]) == 36 and out["BackupJobId"] == out["BackupJobId"].upper()
    job = wait_job(c["backup"], out["BackupJobId"])
    assert job["State"] == "COMPLETED" and job["PercentDone"] == "100.0"
    assert job["ResourceType"] == "EBS" and job["RecoveryPointArn"] == rp
    assert job["BackupSizeInBytes"] == 1 << 30 and job["AccountId"] == account
    assert job["EncryptionKeyArn"] == key and job["IsEncrypted"] is True
    point = c["backup"].describe_recovery_point(BackupVaultName="jobs-vault", RecoveryPointArn=rp)
    assert point["Status"] == "COMPLETED" and point["EncryptionKeyArn"] == key and point["IsEncrypted"] is True
    assert point["ResourceArn"] == volume_arn(account, vol["VolumeId"]) and point["ResourceType"] == "EBS"
    assert point["Lifecycle"]["DeleteAfterDays"] == 30 and "DeleteAt" in point["CalculatedLifecycle"]
    assert point["StorageClass"] == "WARM"
    # The recovery point is an EC2 snapshot of the account, under the volume's key.
    snap_id = rp.rsplit("/", 1)[1]
    snap = c["ec2"].describe_snapshots(SnapshotIds=[snap_id])["Snapshots"][0]
    assert (snap["OwnerId"], snap["State"], snap["Encrypted"], snap["KmsKeyId"], snap["VolumeId"]) == \
        (account, "completed", True, key, vol["VolumeId"])
    assert snap["Description"] == "This snapshot is created by the AWS Backup service."
    assert read_block(c["ebs"], snap_id, 3) == ([3], BLOCK)
    # A volume made from it holds the same bytes.
    restored = c["ec2"].create_volume(AvailabilityZone=AZ, SnapshotId=snap_id)
    assert restored["KmsKeyId"] == key
    c["ec2"].get_waiter("volume_available").wait(VolumeIds=[restored["VolumeId"]], WaiterConfig=FAST)
    again = c["ec2"].create_snapshot(VolumeId=restored["VolumeId"])["SnapshotId"]
    c["ec2"].get_waiter("snapshot_completed").wait(SnapshotIds=[again], WaiterConfig=FAST)
    assert read_block(c["ebs"], again, 3) == ([3], BLOCK)
    # Lists and the vault's count.
    listed = c["backup"].list_recovery_points_by_backup_vault(BackupVaultName="jobs-vault")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in listed] == [rp]
    by_resource = c["backup"].list_recovery_points_by_resource(ResourceArn=volume_arn(account, vol["VolumeId"]))["RecoveryPoints"]
    assert [(p["RecoveryPointArn"], p["BackupVaultName"], p["EncryptionKeyArn"]) for p in by_resource] == [(rp, "jobs-vault", key)]
    assert c["backup"].describe_backup_vault(BackupVaultName="jobs-vault")["NumberOfRecoveryPoints"] == 1
    jobs = c["backup"].list_backup_jobs(ByBackupVaultName="jobs-vault", ByState="COMPLETED")["BackupJobs"]
    assert [j["BackupJobId"] for j in jobs] == [out["BackupJobId"]]
    assert c["backup"].list_backup_jobs(ByState="FAILED")["BackupJobs"] == []
    assert c["backup"].list_backup_jobs(ByResourceType="RDS")["BackupJobs"] == []
    code, _, _ = error_of(lambda: c["backup"].delete_backup_vault(BackupVaultName="jobs-vault"))
    assert code == "InvalidRequestException"
    # Deleting the point deletes the snapshot; then the vault can go.
    c["backup"].delete_recovery_point(BackupVaultName="jobs-vault", RecoveryPointArn=rp)
    assert c["ec2"].describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snap_id]}])["Snapshots"] == []
    assert c["backup"].describe_backup_vault(BackupVaultName="jobs-vault")["NumberOfRecoveryPoints"] == 0
    c["backup"].delete_backup_vault(BackupVaultName="jobs-vault")


def test_an_unencrypted_volume_stays_unencrypted_and_the_cli_sees_the_job(server):
    account = "320000000002"
    c = clients(server, account)
    vol = c["ec2"].create_volume(AvailabilityZone=AZ, Size=2)
    c["ec2"].get_waiter("volume_available").wait(VolumeIds=[vol["VolumeId"]], WaiterConfig=FAST)
    c["backup"].create_backup_vault(BackupVaultName="plain")
    r = run_aws(server, "backup", "start-backup-job", "--backup-vault-name", "plain",
                "--resource-arn", volume_arn(account, vol["VolumeId"]), "--iam-role-arn", ROLE.format(account),
                account=account, region=REGION, check=True)
    job_id = json.loads(r.stdout)["BackupJobId"]
    job = wait_job(c["backup"], job_id)
    assert job["IsEncrypted"] is False and "EncryptionKeyArn" not in job
    r = run_aws(server, "backup", "describe-backup-job", "--backup-job-id", job_id,
                account=account, region=REGION, check=True)
    assert json.loads(r.stdout)["State"] == "COMPLETED"
    snap_id = job["RecoveryPointArn"].rsplit("/", 1)[1]
    assert c["ec2"].describe_snapshots(SnapshotIds=[snap_id])["Snapshots"][0]["Encrypted"] is False


def test_bad_requests_answer_aws_errors(server):
    account = "320000000003"
    c = clients(server, account)
    b = c["backup"]
    vol = c["ec2"].create_volume(AvailabilityZone=AZ, Size=1)
    arn = volume_arn(account, vol["VolumeId"])
    code, status, msg = error_of(lambda: b.start_backup_job(BackupVaultName="nope", ResourceArn=arn, IamRoleArn=ROLE.format(account)))
    assert (code, status, msg) == ("AccessDeniedException", 403, "Insufficient privileges to perform this action.")
    b.create_backup_vault(BackupVaultName="errs")
    missing = volume_arn(account, "vol-0123456789abcdef0")
    code, status, _ = error_of(lambda: b.start_backup_job(BackupVaultName="errs", ResourceArn=missing, IamRoleArn=ROLE.format(account)))
    assert (code, status) == ("ResourceNotFoundException", 400)
    other = volume_arn("320000000099", vol["VolumeId"])
    code, _, _ = error_of(lambda: b.start_backup_job(BackupVaultName="errs", ResourceArn=other, IamRoleArn=ROLE.format(account)))
    assert code == "ResourceNotFoundException"
    rds = f"arn:aws:rds:{REGION}:{account}:db:mydb"
    code, status, _ = error_of(lambda: b.start_backup_job(BackupVaultName="errs", ResourceArn=rds, IamRoleArn=ROLE.format(account)))
    assert (code, status) == ("NotImplemented", 501)
    code, _, _ = error_of(lambda: b.start_backup_job(BackupVaultName="errs", ResourceArn=arn, IamRoleArn=ROLE.format(account),
                                                     Lifecycle={"MoveToColdStorageAfterDays": 10, "DeleteAfterDays": 20}))
    assert code == "InvalidParameterValueException"
    code, _, _ = error_of(lambda: b.describe_backup_job(BackupJobId="00000000-0000-0000-0000-000000000000"))
    assert code == "ResourceNotFoundException"
    code, _, _ = error_of(lambda: b.describe_recovery_point(BackupVaultName="errs", RecoveryPointArn=f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"))
    assert code == "ResourceNotFoundException"


def test_idempotency_token_and_stop(server):
    account = "320000000004"
    c, b, arn = empty_volume_and_vault(server, account, "idem")
    one = b.start_backup_job(BackupVaultName="idem", ResourceArn=arn, IamRoleArn=ROLE.format(account), IdempotencyToken="tok-1")
    two = b.start_backup_job(BackupVaultName="idem", ResourceArn=arn, IamRoleArn=ROLE.format(account), IdempotencyToken="tok-1")
    assert one["BackupJobId"] == two["BackupJobId"] and one["RecoveryPointArn"] == two["RecoveryPointArn"]
    done = wait_job(b, one["BackupJobId"])
    code, _, _ = error_of(lambda: b.stop_backup_job(BackupJobId=done["BackupJobId"]))
    assert code == "InvalidRequestException"
    # A job stopped before the worker's next step ends ABORTED and leaves no point nor snapshot
    # (the stop may lose the race against a fast seal; then it is refused as above).
    started = b.start_backup_job(BackupVaultName="idem", ResourceArn=arn, IamRoleArn=ROLE.format(account))
    try:
        b.stop_backup_job(BackupJobId=started["BackupJobId"])
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidRequestException"
        pytest.skip("the job completed before it could be stopped")
    j = b.describe_backup_job(BackupJobId=started["BackupJobId"])
    assert j["State"] == "ABORTED"
    snap_id = started["RecoveryPointArn"].rsplit("/", 1)[1]
    assert c["ec2"].describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snap_id]}])["Snapshots"] == []
    points = b.list_recovery_points_by_backup_vault(BackupVaultName="idem")["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in points] == [one["RecoveryPointArn"]]


def test_vault_lock_and_access_policy_guard_deletion(server):
    account = "320000000005"
    c, b, arn = empty_volume_and_vault(server, account, "locked")
    b.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=7, MaxRetentionDays=30)
    for life in ({"DeleteAfterDays": 3}, {"DeleteAfterDays": 31}, None):
        kw = {"Lifecycle": life} if life else {}
        code, _, _ = error_of(lambda: b.start_backup_job(BackupVaultName="locked", ResourceArn=arn,
                                                         IamRoleArn=ROLE.format(account), **kw))
        assert code == "InvalidParameterValueException", life
    out = b.start_backup_job(BackupVaultName="locked", ResourceArn=arn, IamRoleArn=ROLE.format(account),
                             Lifecycle={"DeleteAfterDays": 10})
    wait_job(b, out["BackupJobId"])
    rp = out["RecoveryPointArn"]
    code, _, _ = error_of(lambda: b.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp))
    assert code == "InvalidRequestException"
    code, _, _ = error_of(lambda: b.update_recovery_point_lifecycle(BackupVaultName="locked", RecoveryPointArn=rp,
                                                                  Lifecycle={"DeleteAfterDays": 40}))
    assert code == "InvalidParameterValueException"
    upd = b.update_recovery_point_lifecycle(BackupVaultName="locked", RecoveryPointArn=rp, Lifecycle={"DeleteAfterDays": 20})
    assert upd["Lifecycle"]["DeleteAfterDays"] == 20 and upd["RecoveryPointArn"] == rp
    assert b.describe_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp)["Lifecycle"]["DeleteAfterDays"] == 20
    # EC2 refuses to delete the snapshot: Backup manages it (docs/backup.md §9).
    snap_id = rp.rsplit("/", 1)[1]
    code, status, msg = error_of(lambda: c["ec2"].delete_snapshot(SnapshotId=snap_id))
    assert (code, status) == ("InvalidParameterValue", 400)
    assert msg.startswith("This snapshot is managed by the AWS Backup service and cannot be deleted via EC2 APIs.")
    b.delete_backup_vault_lock_configuration(BackupVaultName="locked")
    b.put_backup_vault_access_policy(BackupVaultName="locked", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}]}))
    code, status, _ = error_of(lambda: b.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp))
    assert (code, status) == ("AccessDeniedException", 403)
    b.delete_backup_vault_access_policy(BackupVaultName="locked")
    b.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=rp)
    assert c["ec2"].describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snap_id]}])["Snapshots"] == []


def test_lifecycle_expires_points_on_the_server_clock(fresh_server):
    s = fresh_server()
    account = "320000000006"
    c, b, arn = empty_volume_and_vault(s, account, "expiring")
    out = b.start_backup_job(BackupVaultName="expiring", ResourceArn=arn,
                             IamRoleArn=ROLE.format(account), Lifecycle={"DeleteAfterDays": 1})
    wait_job(b, out["BackupJobId"])
    s.advance_clock(2 * 86400)
    deadline = time.time() + 20
    while b.list_recovery_points_by_backup_vault(BackupVaultName="expiring")["RecoveryPoints"] and time.time() < deadline:
        time.sleep(0.5)
    assert b.list_recovery_points_by_backup_vault(BackupVaultName="expiring")["RecoveryPoints"] == []


def test_a_job_resumes_after_kill9(fresh_server):
    s = fresh_server()
    account = "320000000007"
    c = clients(s, account)
    key = c["kms"].create_key()["KeyMetadata"]["Arn"]
    vol = volume_with_data(c, key)
    c["backup"].create_backup_vault(BackupVaultName="durable-jobs")
    out = c["backup"].start_backup_job(BackupVaultName="durable-jobs", ResourceArn=volume_arn(account, vol["VolumeId"]),
                                       IamRoleArn=ROLE.format(account))
    s.kill9()
    s.start()
    c = clients(s, account)
    job = wait_job(c["backup"], out["BackupJobId"])
    assert job["State"] == "COMPLETED"
    snap_id = out["RecoveryPointArn"].rsplit("/", 1)[1]
    assert read_block(c["ebs"], snap_id, 3) == ([3], BLOCK)
    point = c["backup"].describe_recovery_point(BackupVaultName="durable-jobs", RecoveryPointArn=out["RecoveryPointArn"])
    assert point["Status"] == "COMPLETED" and point["EncryptionKeyArn"] == key


def test_backup_calls_are_in_cloudtrail(server):
    account = "320000000008"
    c, _, arn = empty_volume_and_vault(server, account, "trail")
    out = c["backup"].start_backup_job(BackupVaultName="trail", ResourceArn=arn,
                                       IamRoleArn=ROLE.format(account))
    wait_job(c["backup"], out["BackupJobId"])
    c["backup"].delete_recovery_point(BackupVaultName="trail", RecoveryPointArn=out["RecoveryPointArn"])
    ct = make_client(server, "cloudtrail", account=account, region=REGION)
    names = {e["EventName"] for e in ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "backup.amazonaws.com"}])["Events"]}
    assert {"StartBackupJob", "DeleteRecoveryPoint"} <= names
