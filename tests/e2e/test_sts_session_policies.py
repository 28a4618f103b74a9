"""STS session policies and trust-policy conditions end to end (issue #13 item 2,
docs/sts-sessions.md): a role session may do only what its role's policies and the session
policies passed to AssumeRole both allow; malformed or oversized session policies are refused as
AWS refuses them; trust policies see sts:ExternalId and sts:RoleSessionName; the session policy
travels in the session token and survives a restart.

Every test uses accounts no other test file uses, and names unique per test."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

# Accounts of this file only.
ACCT = "141421356237"
OTHER = "173205080756"
REGION = "us-east-1"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust(principal, condition=None):
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return policy(statement)


def error(call, status):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.value.response
    return e.value.response["Error"]


def session_client(server, service, creds):
    return make_client(server, service, access_key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                       session_token=creds["SessionToken"], region=REGION)


def kms_role(server, name):
    """A role of ACCT that ACCT's root may assume, whose role policy allows kms:*; and a key of
    ACCT with the default key policy (the account root statement delegates to IAM)."""
    iam = make_client(server, "iam", account=ACCT)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(f"arn:aws:iam::{ACCT}:root"))
    iam.put_role_policy(RoleName=name, PolicyName="kms", PolicyDocument=policy(allow("kms:*")))
    key = make_client(server, "kms", account=ACCT, region=REGION).create_key(Description=name)["KeyMetadata"]["Arn"]
    return f"arn:aws:iam::{ACCT}:role/{name}", key


def kms_denied(call):
    err = error(call, 400)
    assert err["Code"] == "AccessDeniedException", err
    return err["Message"]


DESCRIBE_ONLY = policy(allow("kms:DescribeKey"))


def test_session_policy_limits_the_role(server):
    role, key = kms_role(server, "sp-limited")
    sts = make_client(server, "sts", account=ACCT)

    # Without a session policy the session has all of the role's permissions.
    out = sts.assume_role(RoleArn=role, RoleSessionName="full")
    assert "PackedPolicySize" not in out
    full = session_client(server, "kms", out["Credentials"])
    full.describe_key(KeyId=key)
    full.encrypt(KeyId=key, Plaintext=b"x")
    full.create_key(Description="by the full session")

    # With one allowing only kms:DescribeKey, that is all the session may do.
    out = sts.assume_role(RoleArn=role, RoleSessionName="limited", Policy=DESCRIBE_ONLY)
    assert 0 < out["PackedPolicySize"] <= 100
    limited = session_client(server, "kms", out["Credentials"])
    assert limited.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    message = kms_denied(lambda: limited.encrypt(KeyId=key, Plaintext=b"x"))
    assert message == (f"User: arn:aws:sts::{ACCT}:assumed-role/sp-limited/limited is not authorized to perform: "
                       f"kms:Encrypt on resource: {key} because no session policy allows the kms:Encrypt action")
    kms_denied(lambda: limited.create_key(Description="not allowed"))

    # A session policy cannot grant more than the role has.
    wide = sts.assume_role(RoleArn=role, RoleSessionName="wide", Policy=policy(allow("kms:*"), allow("iam:*")))
    wide_iam = make_client(server, "iam", access_key=wide["Credentials"]["AccessKeyId"],
                           secret=wide["Credentials"]["SecretAccessKey"],
                           session_token=wide["Credentials"]["SessionToken"])
    assert error(wide_iam.list_users, 403)["Code"] == "AccessDenied"


def test_policy_arns_kmsnap_does_not_have_allow_nothing(server):
    role, key = kms_role(server, "sp-arns")
    sts = make_client(server, "sts", account=ACCT)
    out = sts.assume_role(RoleArn=role, RoleSessionName="arns",
                          PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AdministratorAccess"}])
    assert out["PackedPolicySize"] > 0
    arns_only = session_client(server, "kms", out["Credentials"])
    kms_denied(lambda: arns_only.describe_key(KeyId=key))
    # The identity of the session is unaffected.
    ident = session_client(server, "sts", out["Credentials"]).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/sp-arns/arns"


def test_invalid_session_policies_are_refused(server):
    role, _ = kms_role(server, "sp-invalid")
    sts = make_client(server, "sts", account=ACCT)

    err = error(lambda: sts.assume_role(RoleArn=role, RoleSessionName="bad", Policy="{{{"), 400)
    assert err["Code"] == "MalformedPolicyDocument", err
    assert err["Message"] == "The policy is not in the valid JSON format."
    # JSON, but not an identity-based policy (a Principal; no Resource).
    err = error(lambda: sts.assume_role(RoleArn=role, RoleSessionName="bad", Policy=trust(ACCT)), 400)
    assert err["Code"] == "MalformedPolicyDocument", err

    # Longer than 2048 characters (white space aside).
    long_policy = policy(*[allow(f"kms:Action{i:04d}") for i in range(60)])
    assert len(long_policy.replace(" ", "")) > 2048
    err = error(lambda: sts.assume_role(RoleArn=role, RoleSessionName="bad", Policy=long_policy), 400)
    assert err["Code"] == "ValidationError", err
    assert "'policy' failed to satisfy constraint: Member must have length less than or equal to 2048" in err["Message"]
    # White space does not count.
    padded = json.dumps(json.loads(DESCRIBE_ONLY), indent=200)
    assert len(padded) > 2048
    assert sts.assume_role(RoleArn=role, RoleSessionName="padded", Policy=padded)["PackedPolicySize"] <= 100

    # At most 10 PolicyArns.
    arns = [{"arn": f"arn:aws:iam::{ACCT}:policy/p{i}"} for i in range(11)]
    err = error(lambda: sts.assume_role(RoleArn=role, RoleSessionName="bad", PolicyArns=arns), 400)
    assert err["Code"] == "ValidationError", err
    assert "policyArns" in err["Message"]
    assert sts.assume_role(RoleArn=role, RoleSessionName="ten", PolicyArns=arns[:10])["PackedPolicySize"] <= 100

    # Inline and managed together beyond what a session can carry.
    near_limit = policy(*[allow(f"kms:Action{i:04d}") for i in range(33)])
    compact = len(json.dumps(json.loads(near_limit), separators=(",", ":")))
    assert compact <= 2048 < compact + sum(len(a["arn"]) for a in arns[:10])
    err = error(lambda: sts.assume_role(RoleArn=role, RoleSessionName="bad", Policy=near_limit,
                                        PolicyArns=arns[:10]), 400)
    assert err["Code"] == "PackedPolicyTooLarge", err
    assert err["Message"].startswith("Packed policy consumes ")


def test_trust_policy_external_id(server):
    iam = make_client(server, "iam", account=ACCT)
    iam.create_role(RoleName="sp-external",
                    AssumeRolePolicyDocument=trust(f"arn:aws:iam::{OTHER}:root",
                                                   {"StringEquals": {"sts:ExternalId": "ext-1234"}}))
    role = f"arn:aws:iam::{ACCT}:role/sp-external"
    outsider = make_client(server, "sts", account=OTHER)
    out = outsider.assume_role(RoleArn=role, RoleSessionName="vendor", ExternalId="ext-1234")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/sp-external/vendor"
    for wrong in ({"ExternalId": "ext-9999"}, {}):
        err = error(lambda: outsider.assume_role(RoleArn=role, RoleSessionName="vendor", **wrong), 403)
        assert err["Code"] == "AccessDenied", err
        assert err["Message"] == (f"User: arn:aws:iam::{OTHER}:root is not authorized to perform: "
                                  f"sts:AssumeRole on resource: {role}")


def test_trust_policy_role_session_name(server):
    iam = make_client(server, "iam", account=ACCT)
    iam.create_role(RoleName="sp-session-name",
                    AssumeRolePolicyDocument=trust(f"arn:aws:iam::{OTHER}:root",
                                                   {"StringLike": {"sts:RoleSessionName": "ci-*"}}))
    role = f"arn:aws:iam::{ACCT}:role/sp-session-name"
    outsider = make_client(server, "sts", account=OTHER)
    assert outsider.assume_role(RoleArn=role, RoleSessionName="ci-42")["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert error(lambda: outsider.assume_role(RoleArn=role, RoleSessionName="laptop"), 403)["Code"] == "AccessDenied"


def test_session_policy_survives_a_restart(fresh_server):
    s = fresh_server()
    role, key = kms_role(s, "sp-durable")
    creds = make_client(s, "sts", account=ACCT).assume_role(
        RoleArn=role, RoleSessionName="durable", Policy=DESCRIBE_ONLY)["Credentials"]
    s.restart()
    limited = session_client(s, "kms", creds)
    assert limited.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    kms_denied(lambda: limited.encrypt(KeyId=key, Plaintext=b"x"))
    kms_denied(lambda: limited.create_key(Description="not allowed"))


def test_trust_policy_source_identity(server):
    iam = make_client(server, "iam", account=ACCT)
    doc = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                  "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                  "Condition": {"StringEquals": {"sts:SourceIdentity": "alice"}}})
    iam.create_role(RoleName="sp-source-identity", AssumeRolePolicyDocument=doc)
    role = f"arn:aws:iam::{ACCT}:role/sp-source-identity"
    outsider = make_client(server, "sts", account=OTHER)
    out = outsider.assume_role(RoleArn=role, RoleSessionName="audited", SourceIdentity="alice")
    assert out["SourceIdentity"] == "alice"
    for other in ({"SourceIdentity": "mallory"}, {}):
        assert error(lambda: outsider.assume_role(RoleArn=role, RoleSessionName="audited", **other),
                     403)["Code"] == "AccessDenied"


def test_a_limited_session_cannot_chain_out_of_its_session_policy(server):
    role, key = kms_role(server, "sp-chain")
    iam = make_client(server, "iam", account=ACCT)
    # A second role that trusts the first one's sessions.
    iam.create_role(RoleName="sp-chain-next", AssumeRolePolicyDocument=trust(role))
    iam.put_role_policy(RoleName="sp-chain-next", PolicyName="kms", PolicyDocument=policy(allow("kms:*")))
    sts = make_client(server, "sts", account=ACCT)
    limited = sts.assume_role(RoleArn=role, RoleSessionName="limited", Policy=DESCRIBE_ONLY)["Credentials"]
    chained = session_client(server, "sts", limited)
    next_role = f"arn:aws:iam::{ACCT}:role/sp-chain-next"
    assert error(lambda: chained.assume_role(RoleArn=next_role, RoleSessionName="escape"), 403)["Code"] == "AccessDenied"
    # Dev mode lets anyone assume a role that does not exist, but not this session.
    missing = f"arn:aws:iam::{ACCT}:role/sp-chain-missing"
    assert error(lambda: chained.assume_role(RoleArn=missing, RoleSessionName="escape"), 403)["Code"] == "AccessDenied"
    # A session whose policy allows sts:AssumeRole may chain.
    open_creds = sts.assume_role(RoleArn=role, RoleSessionName="chainer",
                                 Policy=policy(allow("kms:DescribeKey"), allow("sts:AssumeRole")))["Credentials"]
    out = session_client(server, "sts", open_creds).assume_role(RoleArn=next_role, RoleSessionName="next")
    session_client(server, "kms", out["Credentials"]).encrypt(KeyId=key, Plaintext=b"x")
