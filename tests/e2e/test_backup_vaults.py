"""AWS Backup vaults (issue #15 item 1, docs/backup.md): create/describe/list/delete with their
key, tags, access policy and vault lock, through boto3 and the aws cli, against the release
binary. Backup jobs and recovery points: test_backup_jobs.py; copy jobs are not built yet."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, run_aws

REGION = "ap-northeast-1"


def clients(server, account):
    return (make_client(server, "backup", account=account, region=REGION),
            make_client(server, "kms", account=account, region=REGION))


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message")


def test_a_vault_without_a_key_is_under_the_aws_managed_backup_key(server):
    backup, kms = clients(server, "310000000001")
    out = backup.create_backup_vault(BackupVaultName="plain-vault")
    assert out["BackupVaultArn"] == f"arn:aws:backup:{REGION}:310000000001:backup-vault:plain-vault"
    d = backup.describe_backup_vault(BackupVaultName="plain-vault")
    managed = kms.describe_key(KeyId="alias/aws/backup")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert d["EncryptionKeyArn"] == managed["Arn"]
    assert d["VaultType"] == "BACKUP_VAULT" and d["VaultState"] == "AVAILABLE"
    assert d["NumberOfRecoveryPoints"] == 0 and d["Locked"] is False
    assert d["CreationDate"] == out["CreationDate"]
    names = [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]
    assert names == ["plain-vault"]


def test_a_customer_key_must_be_a_key_arn_of_the_region(server):
    backup, kms = clients(server, "310000000002")
    key = kms.create_key()["KeyMetadata"]
    backup.create_backup_vault(BackupVaultName="cmk-vault", EncryptionKeyArn=key["Arn"])
    d = backup.describe_backup_vault(BackupVaultName="cmk-vault")
    assert d["EncryptionKeyArn"] == key["Arn"]
    assert d["EncryptionKeyType"] == "CUSTOMER_MANAGED_KMS_KEY"
    oregon = make_client(server, "kms", account="310000000002", region="us-west-2").create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/vault-key", TargetKeyId=key["KeyId"])
    for bad in (oregon["Arn"], "alias/vault-key", key["KeyId"],
                key["Arn"].replace(key["KeyId"], "00000000-0000-0000-0000-000000000000")):
        code, status, _ = error_of(lambda: backup.create_backup_vault(BackupVaultName="bad-key", EncryptionKeyArn=bad))
        assert (code, status) == ("InvalidParameterValueException", 400), bad
    names = [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]
    assert names == ["cmk-vault"]


def test_names_and_duplicates(server):
    backup, _ = clients(server, "310000000003")
    backup.create_backup_vault(BackupVaultName="dup")
    code, status, _ = error_of(lambda: backup.create_backup_vault(BackupVaultName="dup"))
    assert (code, status) == ("AlreadyExistsException", 400)
    code, status, _ = error_of(lambda: backup.create_backup_vault(BackupVaultName="no.dots"))
    assert (code, status) == ("InvalidParameterValueException", 400)


def test_a_missing_vault_is_access_denied_and_deletion_removes(server):
    """AWS answers DescribeBackupVault of a vault that does not exist with 403
    AccessDeniedException "Insufficient privileges to perform this action." (docs/backup.md §2)."""
    backup, _ = clients(server, "310000000004")
    code, status, msg = error_of(lambda: backup.describe_backup_vault(BackupVaultName="ghost"))
    assert (code, status, msg) == ("AccessDeniedException", 403, "Insufficient privileges to perform this action.")
    backup.create_backup_vault(BackupVaultName="short-lived")
    backup.delete_backup_vault(BackupVaultName="short-lived")
    code, _, _ = error_of(lambda: backup.describe_backup_vault(BackupVaultName="short-lived"))
    assert code == "AccessDeniedException"
    # Another account's vault of the same name is not this account's.
    other, _ = clients(server, "310000000005")
    other.create_backup_vault(BackupVaultName="mine")
    code, _, _ = error_of(lambda: backup.describe_backup_vault(BackupVaultName="mine"))
    assert code == "AccessDeniedException"


def test_access_policy_round_trip(server):
    backup, _ = clients(server, "310000000006")
    backup.create_backup_vault(BackupVaultName="with-policy")
    code, status, _ = error_of(lambda: backup.get_backup_vault_access_policy(BackupVaultName="with-policy"))
    assert (code, status) == ("ResourceNotFoundException", 400)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "backup:DeleteRecoveryPoint", "Resource": "*"}]})
    code, _, _ = error_of(lambda: backup.put_backup_vault_access_policy(BackupVaultName="with-policy", Policy="{not json"))
    assert code == "InvalidParameterValueException"
    backup.put_backup_vault_access_policy(BackupVaultName="with-policy", Policy=policy)
    got = backup.get_backup_vault_access_policy(BackupVaultName="with-policy")
    assert got["Policy"] == policy and got["BackupVaultArn"].endswith(":backup-vault:with-policy")
    backup.delete_backup_vault_access_policy(BackupVaultName="with-policy")
    code, _, _ = error_of(lambda: backup.get_backup_vault_access_policy(BackupVaultName="with-policy"))
    assert code == "ResourceNotFoundException"


def test_vault_lock_compliance_and_governance_modes(fresh_server):
    s = fresh_server()
    backup, _ = clients(s, "310000000007")
    backup.create_backup_vault(BackupVaultName="compliance")
    backup.create_backup_vault(BackupVaultName="governance")
    code, _, _ = error_of(lambda: backup.put_backup_vault_lock_configuration(
        BackupVaultName="compliance", MinRetentionDays=7, ChangeableForDays=2))
    assert code == "InvalidParameterValueException"
    backup.put_backup_vault_lock_configuration(BackupVaultName="compliance", MinRetentionDays=7,
                                               MaxRetentionDays=30, ChangeableForDays=3)
    backup.put_backup_vault_lock_configuration(BackupVaultName="governance", MinRetentionDays=1)
    d = backup.describe_backup_vault(BackupVaultName="compliance")
    assert (d["Locked"], d["MinRetentionDays"], d["MaxRetentionDays"]) == (True, 7, 30)
    assert 3 * 86400 - 120 <= (d["LockDate"] - d["CreationDate"]).total_seconds() <= 3 * 86400 + 120
    # Past the grace time (server clock) the compliance lock is immutable; governance is not.
    s.advance_clock(4 * 86400)
    code, status, _ = error_of(lambda: backup.delete_backup_vault_lock_configuration(BackupVaultName="compliance"))
    assert (code, status) == ("InvalidRequestException", 400)
    code, _, _ = error_of(lambda: backup.put_backup_vault_lock_configuration(
        BackupVaultName="compliance", MinRetentionDays=1))
    assert code == "InvalidRequestException"
    backup.delete_backup_vault_lock_configuration(BackupVaultName="governance")
    assert backup.describe_backup_vault(BackupVaultName="governance")["Locked"] is False
    assert backup.describe_backup_vault(BackupVaultName="compliance")["Locked"] is True


def test_tags_with_the_aws_cli(server):
    account = "310000000008"
    backup, _ = clients(server, account)
    arn = backup.create_backup_vault(BackupVaultName="tagged", BackupVaultTags={"team": "a"})["BackupVaultArn"]
    r = run_aws(server, "backup", "tag-resource", "--resource-arn", arn, "--tags", "env=dev,team=b",
                account=account, region=REGION)
    assert r.returncode == 0, r.stderr
    r = run_aws(server, "backup", "list-tags", "--resource-arn", arn, account=account, region=REGION)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Tags"] == {"team": "b", "env": "dev"}
    r = run_aws(server, "backup", "untag-resource", "--resource-arn", arn, "--tag-key-list", "team",
                account=account, region=REGION)
    assert r.returncode == 0, r.stderr
    assert backup.list_tags(ResourceArn=arn)["Tags"] == {"env": "dev"}
    code, _, _ = error_of(lambda: backup.tag_resource(ResourceArn=arn, Tags={"aws:x": "y"}))
    assert code == "InvalidParameterValueException"
    code, _, _ = error_of(lambda: backup.list_tags(ResourceArn=arn.replace("tagged", "absent")))
    assert code == "ResourceNotFoundException"


def test_vault_calls_are_in_cloudtrail_without_tags(server):
    account = "310000000009"
    backup, _ = clients(server, account)
    backup.create_backup_vault(BackupVaultName="audited", BackupVaultTags={"secret-ish": "value"})
    backup.delete_backup_vault(BackupVaultName="audited")
    ct = make_client(server, "cloudtrail", account=account, region=REGION)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource",
                                                 "AttributeValue": "backup.amazonaws.com"}])["Events"]
    names = [e["EventName"] for e in events]
    assert names[:2] == ["DeleteBackupVault", "CreateBackupVault"], names
    create = json.loads(events[1]["CloudTrailEvent"])
    assert create["requestParameters"]["backupVaultName"] == "audited"
    assert "value" not in events[1]["CloudTrailEvent"]
    assert create["resources"][0]["ARN"].endswith(":backup-vault:audited")


def test_vaults_survive_a_kill(fresh_server):
    s = fresh_server()
    backup, _ = clients(s, "310000000010")
    backup.create_backup_vault(BackupVaultName="durable", BackupVaultTags={"k": "v"})
    backup.put_backup_vault_lock_configuration(BackupVaultName="durable", MinRetentionDays=2)
    s.kill9()
    s.start()
    backup, _ = clients(s, "310000000010")
    d = backup.describe_backup_vault(BackupVaultName="durable")
    assert d["Locked"] is True and d["MinRetentionDays"] == 2
    assert backup.list_tags(ResourceArn=d["BackupVaultArn"])["Tags"] == {"k": "v"}


def test_copy_jobs_are_not_built_yet(server):
    backup, _ = clients(server, "310000000011")
    code, status, _ = error_of(lambda: backup.list_copy_jobs())
    assert (code, status) == ("NotImplemented", 501)
