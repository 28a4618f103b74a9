"""Issue #17, fast loops: what a new user's scripts expect of a local AWS server.

- Dev-mode roles: a role that does not exist in IAM can be assumed, and the session acts with
  its account's full permissions (audited as the assumed role); a role that exists keeps its
  trust and permission policies; a session policy still limits the session; strict mode is
  unchanged (docs/sts-sessions.md, "Dev mode").
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

ACCT = "172917291729"
REGION = "ap-northeast-1"


def session_client(server, service, creds, region=REGION):
    return make_client(server, service, region=region, access_key=creds["AccessKeyId"],
                       secret=creds["SecretAccessKey"], session_token=creds["SessionToken"])


def test_dev_mode_session_of_a_missing_role_creates_and_uses_a_key(server):
    sts = make_client(server, "sts", account=ACCT)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/ci-does-not-exist",
                            RoleSessionName="script")["Credentials"]
    kms = session_client(server, "kms", creds)
    key = kms.create_key(Description="made by a session")["KeyMetadata"]
    assert key["AWSAccountId"] == ACCT
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    kms.create_alias(AliasName="alias/fast-loops", TargetKeyId=key["KeyId"])
    # ... and IAM: the session may manage IAM in its account like the root.
    iam = session_client(server, "iam", creds, region="us-east-1")
    iam.create_user(UserName="made-by-session")
    # Audited as the assumed role, not as the root.
    trail = make_client(server, "cloudtrail", account=ACCT, region=REGION)
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]
    identities = [json.loads(e["CloudTrailEvent"])["userIdentity"] for e in events]
    assert any(i["type"] == "AssumedRole" and i["arn"].endswith("assumed-role/ci-does-not-exist/script")
               for i in identities), identities


def test_session_policy_still_limits_a_missing_roles_session(server):
    sts = make_client(server, "sts", account=ACCT)
    only_describe = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/ci-limited-missing", RoleSessionName="sess",
                            Policy=only_describe)["Credentials"]
    kms = session_client(server, "kms", creds)
    with pytest.raises(ClientError) as e:
        kms.create_key()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_an_existing_role_keeps_its_own_policies(server):
    iam = make_client(server, "iam", account=ACCT)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="ci-existing-no-policy", AssumeRolePolicyDocument=trust)
    creds = make_client(server, "sts", account=ACCT).assume_role(
        RoleArn=f"arn:aws:iam::{ACCT}:role/ci-existing-no-policy", RoleSessionName="sess")["Credentials"]
    with pytest.raises(ClientError) as e:
        session_client(server, "kms", creds).create_key()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_strict_mode_does_not_assume_missing_roles(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text('[auth]\nmode = "strict"\n[[access_keys]]\naccess_key_id = "AKIASTRICTUSER000001"\n'
                   f'secret_access_key = "s3cret"\naccount = "{ACCT}"\nuser = "ci"\n')
    server = fresh_server(extra_args=["--config", str(cfg)])
    sts = make_client(server, "sts", access_key="AKIASTRICTUSER000001", secret="s3cret")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/ci-does-not-exist", RoleSessionName="script")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


# --- Timing: waiters return on their first poll --------------------------------------------------

def rds_calls(server, operation):
    """How many `operation` calls the server has answered (its Prometheus metrics)."""
    _, text = server.get("/_kmsnap/metrics")
    total = 0
    for line in text.decode().splitlines():
        if line.startswith("kmsnap_requests_total{") and f'operation="{operation}"' in line:
            total += int(line.rsplit(" ", 1)[1])
    return total


def pg(r, name, **kw):
    return r.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
                                AllocatedStorage=20, MasterUsername="postgres", MasterUserPassword="secret-pass-1",
                                **kw)["DBInstance"]


def test_first_describe_after_each_call_shows_the_settled_state(server):
    r = make_client(server, "rds", account=ACCT, region=REGION)
    status = lambda: r.describe_db_instances(DBInstanceIdentifier="fl-db")["DBInstances"][0]["DBInstanceStatus"]
    assert pg(r, "fl-db")["DBInstanceStatus"] == "creating"
    assert status() == "available"
    snap = r.create_db_snapshot(DBSnapshotIdentifier="fl-snap", DBInstanceIdentifier="fl-db")["DBSnapshot"]
    assert snap["Status"] == "creating"
    assert r.describe_db_snapshots(DBSnapshotIdentifier="fl-snap")["DBSnapshots"][0]["Status"] == "available"
    mod = r.modify_db_instance(DBInstanceIdentifier="fl-db", AllocatedStorage=30, ApplyImmediately=True)["DBInstance"]
    assert mod["DBInstanceStatus"] == "modifying"
    assert status() == "available"
    assert r.reboot_db_instance(DBInstanceIdentifier="fl-db")["DBInstance"]["DBInstanceStatus"] == "rebooting"
    assert status() == "available"
    assert r.stop_db_instance(DBInstanceIdentifier="fl-db")["DBInstance"]["DBInstanceStatus"] == "stopping"
    assert status() == "stopped"
    assert r.start_db_instance(DBInstanceIdentifier="fl-db")["DBInstance"]["DBInstanceStatus"] == "starting"
    assert status() == "available"
    # Aurora: a cluster snapshot right after CreateDBCluster works (moto's tests do exactly this).
    c = r.create_db_cluster(DBClusterIdentifier="fl-aur", Engine="aurora-postgresql", MasterUsername="postgres",
                            MasterUserPassword="secret-pass-1")["DBCluster"]
    assert c["Status"] == "creating"
    cs = r.create_db_cluster_snapshot(DBClusterSnapshotIdentifier="fl-aur-snap", DBClusterIdentifier="fl-aur")
    assert cs["DBClusterSnapshot"]["Status"] == "creating"
    assert r.describe_db_clusters(DBClusterIdentifier="fl-aur")["DBClusters"][0]["Status"] == "available"
    got = r.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="fl-aur-snap")["DBClusterSnapshots"][0]
    assert got["Status"] == "available"
    assert r.stop_db_cluster(DBClusterIdentifier="fl-aur")["DBCluster"]["Status"] == "stopping"
    assert r.describe_db_clusters(DBClusterIdentifier="fl-aur")["DBClusters"][0]["Status"] == "stopped"


def test_cli_waiter_returns_on_its_first_poll(server, aws):
    r = make_client(server, "rds", account=ACCT, region=REGION)
    pg(r, "fl-wait")
    before = rds_calls(server, "DescribeDBInstances")
    w = aws("rds", "wait", "db-instance-available", "--db-instance-identifier", "fl-wait",
            account=ACCT, region=REGION)
    assert w.returncode == 0, w.stderr
    assert rds_calls(server, "DescribeDBInstances") - before == 1


def test_timing_config_keeps_an_instance_creating(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text("[timing]\nrds_instance_create_seconds = 300\nrds_instance_modify_seconds = 60\n")
    server = fresh_server(extra_args=["--config", str(cfg)])
    r = make_client(server, "rds", account=ACCT, region=REGION)
    pg(r, "fl-slow")
    status = lambda: r.describe_db_instances(DBInstanceIdentifier="fl-slow")["DBInstances"][0]["DBInstanceStatus"]
    assert status() == "creating"
    # AWS's state rules still bind while it really is creating.
    for call in (lambda: r.reboot_db_instance(DBInstanceIdentifier="fl-slow"),
                 lambda: r.create_db_snapshot(DBSnapshotIdentifier="fl-early", DBInstanceIdentifier="fl-slow"),
                 lambda: r.modify_db_instance(DBInstanceIdentifier="fl-slow", AllocatedStorage=40)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    server.advance_clock(299)
    assert status() == "creating"
    server.advance_clock(1)
    assert status() == "available"
    # Modifying lasts its 60 s too, refusing another modification meanwhile.
    r.modify_db_instance(DBInstanceIdentifier="fl-slow", AllocatedStorage=30, ApplyImmediately=True)
    assert status() == "modifying"
    with pytest.raises(ClientError) as e:
        r.modify_db_instance(DBInstanceIdentifier="fl-slow", AllocatedStorage=40, ApplyImmediately=True)
    assert e.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    server.advance_clock(60)
    assert status() == "available"
