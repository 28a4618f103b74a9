"""KMS HMAC keys end to end (docs/kms-asymmetric.md §6, issue #16), with boto3 against the
release binary: CreateKey/DescribeKey for HMAC_224/256/384/512, GenerateMac, VerifyMac, and
what HMAC keys refuse.

A generated HMAC key never leaves kmsnap, so its MACs can only be checked for their properties
here (length, determinism, VerifyMac accepting exactly them); the RFC 4231 known answers are unit
tests (crates/kms/src/asym.rs), and test_kms_import.py checks the MACs of imported HMAC keys
against Python's `hmac`.
"""

import hashlib
import hmac
import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

ACCOUNT = "161803398874"
REGION = "ap-southeast-2"
SIZES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}


@pytest.fixture(scope="module")
def kms(server):
    return make_client(server, "kms", account=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def raw_kms(server):
    return make_client(server, "kms", account=ACCOUNT, region=REGION, validate=False)


@pytest.fixture(scope="module")
def keys(kms):
    return {spec: kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"] for spec in SIZES}


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def alg_of(spec):
    return "HMAC_SHA_" + spec.split("_")[1]


@pytest.mark.parametrize("spec", list(SIZES))
def test_describe_key_of_hmac_keys(kms, keys, spec):
    d = kms.describe_key(KeyId=keys[spec]["KeyId"])["KeyMetadata"]
    assert d["KeySpec"] == spec and d["KeyUsage"] == "GENERATE_VERIFY_MAC"
    assert d["MacAlgorithms"] == [alg_of(spec)]
    assert "EncryptionAlgorithms" not in d and "SigningAlgorithms" not in d and "CurrentKeyMaterialId" not in d


@pytest.mark.parametrize("spec", list(SIZES))
def test_generate_and_verify_mac(kms, keys, spec):
    md = keys[spec]
    alg = alg_of(spec)
    msg = os.urandom(4096)
    r = kms.generate_mac(KeyId=md["KeyId"], Message=msg, MacAlgorithm=alg)
    assert r["KeyId"] == md["Arn"] and r["MacAlgorithm"] == alg
    mac = r["Mac"]
    assert len(mac) == SIZES[spec]
    assert kms.generate_mac(KeyId=md["Arn"], Message=msg, MacAlgorithm=alg)["Mac"] == mac, "HMAC is deterministic"
    assert kms.generate_mac(KeyId=md["KeyId"], Message=msg[:-1], MacAlgorithm=alg)["Mac"] != mac
    v = kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=mac, MacAlgorithm=alg)
    assert v == {**v, "KeyId": md["Arn"], "MacValid": True, "MacAlgorithm": alg}
    # Not a plain hash of the message, nor an HMAC under a trivial key.
    h = getattr(hashlib, "sha" + spec.split("_")[1])
    assert mac != h(msg).digest() and mac != hmac.new(b"", msg, h).digest()
    for bad in (bytes([mac[0] ^ 1]) + mac[1:], mac[:-1], mac + b"\0"):
        with pytest.raises(ClientError) as e:
            kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=bad, MacAlgorithm=alg)
        assert err(e) == ("KMSInvalidMacException", "")


def test_mac_refusals(kms, raw_kms, keys):
    md = keys["HMAC_224"]
    k = md["KeyId"]
    mac = kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_224")["Mac"]
    cases = [
        (lambda: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_512"),
         ("InvalidKeyUsageException", "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_224.")),
        (lambda: kms.generate_mac(KeyId=k, Message=b"m", MacAlgorithm="HMAC_SHA_224", DryRun=True),
         ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")),
        (lambda: kms.verify_mac(KeyId=k, Message=b"x", Mac=mac, MacAlgorithm="HMAC_SHA_224", DryRun=True),
         ("KMSInvalidMacException", "")),
        (lambda: kms.verify_mac(KeyId=k, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_224", DryRun=True),
         ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")),
        (lambda: kms.encrypt(KeyId=k, Plaintext=b"p"),
         ("InvalidKeyUsageException", f"{md['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.")),
        (lambda: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
         ("InvalidKeyUsageException", f"{md['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.")),
        (lambda: kms.get_public_key(KeyId=k), ("UnsupportedOperationException", None)),
        (lambda: kms.enable_key_rotation(KeyId=k), ("UnsupportedOperationException", "")),
        (lambda: kms.list_key_rotations(KeyId=k, IncludeKeyMaterial="ALL_KEY_MATERIAL"),
         ("ValidationException", "Input parameter includeKeyMaterial can only be used with symmetric keys.")),
        (lambda: raw_kms.generate_mac(KeyId=k, Message=b"m" * 4097, MacAlgorithm="HMAC_SHA_224"), ("ValidationException", None)),
    ]
    for call, (code, message) in cases:
        with pytest.raises(ClientError) as e:
            call()
        got = err(e)
        assert got[0] == code, got
        if message is not None:
            assert got[1] == message, got
    # DisableKeyRotation succeeds and changes nothing; status stays false.
    kms.disable_key_rotation(KeyId=k)
    assert kms.get_key_rotation_status(KeyId=k)["KeyRotationEnabled"] is False
    # A symmetric key cannot make MACs.
    sym = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=sym["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert err(e) == ("InvalidKeyUsageException", f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")


def test_disabled_hmac_key_and_grants(kms):
    md = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    grantee = f"arn:aws:iam::{ACCOUNT}:role/mac-user"
    kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["GenerateMac", "VerifyMac"])
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])
    assert err(e) == ("ValidationException",
                      "Operations [Encrypt] are not supported when creating a grant for a symmetric KMS key with key usage "
                      "GENERATE_VERIFY_MAC. Valid operations are [CreateGrant, RetireGrant, DescribeKey, GenerateMac, VerifyMac]")
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["GenerateMac"],
                         Constraints={"EncryptionContextSubset": {"a": "b"}})
    assert err(e) == ("ValidationException", "EncryptionContext is supported only when creating a grant for a symmetric encryption KMS key.")
    kms.disable_key(KeyId=md["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert err(e) == ("DisabledException", f"{md['Arn']} is disabled.")


def test_mac_algorithm_condition_key(kms):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": ["kms:GenerateMac", "kms:VerifyMac"], "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:MacAlgorithm": "HMAC_SHA_384"}}},
    ]})
    k384 = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC", Policy=policy)["KeyMetadata"]["KeyId"]
    assert kms.generate_mac(KeyId=k384, Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    k256 = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Policy=policy)["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=k256, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert err(e)[0] == "AccessDeniedException"


def test_multi_region_hmac_replica_verifies_the_primarys_mac(server, kms):
    md = kms.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC", MultiRegion=True)["KeyMetadata"]
    kms.replicate_key(KeyId=md["KeyId"], ReplicaRegion="us-west-2")
    west = make_client(server, "kms", account=ACCOUNT, region="us-west-2")
    mac = kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
    assert west.verify_mac(KeyId=md["KeyId"], Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_512")["MacValid"]
    assert west.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["MacAlgorithms"] == ["HMAC_SHA_512"]
