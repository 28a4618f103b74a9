"""KMS access control end to end (issue #4, docs/kms.md §7, §12): key policies across accounts,
grants and grant tokens, the lockout safety check, AWS managed keys — with boto3 and the aws cli
as two accounts, 111111111111 (the key owner) and 999999999999 (the other account)."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import cross_account_key_policy, make_client, run_aws

OWNER = "111111111111"
OTHER = "999999999999"
REGION = "eu-west-1"


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    code, message = err(e)
    assert code == "AccessDeniedException", message
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return message


@pytest.fixture
def owner(server):
    return make_client(server, "kms", account=OWNER, region=REGION)


@pytest.fixture
def other(server):
    return make_client(server, "kms", account=OTHER, region=REGION)


def three_statement_policy():
    return cross_account_key_policy(OWNER, OTHER)


def test_other_account_needs_the_key_policy(owner, other):
    arn = owner.create_key(Description="shared")["KeyMetadata"]["Arn"]
    message = denied(lambda: other.encrypt(KeyId=arn, Plaintext=b"hello"))
    assert message == (f"User: arn:aws:iam::{OTHER}:root is not authorized to perform: kms:Encrypt on resource: "
                       f"{arn} because no resource-based policy allows the kms:Encrypt action")
    owner.put_key_policy(KeyId=arn, PolicyName="default", Policy=three_statement_policy())
    blob = other.encrypt(KeyId=arn, Plaintext=b"hello", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"hello"
    assert owner.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"hello"
    assert other.describe_key(KeyId=arn)["KeyMetadata"]["Arn"] == arn
    # Use, not administration; and grants only for AWS resources (through an AWS service).
    denied(lambda: other.disable_key(KeyId=arn))
    denied(lambda: other.get_key_policy(KeyId=arn, PolicyName="default"))
    denied(lambda: other.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{OTHER}:root",
                                      Operations=["Decrypt"]))
    # The other account cannot find the key by its bare id.
    with pytest.raises(ClientError) as e:
        other.encrypt(KeyId=arn.split("/")[-1], Plaintext=b"x")
    assert err(e)[0] == "NotFoundException"


def test_grant_token_decrypt_then_revoke(owner, other):
    arn = owner.create_key(Description="granted")["KeyMetadata"]["Arn"]
    blob = owner.encrypt(KeyId=arn, Plaintext=b"for the other account")["CiphertextBlob"]
    denied(lambda: other.decrypt(CiphertextBlob=blob, KeyId=arn))

    g = owner.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{OTHER}:root",
                           Operations=["Decrypt", "DescribeKey"], Name="cross-account-decrypt")
    token, grant_id = g["GrantToken"], g["GrantId"]
    assert len(grant_id) == 64
    out = other.decrypt(CiphertextBlob=blob, KeyId=arn, GrantTokens=[token])
    assert out["Plaintext"] == b"for the other account"
    # Only what the grant lists.
    denied(lambda: other.encrypt(KeyId=arn, Plaintext=b"x", GrantTokens=[token]))
    with pytest.raises(ClientError) as e:
        other.decrypt(CiphertextBlob=blob, KeyId=arn, GrantTokens=["not-a-token"])
    assert err(e)[0] == "InvalidGrantTokenException"

    grants = owner.list_grants(KeyId=arn)["Grants"]
    assert [x["GrantId"] for x in grants] == [grant_id]
    assert grants[0]["GranteePrincipal"] == f"arn:aws:iam::{OTHER}:root"
    assert grants[0]["IssuingAccount"] == f"arn:aws:iam::{OWNER}:root"
    assert sorted(grants[0]["Operations"]) == ["Decrypt", "DescribeKey"]
    assert grants[0]["Name"] == "cross-account-decrypt"

    owner.revoke_grant(KeyId=arn, GrantId=grant_id)
    denied(lambda: other.decrypt(CiphertextBlob=blob, KeyId=arn, GrantTokens=[token]))
    assert owner.list_grants(KeyId=arn)["Grants"] == []
    with pytest.raises(ClientError) as e:
        owner.revoke_grant(KeyId=arn, GrantId=grant_id)
    assert err(e)[0] == "NotFoundException"


def test_grant_constraints_and_retire(owner, other):
    arn = owner.create_key(Description="constrained")["KeyMetadata"]["Arn"]
    g = owner.create_grant(
        KeyId=arn, GranteePrincipal=f"arn:aws:iam::{OTHER}:root",
        RetiringPrincipal=f"arn:aws:iam::{OTHER}:root",
        Operations=["GenerateDataKey", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "t-1"}})
    dk = other.generate_data_key(KeyId=arn, KeySpec="AES_256",
                                 EncryptionContext={"tenant": "t-1", "file": "a"})
    assert other.decrypt(CiphertextBlob=dk["CiphertextBlob"],
                         EncryptionContext={"tenant": "t-1", "file": "a"})["Plaintext"] == dk["Plaintext"]
    denied(lambda: other.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext={"tenant": "t-2"}))
    retirable = other.list_retirable_grants(RetiringPrincipal=f"arn:aws:iam::{OTHER}:root")["Grants"]
    assert g["GrantId"] in [x["GrantId"] for x in retirable]
    other.retire_grant(GrantToken=g["GrantToken"])
    denied(lambda: other.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext={"tenant": "t-1"}))


def test_grants_with_the_aws_cli(server, owner):
    arn = owner.create_key(Description="cli grants")["KeyMetadata"]["Arn"]
    r = run_aws(server, "kms", "create-grant", "--key-id", arn, "--grantee-principal",
                f"arn:aws:iam::{OTHER}:root", "--operations", "Encrypt", "Decrypt", "--output", "json",
                account=OWNER, region=REGION)
    assert r.returncode == 0, r.stderr
    grant_id = json.loads(r.stdout)["GrantId"]
    r = run_aws(server, "kms", "list-grants", "--key-id", arn, "--output", "json", account=OWNER, region=REGION)
    assert r.returncode == 0, r.stderr
    assert [g["GrantId"] for g in json.loads(r.stdout)["Grants"]] == [grant_id]
    r = run_aws(server, "kms", "revoke-grant", "--key-id", arn, "--grant-id", grant_id, account=OTHER, region=REGION)
    assert r.returncode != 0 and "AccessDeniedException" in r.stderr


def test_policy_without_root_locks_out_the_root(owner):
    only_user = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:user/nobody"},
        "Action": "kms:*", "Resource": "*"}]})
    with pytest.raises(ClientError) as e:
        owner.create_key(Policy=only_user)
    assert err(e) == ("MalformedPolicyDocumentException",
                      "The new key policy will not allow you to update the key policy in the future.")
    arn = owner.create_key(Policy=only_user, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["Arn"]
    denied(lambda: owner.describe_key(KeyId=arn))
    denied(lambda: owner.encrypt(KeyId=arn, Plaintext=b"x"))
    denied(lambda: owner.put_key_policy(KeyId=arn, PolicyName="default", Policy=three_statement_policy()))
    # PutKeyPolicy applies the same check to an existing key.
    arn2 = owner.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        owner.put_key_policy(KeyId=arn2, PolicyName="default", Policy=only_user)
    assert err(e)[0] == "MalformedPolicyDocumentException"
    owner.encrypt(KeyId=arn2, Plaintext=b"still mine")


def test_aws_managed_key_is_not_for_direct_or_foreign_use(owner, other):
    meta = owner.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    arn = meta["Arn"]
    message = denied(lambda: owner.encrypt(KeyId=arn, Plaintext=b"x"))
    assert message.endswith("because no resource-based policy allows the kms:Encrypt action")
    denied(lambda: owner.encrypt(KeyId="alias/aws/ebs", Plaintext=b"x"))
    denied(lambda: other.encrypt(KeyId=arn, Plaintext=b"x"))
    denied(lambda: other.describe_key(KeyId=arn))
    denied(lambda: owner.put_key_policy(KeyId=arn, PolicyName="default", Policy=three_statement_policy()))
    # Its metadata is readable by its own account.
    assert owner.get_key_policy(KeyId=arn, PolicyName="default")["Policy"].find("ec2.%s.amazonaws.com" % REGION) > 0


def test_iam_user_without_decrypt_is_denied_in_its_own_account(server, owner):
    """The default key policy delegates to IAM: a user of the owner account may do exactly what
    its identity policy allows."""
    iam = make_client(server, "iam", account=OWNER)
    iam.create_user(UserName="kms-access-encrypt-only")
    iam.put_user_policy(UserName="kms-access-encrypt-only", PolicyName="encrypt-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"}]}))
    k = iam.create_access_key(UserName="kms-access-encrypt-only")["AccessKey"]
    user = make_client(server, "kms", region=REGION, access_key=k["AccessKeyId"], secret=k["SecretAccessKey"])
    arn = owner.create_key(Description="delegates to IAM")["KeyMetadata"]["Arn"]
    blob = user.encrypt(KeyId=arn, Plaintext=b"user data")["CiphertextBlob"]
    message = denied(lambda: user.decrypt(CiphertextBlob=blob))
    assert message == (f"User: arn:aws:iam::{OWNER}:user/kms-access-encrypt-only is not authorized to perform: "
                       f"kms:Decrypt on resource: {arn} because no identity-based policy allows the kms:Decrypt action")
    assert owner.decrypt(CiphertextBlob=blob)["Plaintext"] == b"user data"


def test_grant_operations_reject_bad_input(server, owner):
    arn = owner.create_key(Description="grant validation")["KeyMetadata"]["Arn"]
    raw = make_client(server, "kms", account=OWNER, region=REGION, validate=False)
    cases = [
        (lambda: raw.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{OTHER}:root", Operations=["Sign"]),
         "ValidationException"),
        (lambda: raw.create_grant(KeyId=arn, GranteePrincipal="nobody", Operations=["Decrypt"]), "ValidationException"),
        (lambda: raw.create_grant(KeyId=arn, Operations=["Decrypt"]), "ValidationException"),
        (lambda: raw.list_grants(KeyId=arn, Limit=0), "ValidationException"),
        (lambda: raw.list_grants(KeyId=arn, Limit=101), "ValidationException"),
        (lambda: raw.revoke_grant(KeyId=arn, GrantId="not-a-grant-id"), "InvalidGrantIdException"),
        (lambda: raw.retire_grant(GrantToken="not-a-token"), "InvalidGrantTokenException"),
        (lambda: raw.retire_grant(KeyId=arn), "ValidationException"),
        (lambda: raw.list_retirable_grants(RetiringPrincipal=f"arn:aws:iam::{OWNER}:root", Marker="!!"),
         "InvalidMarkerException"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0] == code, err(e)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
