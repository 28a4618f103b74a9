"""Answers that must be AWS's own (issue #21), each test naming the AWS source it follows.
docs/fidelity.md has the evidence in full, section by section, with what is unconfirmed.

Every test uses accounts no other test file uses (the shared `server` fixture is reused) or a
server of its own."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, run_aws

# Accounts of this file only.
ACCT = "186282397000"

ROLE = f"arn:aws:iam::{ACCT}:role/fidelity-target"


def error(call, status=None):
    """The error of `call()` as (code, message); checks the HTTP status when given."""
    with pytest.raises(ClientError) as e:
        call()
    if status is not None:
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.value.response
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def cli_error(proc):
    """The code and message of an aws cli failure ("An error occurred (Code) when calling …: message")."""
    assert proc.returncode != 0, proc.stdout
    line = next(l for l in proc.stderr.splitlines() if "An error occurred (" in l)
    code = line.split("An error occurred (", 1)[1].split(")", 1)[0]
    return code, line.split(": ", 1)[1] if ": " in line else ""


# --- 1. STS: the account root cannot assume a role -----------------------------------------------
# AWS: 403 AccessDenied "Roles may not be assumed by root accounts." — recorded by the aws cli in
# kubeflow/testing#961 and as the raw JSON envelope (status 403) in double-break/spapi-php#45.

ROOT_KEY, ROOT_SECRET = "AKIAFIDELITYROOT0001", "fidelity-root-secret"
# A configured root key whose id is shaped like a dev-mode convention key: still a configured key.
LOOKALIKE_KEY, LOOKALIKE_SECRET = "299792458000", "fidelity-lookalike-secret"


def dev_server_with_root_keys(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text(
        f'[[access_keys]]\naccess_key_id = "{ROOT_KEY}"\nsecret_access_key = "{ROOT_SECRET}"\naccount = "{ACCT}"\n\n'
        f'[[access_keys]]\naccess_key_id = "{LOOKALIKE_KEY}"\nsecret_access_key = "{LOOKALIKE_SECRET}"\naccount = "{ACCT}"\n'
    )
    return fresh_server(extra_args=["--config", str(cfg)])


def test_configured_root_keys_cannot_assume_roles_even_in_dev_mode(fresh_server, tmp_path):
    s = dev_server_with_root_keys(fresh_server, tmp_path)
    for key, secret in ((ROOT_KEY, ROOT_SECRET), (LOOKALIKE_KEY, LOOKALIKE_SECRET)):
        sts = make_client(s, "sts", access_key=key, secret=secret)
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCT}:root"
        assert error(lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="ci"), 403) == \
            ("AccessDenied", "Roles may not be assumed by root accounts.")
    proc = run_aws(s, "sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "ci",
                   env={"AWS_ACCESS_KEY_ID": ROOT_KEY, "AWS_SECRET_ACCESS_KEY": ROOT_SECRET})
    assert cli_error(proc) == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_dev_convention_keys_still_assume_roles(fresh_server, tmp_path):
    # kmsnap's own dev-mode allowance (README "Using it"): scripts for local AWS servers rely on it.
    s = dev_server_with_root_keys(fresh_server, tmp_path)
    for account in ("000000000000", "141421356237"):
        creds = make_client(s, "sts", account=account).assume_role(RoleArn=ROLE, RoleSessionName="dev")["Credentials"]
        assert creds["AccessKeyId"].startswith("ASIA")
    proc = run_aws(s, "sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "dev")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/fidelity-target/dev"


# --- 2. RDS: database names and master user names ----------------------------------------------
# AWS: InvalidParameterValue (400) "DBName must begin with a letter and contain only alphanumeric
# characters." for CreateDBInstance postgres DBName "db-uw2-augst-postgre" (terraform-aws-modules/
# terraform-aws-rds#425, 2022) and the like; "DatabaseName must begin with …" for CreateDBCluster
# aurora-postgresql DatabaseName "my-svc-dev" (hashicorp/terraform-provider-aws#38528, 2024); "The
# parameter MasterUsername must be provided and must not be blank." (terraform-aws-modules/
# terraform-aws-rds-aurora#368, 2023); "MasterUsername admin cannot be used as it is a reserved word
# used by the engine" (aws/aws-cdk#5076). The per-engine rules are the CreateDBInstance `DBName` and
# `MasterUsername` docs of botocore's rds 2014-10-31 model.

RDS_ACCT = "602214076100"
RDS_REGION = "eu-central-1"


def new_instance(r, name, **kw):
    args = dict(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                MasterUsername="postgres", MasterUserPassword="fidelity-pw-1")
    args.update(kw)
    return r.create_db_instance(**{k: v for k, v in args.items() if v is not None})


def test_rds_database_names_follow_the_engine_rules(server):
    r = make_client(server, "rds", account=RDS_ACCT, region=RDS_REGION)
    dbname = ("InvalidParameterValue", "DBName must begin with a letter and contain only alphanumeric characters.")
    for engine in ("postgres", "mysql", "mariadb"):
        for bad in ("staging-postgres", "1app", "app.db"):
            assert error(lambda: new_instance(r, "fid-bad-name", Engine=engine, MasterUsername="dbmaster", DBName=bad), 400) == dbname
    assert error(lambda: new_instance(r, "fid-bad-name", DBName="a" * 64), 400) == dbname
    assert new_instance(r, "fid-good-name", DBName="staging_postgres")["DBInstance"]["DBName"] == "staging_postgres"

    cluster = dict(Engine="aurora-postgresql", MasterUsername="postgres", MasterUserPassword="fidelity-pw-1")
    assert error(lambda: r.create_db_cluster(DBClusterIdentifier="fid-aur", DatabaseName="my-svc-dev", **cluster), 400) == \
        ("InvalidParameterValue", "DatabaseName must begin with a letter and contain only alphanumeric characters.")
    made = r.create_db_cluster(DBClusterIdentifier="fid-aur", DatabaseName="my_svc_dev", **cluster)["DBCluster"]
    assert made["DatabaseName"] == "my_svc_dev"

    proc = run_aws(server, "rds", "create-db-instance", "--db-instance-identifier", "fid-cli", "--engine", "postgres",
                   "--db-instance-class", "db.t3.micro", "--allocated-storage", "20", "--master-username", "postgres",
                   "--master-user-password", "fidelity-pw-1", "--db-name", "staging-postgres",
                   account=RDS_ACCT, region=RDS_REGION)
    assert cli_error(proc) == dbname


def test_rds_master_user_name_is_required_and_checked(server):
    r = make_client(server, "rds", account=RDS_ACCT, region=RDS_REGION)
    required = ("InvalidParameterValue", "The parameter MasterUsername must be provided and must not be blank.")
    for engine in ("postgres", "mysql", "mariadb"):
        assert error(lambda: new_instance(r, "fid-nouser", Engine=engine, MasterUsername=None), 400) == required
    assert error(lambda: r.create_db_cluster(DBClusterIdentifier="fid-nouser", Engine="aurora-mysql",
                                             MasterUserPassword="fidelity-pw-1"), 400) == required
    assert error(lambda: new_instance(r, "fid-reserved", MasterUsername="admin"), 400) == \
        ("InvalidParameterValue", "MasterUsername admin cannot be used as it is a reserved word used by the engine")
    assert error(lambda: new_instance(r, "fid-baduser", MasterUsername="db-admin"), 400)[0] == "InvalidParameterValue"
    # What AWS accepts beyond the model's "1 to 16": 25 characters on postgres, `admin` on mysql.
    assert new_instance(r, "fid-longuser", MasterUsername="application_db_admin_user")["DBInstance"]["MasterUsername"] == \
        "application_db_admin_user"
    assert new_instance(r, "fid-mysqladmin", Engine="mysql", MasterUsername="admin")["DBInstance"]["MasterUsername"] == "admin"
    proc = run_aws(server, "rds", "create-db-instance", "--db-instance-identifier", "fid-cli-nouser", "--engine", "mysql",
                   "--db-instance-class", "db.t3.micro", "--allocated-storage", "20", account=RDS_ACCT, region=RDS_REGION)
    assert cli_error(proc) == required

# --- 3. KMS: what a KeyId that names nothing answers -------------------------------------------
# AWS, recorded in LocalStack's AWS-validated snapshots (tests/aws/services/kms/test_kms.snapshot.json):
# `test_get_key_invalid_uuid` "Invalid keyId 'fake-key-id'" (also for '134f2428cec14b25a1ae9048164dba47'
# and 'mrk-fake-key-id'); `test_get_key_does_not_exist` "Key '<key ARN>' does not exist" for a UUID,
# its ARN and a well-formed `mrk-` id; `test_get_key_in_different_region` "Invalid arn <region>" for a
# key ARN of another region. An unknown alias: "Alias arn:aws:kms:<region>:<acct>:alias/<name> is not
# found." (AWS Java SDK output in cloudposse/docs#152). All NotFoundException, HTTP 400.

KMS_ACCT = "662607015000"
KMS_REGION = "eu-west-1"
UUID = "134f2428-cec1-4b25-a1ae-9048164dba47"
MRK = "mrk-d3b95762d3b95762d3b95762d3b95762"


def kms_ops(kms):
    """Operations that take a KeyId: (name, accepts aliases, call)."""
    grantee = f"arn:aws:iam::{KMS_ACCT}:root"
    return [
        ("DescribeKey", True, lambda k: kms.describe_key(KeyId=k)),
        ("Encrypt", True, lambda k: kms.encrypt(KeyId=k, Plaintext=b"x")),
        ("GenerateDataKey", True, lambda k: kms.generate_data_key(KeyId=k, KeySpec="AES_256")),
        ("EnableKeyRotation", False, lambda k: kms.enable_key_rotation(KeyId=k)),
        ("DisableKey", False, lambda k: kms.disable_key(KeyId=k)),
        ("TagResource", False, lambda k: kms.tag_resource(KeyId=k, Tags=[{"TagKey": "a", "TagValue": "b"}])),
        ("ScheduleKeyDeletion", False, lambda k: kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)),
        ("CreateGrant", False, lambda k: kms.create_grant(KeyId=k, GranteePrincipal=grantee, Operations=["Decrypt"])),
        ("ListGrants", False, lambda k: kms.list_grants(KeyId=k)),
        ("GetKeyPolicy", False, lambda k: kms.get_key_policy(KeyId=k, PolicyName="default")),
        ("ListAliases", False, lambda k: kms.list_aliases(KeyId=k)),
        ("RetireGrant", False, lambda k: kms.retire_grant(KeyId=k, GrantId="0" * 64)),
    ]


def test_kms_not_found_texts_for_every_kind_of_identifier(server):
    kms = make_client(server, "kms", account=KMS_ACCT, region=KMS_REGION)
    prefix = f"arn:aws:kms:{KMS_REGION}:{KMS_ACCT}"
    other_region_arn = make_client(server, "kms", account=KMS_ACCT, region="us-west-2").create_key()["KeyMetadata"]["Arn"]
    cases = [
        # (identifier, message where aliases are accepted, message where only keys are)
        (UUID, f"Key '{prefix}:key/{UUID}' does not exist", None),
        (f"{prefix}:key/{UUID}", f"Key '{prefix}:key/{UUID}' does not exist", None),
        (MRK, f"Key '{prefix}:key/{MRK}' does not exist", None),
        (other_region_arn, "Invalid arn us-west-2", None),
        ("fake-key-id", "Invalid keyId 'fake-key-id'", None),
        ("134f2428cec14b25a1ae9048164dba47", "Invalid keyId '134f2428cec14b25a1ae9048164dba47'", None),
        ("mrk-fake-key-id", "Invalid keyId 'mrk-fake-key-id'", None),
        (f"{prefix}:key/fake-key-id", "Invalid keyId 'fake-key-id'", None),
        ("alias/fidelity-none", f"Alias {prefix}:alias/fidelity-none is not found.", "Invalid keyId 'alias/fidelity-none'"),
        (f"{prefix}:alias/fidelity-none", f"Alias {prefix}:alias/fidelity-none is not found.",
         f"Invalid keyId '{prefix}:alias/fidelity-none'"),
    ]
    for name, aliases, call in kms_ops(kms):
        for ident, msg, key_only_msg in cases:
            want = msg if aliases or key_only_msg is None else key_only_msg
            assert error(lambda: call(ident), 400) == ("NotFoundException", want), (name, ident)


def test_kms_not_found_texts_through_the_cli(server):
    proc = run_aws(server, "kms", "describe-key", "--key-id", "fake-key-id", account=KMS_ACCT, region=KMS_REGION)
    assert cli_error(proc) == ("NotFoundException", "Invalid keyId 'fake-key-id'")
    proc = run_aws(server, "kms", "enable-key-rotation", "--key-id", UUID, account=KMS_ACCT, region=KMS_REGION)
    assert cli_error(proc) == ("NotFoundException", f"Key 'arn:aws:kms:{KMS_REGION}:{KMS_ACCT}:key/{UUID}' does not exist")


# --- 4. Malformed EC2 ids and RDS identifiers ---------------------------------------------------
# EC2: `InvalidParameterValue` "Value (standard) for parameter volumeId is invalid. Expected: 'vol-...'."
# from the aws cli's CreateSnapshot (cloudavail/aws-missing-tools#59); "Value (<id>) for parameter
# volumes is invalid. Expected: 'vol-...'." from DescribeVolumes with an instance id (a 2026-08 record
# of CloudFormation's volume attachment handler; AWS ParallelCluster's validator matches that text);
# `InvalidVolumeID.Malformed` 'Invalid id: "vol-malformedvolume"' (cloud-custodian's EBS error handler
# tests); CreateTags `InvalidID` "The ID '…' is not valid" (cloudavail/aws-missing-tools#71).

EC2_ACCT = "602214076200"


def test_ec2_malformed_ids_name_the_parameter(server):
    ec2 = make_client(server, "ec2", account=EC2_ACCT, region="eu-west-2")
    def value(v, param, kind):
        return ("InvalidParameterValue", f"Value ({v}) for parameter {param} is invalid. Expected: '{kind}-...'.")
    assert error(lambda: ec2.describe_volumes(VolumeIds=["malformed-id"]), 400) == value("malformed-id", "volumes", "vol")
    assert error(lambda: ec2.describe_volumes(VolumeIds=["vol-malformedvolume"]), 400) == \
        ("InvalidVolumeID.Malformed", 'Invalid id: "vol-malformedvolume"')
    assert error(lambda: ec2.describe_snapshots(SnapshotIds=["malformed-id"]), 400) == value("malformed-id", "snapshots", "snap")
    assert error(lambda: ec2.create_snapshot(VolumeId="standard"), 400) == value("standard", "volumeId", "vol")
    assert error(lambda: ec2.create_snapshot(VolumeId="vol-ahsg23h"), 400) == value("vol-ahsg23h", "volumeId", "vol")
    assert error(lambda: ec2.delete_volume(VolumeId="malformed-id"), 400) == value("malformed-id", "volumeId", "vol")
    assert error(lambda: ec2.delete_snapshot(SnapshotId="malformed-id"), 400) == value("malformed-id", "snapshotId", "snap")
    assert error(lambda: ec2.create_volume(AvailabilityZone="eu-west-2a", SnapshotId="malformed-id"), 400) == \
        value("malformed-id", "snapshotId", "snap")
    assert error(lambda: ec2.create_tags(Resources=["2014-10-21T13:34:24.000Z"], Tags=[{"Key": "a", "Value": "b"}]), 400) == \
        ("InvalidID", "The ID '2014-10-21T13:34:24.000Z' is not valid")
    proc = run_aws(server, "ec2", "create-snapshot", "--volume-id", "standard", account=EC2_ACCT, region="eu-west-2")
    assert cli_error(proc) == value("standard", "volumeId", "vol")


# RDS: DescribeDBSnapshotAttributes looks names up without judging their syntax — it answers for
# `awsbackup:job-…` (aws/aws-cli#5407) and `rds:…` names (aws/aws-cli#8296) that
# ModifyDBSnapshotAttribute calls invalid — so a name of no snapshot is 404 DBSnapshotNotFound,
# "DBSnapshot not found: <name>" (the raw response in aws/aws-cli#8296). An ARN of another resource
# type is "The parameter SourceDBSnapshotIdentifier is not a valid identifier. …" (AWS's identifier
# text, e.g. aws/aws-cli#8296, for that parameter).

RDS4_ACCT = "602214076300"
IDENT = ("Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; "
         "and must not end with a hyphen or contain two consecutive hyphens.")


def test_rds_snapshot_identifiers_of_invalid_syntax_or_the_wrong_type(server):
    r = make_client(server, "rds", account=RDS4_ACCT, region="eu-west-3")
    for bad in ("not_valid!", "awsbackup:job-0000", "bad--name"):
        assert error(lambda: r.describe_db_snapshot_attributes(DBSnapshotIdentifier=bad), 404) == \
            ("DBSnapshotNotFound", f"DBSnapshot not found: {bad}")
        assert error(lambda: r.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=bad), 404) == \
            ("DBClusterSnapshotNotFoundFault", f"DBClusterSnapshot not found: {bad}")
    db_arn = f"arn:aws:rds:eu-west-3:{RDS4_ACCT}:db:somedb"
    assert error(lambda: r.copy_db_snapshot(SourceDBSnapshotIdentifier=db_arn, TargetDBSnapshotIdentifier="copy"), 400) == \
        ("InvalidParameterValue", f"The parameter SourceDBSnapshotIdentifier is not a valid identifier. {IDENT}")
    assert error(lambda: r.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=db_arn,
                                                    TargetDBClusterSnapshotIdentifier="copy"), 400) == \
        ("InvalidParameterValue", f"The parameter SourceDBClusterSnapshotIdentifier is not a valid identifier. {IDENT}")
    cluster_snap_arn = f"arn:aws:rds:eu-west-3:{RDS4_ACCT}:cluster-snapshot:s1"
    assert error(lambda: r.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="restored",
                                                                DBSnapshotIdentifier=cluster_snap_arn), 400) == \
        ("InvalidParameterValue", f"The parameter DBSnapshotIdentifier is not a valid identifier. {IDENT}")
    proc = run_aws(server, "rds", "copy-db-snapshot", "--source-db-snapshot-identifier", db_arn,
                   "--target-db-snapshot-identifier", "copy", account=RDS4_ACCT, region="eu-west-3")
    assert cli_error(proc) == ("InvalidParameterValue", f"The parameter SourceDBSnapshotIdentifier is not a valid identifier. {IDENT}")
