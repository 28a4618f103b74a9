"""KMS aliases, AWS managed keys, rotation and multi-Region keys, end to end with boto3, the aws
cli and the AWS Encryption SDK for Python (docs/kms.md §5, §6, §8, §9, §11).

Each test signs as an account of its own, so that the session server's shared state (aliases,
predefined AWS aliases) does not leak between tests; the test that moves the clock a year
forward runs on a server of its own.
"""

import json
import time

import botocore.session
import pytest
from botocore.exceptions import ClientError

from conftest import make_client

TOKYO = "ap-northeast-1"
OREGON = "us-west-2"


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def message(exc_info):
    return exc_info.value.response["Error"].get("Message", "")


# --- aliases ---------------------------------------------------------------------------------

def test_aliases_create_list_update_delete_and_errors(client):
    acct = "100000000001"
    kms = client("kms", account=acct, region="us-east-1")
    k1 = kms.create_key(Description="one")["KeyMetadata"]["KeyId"]
    k2 = kms.create_key(Description="two")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=k1)
    kms.create_alias(AliasName="alias/app-arn", TargetKeyId=f"arn:aws:kms:us-east-1:{acct}:key/{k1}")

    aliases = kms.list_aliases()["Aliases"]
    by_name = {a["AliasName"]: a for a in aliases}
    assert by_name["alias/app"]["TargetKeyId"] == k1
    assert by_name["alias/app"]["AliasArn"] == f"arn:aws:kms:us-east-1:{acct}:alias/app"
    assert "CreationDate" in by_name["alias/app"] and "LastUpdatedDate" in by_name["alias/app"]
    # Predefined AWS aliases are listed before their key exists, without a target.
    for svc in ("ebs", "rds", "backup"):
        entry = by_name[f"alias/aws/{svc}"]
        assert "TargetKeyId" not in entry
        assert entry["AliasArn"] == f"arn:aws:kms:us-east-1:{acct}:alias/aws/{svc}"

    only_k1 = kms.list_aliases(KeyId=k1)["Aliases"]
    assert sorted(a["AliasName"] for a in only_k1) == ["alias/app", "alias/app-arn"]
    assert kms.list_aliases(KeyId=k2)["Aliases"] == []

    # Aliases resolve for DescribeKey; UpdateAlias moves them.
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == k1
    kms.update_alias(AliasName="alias/app", TargetKeyId=k2)
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == k2
    assert kms.describe_key(KeyId=f"arn:aws:kms:us-east-1:{acct}:alias/app")["KeyMetadata"]["KeyId"] == k2

    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/app", TargetKeyId=k1)
    assert code(e) == "AlreadyExistsException"
    assert message(e) == f"An alias with the name arn:aws:kms:us-east-1:{acct}:alias/app already exists"

    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="no-prefix", TargetKeyId=k1)
    assert code(e) == "ValidationException"
    assert message(e).startswith('Alias must start with the prefix "alias/".')

    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/has:colon", TargetKeyId=k1)
    assert code(e) == "ValidationException"
    assert "contains invalid characters for an alias" in message(e)

    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=k1)
    assert code(e) == "NotAuthorizedException"

    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/nokey", TargetKeyId="11111111-2222-3333-4444-555555555555")
    assert code(e) == "NotFoundException"

    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/aws/ebs", TargetKeyId=k1)
    assert code(e) == "ValidationException"

    # Pending deletion target: KMSInvalidStateException.
    k3 = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=k3, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/pd", TargetKeyId=k3)
    assert code(e) == "KMSInvalidStateException"
    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/app", TargetKeyId=k3)
    assert code(e) == "KMSInvalidStateException"

    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName="alias/app")
    assert code(e) == "NotFoundException"
    assert message(e) == f"Alias arn:aws:kms:us-east-1:{acct}:alias/app is not found."
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/app")
    assert code(e) == "NotFoundException"


def test_alias_paging(client):
    kms = client("kms", account="100000000002", region="eu-west-1")
    k = kms.create_key()["KeyMetadata"]["KeyId"]
    for i in range(12):
        kms.create_alias(AliasName=f"alias/p{i:02d}", TargetKeyId=k)
    seen, marker = [], None
    while True:
        kw = {"Limit": 5}
        if marker:
            kw["Marker"] = marker
        page = kms.list_aliases(**kw)
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert len(seen) == 15 and len(set(seen)) == 15  # 12 + 3 predefined
    paginated = [a for p in kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 4})
                 for a in p["Aliases"]]
    assert len(paginated) == 15


def test_aliases_with_the_aws_cli(aws, client):
    acct = "100000000003"
    kms = client("kms", account=acct, region="us-east-2")
    k = kms.create_key()["KeyMetadata"]["KeyId"]
    r = aws("kms", "create-alias", "--alias-name", "alias/cli-made", "--target-key-id", k,
            account=acct, region="us-east-2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
    r = aws("kms", "list-aliases", "--key-id", k, account=acct, region="us-east-2")
    assert r.returncode == 0, r.stderr
    assert [a["AliasName"] for a in json.loads(r.stdout)["Aliases"]] == ["alias/cli-made"]
    r = aws("kms", "create-alias", "--alias-name", "alias/cli-made", "--target-key-id", k,
            account=acct, region="us-east-2")
    assert r.returncode != 0 and "AlreadyExistsException" in r.stderr


# --- AWS managed keys ------------------------------------------------------------------------

def test_describe_predefined_alias_creates_the_aws_managed_key(client):
    acct = "100000000004"
    kms = client("kms", account=acct, region="us-east-1")
    md = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert md["KeyManager"] == "AWS"
    assert md["Origin"] == "AWS_KMS" and md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["MultiRegion"] is False
    assert md["Description"] == "Default key that protects my EBS volumes when no other key is defined"
    key_id = md["KeyId"]
    assert len(key_id) == 36 and not key_id.startswith("mrk-")
    # Idempotent; listed with its target now.
    assert kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"] == key_id
    ebs = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/ebs"][0]
    assert ebs["TargetKeyId"] == key_id

    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    assert "NextRotationDate" in status

    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Id"] == "auto-ebs-2"
    cond = policy["Statement"][0]["Condition"]["StringEquals"]
    assert cond == {"kms:CallerAccount": acct, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}

    # Direct use and management are refused: the policy allows only use through EC2.
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId="alias/aws/ebs", Plaintext=b"direct")
    assert code(e) == "AccessDeniedException"
    for call in (lambda: kms.disable_key(KeyId=key_id),
                 lambda: kms.enable_key_rotation(KeyId=key_id),
                 lambda: kms.rotate_key_on_demand(KeyId=key_id)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/to-managed", TargetKeyId=key_id)
    assert code(e) == "AccessDeniedException"

    # rds and backup work the same way; an unknown alias/aws/ name does not.
    assert kms.describe_key(KeyId="alias/aws/rds")["KeyMetadata"]["KeyManager"] == "AWS"
    assert kms.describe_key(KeyId="alias/aws/backup")["KeyMetadata"]["KeyManager"] == "AWS"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/aws/unknown-service")
    assert code(e) == "NotFoundException"


# --- rotation --------------------------------------------------------------------------------

def test_rotation_enable_status_on_demand_and_list(client):
    kms = client("kms", account="100000000005", region="us-east-1")
    key = kms.create_key()["KeyMetadata"]
    k, arn = key["KeyId"], key["Arn"]
    assert kms.get_key_rotation_status(KeyId=k)["KeyRotationEnabled"] is False

    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=k, RotationPeriodInDays=2561)
    assert code(e) == "ValidationException"
    kms.enable_key_rotation(KeyId=k, RotationPeriodInDays=180)
    st = kms.get_key_rotation_status(KeyId=k)
    assert st["KeyRotationEnabled"] is True and st["RotationPeriodInDays"] == 180
    assert st["KeyId"] == arn
    days = (st["NextRotationDate"].timestamp() - time.time()) / 86400
    assert 179 < days < 181

    old = kms.encrypt(KeyId=k, Plaintext=b"before rotation")
    first_material = kms.describe_key(KeyId=k)["KeyMetadata"].get("CurrentKeyMaterialId")
    assert kms.rotate_key_on_demand(KeyId=k)["KeyId"] == arn
    md = kms.describe_key(KeyId=k)["KeyMetadata"]
    if first_material:
        assert md["CurrentKeyMaterialId"] != first_material

    rot = kms.list_key_rotations(KeyId=k)["Rotations"]
    assert len(rot) == 1
    assert rot[0]["RotationType"] == "ON_DEMAND" and "RotationDate" in rot[0]
    all_material = kms.list_key_rotations(KeyId=k, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert len(all_material) == 2
    assert [m["KeyMaterialState"] for m in all_material] == ["NON_CURRENT", "CURRENT"]

    # The old ciphertext still decrypts; new ones use the new material.
    assert kms.decrypt(CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"before rotation"
    new = kms.encrypt(KeyId=k, Plaintext=b"after rotation")
    assert new["CiphertextBlob"] != old["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new["CiphertextBlob"])["Plaintext"] == b"after rotation"

    kms.disable_key_rotation(KeyId=k)
    assert kms.get_key_rotation_status(KeyId=k)["KeyRotationEnabled"] is False

    kms.disable_key(KeyId=k)
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=k)
    assert code(e) == "DisabledException"
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=k)
    assert code(e) == "DisabledException"


def test_automatic_rotation_after_a_year(fresh_server):
    server = fresh_server()
    kms = make_client(server, "kms", account="100000000006", region="us-east-1")
    k = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=k)
    old = kms.encrypt(KeyId=k, Plaintext=b"a year ago")["CiphertextBlob"]
    assert kms.list_key_rotations(KeyId=k)["Rotations"] == []
    server.advance_clock(366 * 86400)
    deadline = time.time() + 15
    rotations = []
    while time.time() < deadline:
        rotations = kms.list_key_rotations(KeyId=k)["Rotations"]
        if rotations:
            break
        time.sleep(0.25)
    assert len(rotations) == 1, rotations
    assert rotations[0]["RotationType"] == "AUTOMATIC"
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"a year ago"
    st = kms.get_key_rotation_status(KeyId=k)
    assert st["KeyRotationEnabled"] is True
    # Rescheduled a period after the rotation that was due.
    time.sleep(1.5)
    assert len(kms.list_key_rotations(KeyId=k)["Rotations"]) == 1


# --- multi-Region keys -----------------------------------------------------------------------

def test_multi_region_replicate_and_decrypt_in_the_replica_region(client, aws):
    acct = "100000000007"
    tokyo = client("kms", account=acct, region=TOKYO)
    oregon = client("kms", account=acct, region=OREGON)
    primary = tokyo.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    k = primary["KeyId"]
    assert k.startswith("mrk-")

    r = aws("kms", "replicate-key", "--key-id", k, "--replica-region", OREGON,
            "--description", "replica in oregon", account=acct, region=TOKYO)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rmd = out["ReplicaKeyMetadata"]
    assert rmd["KeyId"] == k
    assert rmd["Arn"] == f"arn:aws:kms:{OREGON}:{acct}:key/{k}"
    assert rmd["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert json.loads(out["ReplicaPolicy"])["Id"] == "key-default-1"

    ct = tokyo.encrypt(KeyId=k, Plaintext=b"made in tokyo", EncryptionContext={"purpose": "mrk"})
    replica_arn = f"arn:aws:kms:{OREGON}:{acct}:key/{k}"
    dec = oregon.decrypt(CiphertextBlob=ct["CiphertextBlob"], KeyId=replica_arn,
                         EncryptionContext={"purpose": "mrk"})
    assert dec["Plaintext"] == b"made in tokyo"
    assert dec["KeyId"] == replica_arn
    # And the other way round.
    ct2 = oregon.encrypt(KeyId=k, Plaintext=b"made in oregon")
    assert tokyo.decrypt(CiphertextBlob=ct2["CiphertextBlob"])["Plaintext"] == b"made in oregon"

    for c, kind in ((tokyo, "PRIMARY"), (oregon, "REPLICA")):
        md = c.describe_key(KeyId=k)["KeyMetadata"]
        assert md["MultiRegion"] is True
        cfg = md["MultiRegionConfiguration"]
        assert cfg["MultiRegionKeyType"] == kind
        assert cfg["PrimaryKey"] == {"Arn": primary["Arn"], "Region": TOKYO}
        assert cfg["ReplicaKeys"] == [{"Arn": replica_arn, "Region": OREGON}]
    assert oregon.describe_key(KeyId=k)["KeyMetadata"]["Description"] == "replica in oregon"

    with pytest.raises(ClientError) as e:
        tokyo.replicate_key(KeyId=k, ReplicaRegion=OREGON)
    assert code(e) == "AlreadyExistsException"
    single = tokyo.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        tokyo.replicate_key(KeyId=single, ReplicaRegion=OREGON)
    assert code(e) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        oregon.enable_key_rotation(KeyId=k)
    assert code(e) == "UnsupportedOperationException"

    # Rotation on the primary reaches the replica.
    tokyo.rotate_key_on_demand(KeyId=k)
    assert len(oregon.list_key_rotations(KeyId=k)["Rotations"]) == 1
    assert oregon.decrypt(CiphertextBlob=ct["CiphertextBlob"],
                          EncryptionContext={"purpose": "mrk"})["Plaintext"] == b"made in tokyo"

    # UpdatePrimaryRegion swaps the roles.
    tokyo.update_primary_region(KeyId=k, PrimaryRegion=OREGON)
    assert oregon.describe_key(KeyId=k)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert tokyo.describe_key(KeyId=k)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    with pytest.raises(ClientError) as e:
        oregon.update_primary_region(KeyId=k, PrimaryRegion="eu-west-1")
    assert code(e) == "UnsupportedOperationException"


# --- AWS Encryption SDK for Python -----------------------------------------------------------

def _esdk_session(account):
    """A botocore session signing as `account`'s root (dev mode: access key = account id). The SDK
    creates its own KMS clients from it, one per key region, with no endpoint argument; botocore's
    service-specific endpoint setting (AWS_ENDPOINT_URL_KMS, set by the test) points them here."""
    s = botocore.session.Session()
    s.set_credentials(account, "test")
    return s


@pytest.fixture
def esdk_env(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", server.endpoint)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return server


def test_encryption_sdk_round_trip(esdk_env, client, tmp_path):
    esdk = pytest.importorskip("aws_encryption_sdk")
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    acct = "100000000008"
    kms = client("kms", account=acct, region="us-east-1")
    arn = kms.create_key(Description="esdk")["KeyMetadata"]["Arn"]
    src = tmp_path / "plain.bin"
    src.write_bytes(b"kmsnap file contents\n" * 500)

    sdk = esdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn], botocore_session=_esdk_session(acct))
    ciphertext, header = sdk.encrypt(source=src.read_bytes(), key_provider=provider,
                                     encryption_context={"file": "plain.bin"})
    assert ciphertext != src.read_bytes()
    (tmp_path / "plain.bin.encrypted").write_bytes(ciphertext)
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [arn]

    decrypted, dheader = sdk.decrypt(source=(tmp_path / "plain.bin.encrypted").read_bytes(),
                                     key_provider=provider)
    assert decrypted == src.read_bytes()
    assert dheader.encryption_context["file"] == "plain.bin"


def test_encryption_sdk_multi_region_key_decrypts_with_the_replica(esdk_env, client):
    esdk = pytest.importorskip("aws_encryption_sdk")
    from aws_encryption_sdk.identifiers import CommitmentPolicy
    from aws_encryption_sdk.key_providers.kms import MRKAwareStrictAwsKmsMasterKeyProvider

    acct = "100000000009"
    tokyo = client("kms", account=acct, region=TOKYO)
    primary_arn = tokyo.create_key(MultiRegion=True)["KeyMetadata"]["Arn"]
    replica_arn = tokyo.replicate_key(KeyId=primary_arn, ReplicaRegion=OREGON)["ReplicaKeyMetadata"]["Arn"]
    assert replica_arn == primary_arn.replace(TOKYO, OREGON)

    sdk = esdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    enc_provider = MRKAwareStrictAwsKmsMasterKeyProvider(key_ids=[primary_arn],
                                                              botocore_session=_esdk_session(acct))
    ciphertext, _ = sdk.encrypt(source=b"encrypted in Tokyo", key_provider=enc_provider)

    # Decrypt in Oregon: the provider knows only the replica, and calls KMS in us-west-2.
    dec_provider = MRKAwareStrictAwsKmsMasterKeyProvider(key_ids=[replica_arn],
                                                              botocore_session=_esdk_session(acct))
    plaintext, _ = sdk.decrypt(source=ciphertext, key_provider=dec_provider)
    assert plaintext == b"encrypted in Tokyo"

    # A non-MRK-aware strict provider with the replica ARN refuses (the ARNs differ).
    strict = esdk.StrictAwsKmsMasterKeyProvider(key_ids=[replica_arn], botocore_session=_esdk_session(acct))
    with pytest.raises(esdk.exceptions.AWSEncryptionSDKClientError):
        sdk.decrypt(source=ciphertext, key_provider=strict)
