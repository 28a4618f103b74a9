"""IAM as far as authorization needs it: users, access keys that sign requests (dev and strict
mode), inline user and role policies, role trust policies enforced by STS AssumeRole, IAM's own
authorization, its error codes, persistence across restarts and the aws cli.

Every test uses accounts no other test file uses (the shared `server` fixture is reused), and
names unique per test."""

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, run_aws

# Accounts of this file only.
ACCT = "271828182845"
OTHER = "161803398874"

ROOT_KEY = "AKIAE2EROOTKEY000001"
ROOT_SECRET = "root-secret-for-the-iam-e2e-tests"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust(principal):
    return policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})


def error(call, status):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.value.response
    return e.value.response["Error"]


def strict_server(fresh_server, tmp_path):
    """A strict-mode server whose only configured key is ACCT's root."""
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text(
        f'[auth]\nmode = "strict"\n\n[[access_keys]]\naccess_key_id = "{ROOT_KEY}"\n'
        f'secret_access_key = "{ROOT_SECRET}"\naccount = "{ACCT}"\n'
    )
    return fresh_server(extra_args=["--config", str(cfg)])


def strict_root(server, service):
    return make_client(server, service, access_key=ROOT_KEY, secret=ROOT_SECRET)


def with_key(server, service, key, **kw):
    return make_client(server, service, access_key=key["AccessKeyId"], secret=key["SecretAccessKey"], **kw)


def new_user_with_key(iam, name, **kw):
    user = iam.create_user(UserName=name, **kw)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, key


# --- users and their keys ---------------------------------------------------------------------

def test_user_key_signs_requests_in_dev_mode_until_deleted(server):
    iam = make_client(server, "iam", account=ACCT)
    user, key = new_user_with_key(iam, "dev-alice", Path="/team/")
    assert user["Arn"] == f"arn:aws:iam::{ACCT}:user/team/dev-alice"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"

    ident = with_key(server, "sts", key).get_caller_identity()
    assert ident["Arn"] == user["Arn"]
    assert ident["UserId"] == user["UserId"]
    assert ident["Account"] == ACCT
    # The wrong secret is a signature mismatch, as for any key.
    bad = make_client(server, "sts", access_key=key["AccessKeyId"], secret="x" * 40)
    assert error(bad.get_caller_identity, 403)["Code"] == "SignatureDoesNotMatch"

    listed = iam.list_access_keys(UserName="dev-alice")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    iam.delete_access_key(UserName="dev-alice", AccessKeyId=key["AccessKeyId"])
    assert error(with_key(server, "sts", key).get_caller_identity, 403)["Code"] == "InvalidClientTokenId"
    iam.delete_user(UserName="dev-alice")
    assert error(lambda: iam.get_user(UserName="dev-alice"), 404)["Code"] == "NoSuchEntity"


def test_user_key_signs_requests_in_strict_mode(fresh_server, tmp_path):
    s = strict_server(fresh_server, tmp_path)
    iam = strict_root(s, "iam")
    user, key = new_user_with_key(iam, "strict-bob")
    ident = with_key(s, "sts", key).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ACCT}:user/strict-bob"
    # The dev conventions stay off.
    assert error(make_client(s, "sts", account=ACCT).get_caller_identity, 403)["Code"] == "InvalidClientTokenId"
    iam.delete_access_key(UserName="strict-bob", AccessKeyId=key["AccessKeyId"])
    assert error(with_key(s, "sts", key).get_caller_identity, 403)["Code"] == "InvalidClientTokenId"


def test_a_user_without_iam_permissions_is_denied(fresh_server, tmp_path):
    s = strict_server(fresh_server, tmp_path)
    iam = strict_root(s, "iam")
    _, key = new_user_with_key(iam, "limited")
    limited = with_key(s, "iam", key)
    err = error(lambda: limited.create_user(UserName="someone"), 403)
    assert err["Code"] == "AccessDenied"
    assert err["Message"].startswith(
        f"User: arn:aws:iam::{ACCT}:user/limited is not authorized to perform: iam:CreateUser "
        f"on resource: arn:aws:iam::{ACCT}:user/someone"
    ), err["Message"]
    # Without permission a missing user is not revealed either.
    assert error(lambda: limited.get_user(UserName="nobody"), 403)["Code"] == "AccessDenied"
    # An identity policy grants exactly what it lists.
    iam.put_user_policy(UserName="limited", PolicyName="create-users",
                        PolicyDocument=policy(allow("iam:CreateUser", f"arn:aws:iam::{ACCT}:user/ok-*")))
    assert limited.create_user(UserName="ok-carol")["User"]["UserName"] == "ok-carol"
    assert error(lambda: limited.create_user(UserName="not-ok"), 403)["Code"] == "AccessDenied"
    assert error(lambda: limited.list_users(), 403)["Code"] == "AccessDenied"
    # GetUser without a name is about the caller.
    iam.put_user_policy(UserName="limited", PolicyName="self", PolicyDocument=policy(allow("iam:GetUser")))
    assert limited.get_user()["User"]["UserName"] == "limited"


def test_identity_policies_feed_kms(fresh_server, tmp_path):
    s = strict_server(fresh_server, tmp_path)
    iam = strict_root(s, "iam")
    _, key = new_user_with_key(iam, "kms-user")
    kms = with_key(s, "kms", key, region="eu-west-1")
    assert error(kms.create_key, 400)["Code"] == "AccessDeniedException"
    iam.put_user_policy(UserName="kms-user", PolicyName="kms", PolicyDocument=policy(allow("kms:*")))
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    # Taking the policy away takes the permission away at once.
    iam.delete_user_policy(UserName="kms-user", PolicyName="kms")
    assert error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"), 400)["Code"] == "AccessDeniedException"


# --- error codes ------------------------------------------------------------------------------

def test_error_codes(server):
    iam = make_client(server, "iam", account=ACCT)
    iam.create_user(UserName="err-user")
    err = error(lambda: iam.create_user(UserName="ERR-USER"), 409)
    assert err["Code"] == "EntityAlreadyExists"
    assert err["Message"] == "User with name ERR-USER already exists."
    err = error(lambda: iam.get_user(UserName="err-nobody"), 404)
    assert (err["Code"], err["Message"]) == ("NoSuchEntity", "The user with name err-nobody cannot be found.")
    err = error(lambda: iam.get_role(RoleName="err-norole"), 404)
    assert err["Message"] == "The role with name err-norole cannot be found."
    err = error(lambda: iam.get_user_policy(UserName="err-user", PolicyName="none"), 404)
    assert err["Message"] == "The user policy with name none cannot be found."

    k1 = iam.create_access_key(UserName="err-user")["AccessKey"]
    k2 = iam.create_access_key(UserName="err-user")["AccessKey"]
    err = error(lambda: iam.create_access_key(UserName="err-user"), 409)
    assert (err["Code"], err["Message"]) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    err = error(lambda: iam.delete_user(UserName="err-user"), 409)
    assert (err["Code"], err["Message"]) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.")
    for k in (k1, k2):
        iam.delete_access_key(UserName="err-user", AccessKeyId=k["AccessKeyId"])
    err = error(lambda: iam.delete_access_key(UserName="err-user", AccessKeyId=k1["AccessKeyId"]), 404)
    assert err["Message"] == f"The Access Key with id {k1['AccessKeyId']} cannot be found."

    iam.put_user_policy(UserName="err-user", PolicyName="p", PolicyDocument=policy(allow("kms:Encrypt")))
    err = error(lambda: iam.delete_user(UserName="err-user"), 409)
    assert err["Message"] == "Cannot delete entity, must delete policies first."
    iam.delete_user_policy(UserName="err-user", PolicyName="p")
    iam.delete_user(UserName="err-user")

    iam.create_user(UserName="err-malformed")
    for bad in ("{not json", json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*"}]})):
        err = error(lambda: iam.put_user_policy(UserName="err-malformed", PolicyName="p", PolicyDocument=bad), 400)
        assert err["Code"] == "MalformedPolicyDocument", err
    err = error(lambda: iam.create_role(RoleName="err-role", AssumeRolePolicyDocument=policy(allow("kms:*"))), 400)
    assert err["Code"] == "MalformedPolicyDocument"

    loose = make_client(server, "iam", account=ACCT, validate=False)
    err = error(lambda: loose.create_user(UserName="bad name"), 400)
    assert err["Code"] == "ValidationError"
    assert "Member must satisfy regular expression pattern" in err["Message"]
    err = error(lambda: loose.create_user(UserName="x" * 65), 400)
    assert err["Code"] == "ValidationError"


# --- policies ---------------------------------------------------------------------------------

def test_user_and_role_policies(server):
    iam = make_client(server, "iam", account=ACCT)
    iam.create_user(UserName="pol-user", Path="/pol/")
    doc = policy(allow(["kms:Encrypt", "kms:Decrypt"]))
    iam.put_user_policy(UserName="pol-user", PolicyName="crypto", PolicyDocument=doc)
    got = iam.get_user_policy(UserName="pol-user", PolicyName="crypto")
    assert got["PolicyDocument"] == json.loads(doc)  # botocore URL-decodes and parses it
    assert got["UserName"] == "pol-user"
    assert iam.list_user_policies(UserName="pol-user")["PolicyNames"] == ["crypto"]
    iam.delete_user_policy(UserName="pol-user", PolicyName="crypto")
    assert iam.list_user_policies(UserName="pol-user")["PolicyNames"] == []

    tp = trust(f"arn:aws:iam::{ACCT}:root")
    role = iam.create_role(RoleName="pol-role", Path="/svc/", AssumeRolePolicyDocument=tp,
                           Description="deploys", MaxSessionDuration=7200)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCT}:role/svc/pol-role"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["AssumeRolePolicyDocument"] == json.loads(tp)
    assert isinstance(role["CreateDate"], datetime.datetime)
    got = iam.get_role(RoleName="POL-ROLE")["Role"]
    assert (got["RoleName"], got["Description"], got["MaxSessionDuration"]) == ("pol-role", "deploys", 7200)
    assert error(lambda: iam.create_role(RoleName="pol-role", AssumeRolePolicyDocument=tp), 409)["Code"] == "EntityAlreadyExists"
    iam.put_role_policy(RoleName="pol-role", PolicyName="kms", PolicyDocument=doc)
    assert iam.get_role_policy(RoleName="pol-role", PolicyName="kms")["PolicyDocument"] == json.loads(doc)
    assert iam.list_role_policies(RoleName="pol-role")["PolicyNames"] == ["kms"]
    err = error(lambda: iam.delete_role(RoleName="pol-role"), 409)
    assert err["Code"] == "DeleteConflict"
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/svc/")["Roles"]] == ["pol-role"]
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/pol/")["Users"]] == ["pol-user"]
    iam.delete_role_policy(RoleName="pol-role", PolicyName="kms")
    err = error(lambda: iam.delete_role_policy(RoleName="pol-role", PolicyName="kms"), 404)
    assert err["Message"] == "The role policy with name kms cannot be found."
    iam.delete_role(RoleName="pol-role")
    iam.delete_user(UserName="pol-user")
    # Paging through users.
    for i in range(3):
        iam.create_user(UserName=f"page-{i}", Path="/paging/")
    first = iam.list_users(PathPrefix="/paging/", MaxItems=2)
    assert first["IsTruncated"] and len(first["Users"]) == 2
    rest = iam.list_users(PathPrefix="/paging/", MaxItems=2, Marker=first["Marker"])
    assert not rest["IsTruncated"]
    assert [u["UserName"] for u in first["Users"] + rest["Users"]] == ["page-0", "page-1", "page-2"]


# --- trust policies ---------------------------------------------------------------------------

def test_assume_role_is_decided_by_the_trust_policy_in_strict_mode(fresh_server, tmp_path):
    s = strict_server(fresh_server, tmp_path)
    iam = strict_root(s, "iam")
    user, key = new_user_with_key(iam, "deployer")
    iam.create_role(RoleName="trusted", AssumeRolePolicyDocument=trust(user["Arn"]))
    iam.create_role(RoleName="untrusted", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCT}:user/someone-else"))
    sts = with_key(s, "sts", key)
    role_arn = f"arn:aws:iam::{ACCT}:role/trusted"
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci")["Credentials"]
    session = make_client(s, "sts", access_key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                          session_token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/trusted/ci"

    for arn in (f"arn:aws:iam::{ACCT}:role/untrusted", f"arn:aws:iam::{ACCT}:role/does-not-exist"):
        err = error(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ci"), 403)
        assert err["Code"] == "AccessDenied"
        assert err["Message"] == f"User: {user['Arn']} is not authorized to perform: sts:AssumeRole on resource: {arn}"
    err = error(lambda: strict_root(s, "sts").assume_role(RoleArn=role_arn, RoleSessionName="ci"), 403)
    assert err["Message"] == "Roles may not be assumed by root accounts."

    # The session acts with the role's inline policies.
    session_iam = make_client(s, "iam", access_key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                              session_token=creds["SessionToken"])
    assert error(session_iam.list_users, 403)["Code"] == "AccessDenied"
    iam.put_role_policy(RoleName="trusted", PolicyName="read", PolicyDocument=policy(allow("iam:ListUsers")))
    assert "deployer" in [u["UserName"] for u in session_iam.list_users()["Users"]]

    # A trust policy naming only the account also needs the caller's own permission.
    iam.create_role(RoleName="account-trust", AssumeRolePolicyDocument=trust(ACCT))
    acct_role = f"arn:aws:iam::{ACCT}:role/account-trust"
    assert error(lambda: sts.assume_role(RoleArn=acct_role, RoleSessionName="ci"), 403)["Code"] == "AccessDenied"
    iam.put_user_policy(UserName="deployer", PolicyName="assume",
                        PolicyDocument=policy(allow("sts:AssumeRole", acct_role)))
    assert sts.assume_role(RoleArn=acct_role, RoleSessionName="ci")["AssumedRoleUser"]["Arn"].endswith("/ci")


def test_dev_mode_evaluates_the_trust_policy_of_an_existing_role(server):
    iam = make_client(server, "iam", account=ACCT)
    iam.create_role(RoleName="dev-guarded", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCT}:user/nobody"),
                    MaxSessionDuration=3600)
    outsider = make_client(server, "sts", account=OTHER)
    err = error(lambda: outsider.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/dev-guarded", RoleSessionName="xx"), 403)
    assert err["Code"] == "AccessDenied"
    # A role that does not exist stays assumable in dev mode.
    out = outsider.assume_role(RoleArn=f"arn:aws:iam::{ACCT}:role/dev-missing", RoleSessionName="xx")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/dev-missing/xx"
    # The role's MaxSessionDuration caps DurationSeconds.
    iam.create_role(RoleName="dev-open", AssumeRolePolicyDocument=trust(OTHER))
    arn = f"arn:aws:iam::{ACCT}:role/dev-open"
    assert outsider.assume_role(RoleArn=arn, RoleSessionName="xx")["Credentials"]["AccessKeyId"].startswith("ASIA")
    err = error(lambda: outsider.assume_role(RoleArn=arn, RoleSessionName="xx", DurationSeconds=7200), 400)
    assert "MaxSessionDuration" in err["Message"]


# --- persistence, clock, audit, cli -----------------------------------------------------------

def test_iam_state_survives_restart(fresh_server):
    s = fresh_server()
    s.advance_clock(10 * 86400)
    iam = make_client(s, "iam", account=ACCT)
    user, key = new_user_with_key(iam, "durable")
    # CreateDate comes from the injected clock.
    now = datetime.datetime.now(datetime.timezone.utc)
    assert user["CreateDate"] - now > datetime.timedelta(days=9)
    iam.put_user_policy(UserName="durable", PolicyName="p", PolicyDocument=policy(allow("kms:Encrypt")))
    iam.create_role(RoleName="durable-role", AssumeRolePolicyDocument=trust(ACCT))
    s.restart()
    iam = make_client(s, "iam", account=ACCT)
    assert with_key(s, "sts", key).get_caller_identity()["Arn"] == user["Arn"]
    assert iam.get_user(UserName="durable")["User"]["UserId"] == user["UserId"]
    assert iam.get_user_policy(UserName="durable", PolicyName="p")["PolicyName"] == "p"
    assert iam.get_role(RoleName="durable-role")["Role"]["RoleName"] == "durable-role"


def test_mutating_calls_are_audited_without_secrets(server):
    iam = make_client(server, "iam", account=ACCT)
    _, key = new_user_with_key(iam, "audited")
    # IAM is global: a client signing for another region is recorded in us-east-1 too.
    make_client(server, "iam", account=ACCT, region="eu-west-1").create_user(UserName="audited-eu")
    error(lambda: iam.get_user(UserName="audited-missing"), 404)
    error(lambda: iam.delete_user(UserName="audited-missing"), 404)
    ct = make_client(server, "cloudtrail", account=ACCT, region="us-east-1")
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource",
                                                 "AttributeValue": "iam.amazonaws.com"}], MaxResults=50)["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    names = [r["eventName"] for r in records]
    assert "CreateUser" in names and "CreateAccessKey" in names
    assert any(r["requestParameters"] == {"userName": "audited-eu"} for r in records)
    created = next(r for r in records if r["eventName"] == "CreateAccessKey")
    assert created["requestParameters"] == {"userName": "audited"}
    assert key["AccessKeyId"] in json.dumps(created)
    assert key["SecretAccessKey"] not in json.dumps(records)
    failed = next(r for r in records if r["eventName"] == "DeleteUser")
    assert failed["errorCode"] == "NoSuchEntityException"


def test_aws_cli(server):
    r = run_aws(server, "iam", "create-user", "--user-name", "cli-user", "--output", "json", account=ACCT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["User"]["Arn"] == f"arn:aws:iam::{ACCT}:user/cli-user"
    doc = policy(allow("kms:Decrypt"))
    r = run_aws(server, "iam", "put-user-policy", "--user-name", "cli-user", "--policy-name", "p",
                "--policy-document", doc, account=ACCT)
    assert r.returncode == 0, r.stderr
    r = run_aws(server, "iam", "get-user-policy", "--user-name", "cli-user", "--policy-name", "p",
                "--output", "json", account=ACCT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["PolicyDocument"] == json.loads(doc)
    r = run_aws(server, "iam", "list-users", "--output", "json", account=ACCT)
    assert "cli-user" in [u["UserName"] for u in json.loads(r.stdout)["Users"]]
    r = run_aws(server, "iam", "get-user", "--user-name", "cli-missing", account=ACCT)
    assert r.returncode != 0 and "NoSuchEntity" in r.stderr
