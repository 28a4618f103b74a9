"""KMS symmetric crypto end to end (docs/kms.md §5, §10): Encrypt, Decrypt, ReEncrypt,
GenerateDataKey(WithoutPlaintext), GenerateRandom through boto3 and the aws cli against the
release binary.

Keys come from CreateKey; disabling/deletion from DisableKey/ScheduleKeyDeletion; aliases and
replicas from CreateAlias/ReplicateKey (tests needing an operation that answers NotImplemented
skip themselves, saying which).
"""

import base64
import os

import pytest
from botocore.exceptions import ClientError

from conftest import make_client

ACCOUNT = "111111111111"
REGION = "us-east-1"


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def not_built(exc, what):
    if exc.response["Error"]["Code"] in ("NotImplemented", "NotImplementedException", "InternalFailure"):
        pytest.skip(f"{what} not built yet: {exc.response['Error'].get('Message', '')}")
    raise exc


@pytest.fixture
def kms(client):
    return client("kms", account=ACCOUNT, region=REGION)


@pytest.fixture
def key(kms):
    return kms.create_key(Description="crypto e2e")["KeyMetadata"]


# --- Encrypt / Decrypt -------------------------------------------------------------------------

def test_encrypt_decrypt_round_trip(kms, key):
    pt = os.urandom(64)
    ec = {"purpose": "e2e", "tenant": "a"}
    r = kms.encrypt(KeyId=key["KeyId"], Plaintext=pt, EncryptionContext=ec)
    assert r["KeyId"] == key["Arn"], "Encrypt echoes the key ARN"
    assert r["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = r["CiphertextBlob"]
    assert len(blob) <= 6144 and pt not in blob
    for kid in ({}, {"KeyId": key["KeyId"]}, {"KeyId": key["Arn"]}):
        d = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "a", "purpose": "e2e"}, **kid)
        assert d["Plaintext"] == pt
        assert d["KeyId"] == key["Arn"]
        assert d["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
        assert d["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    # Fresh nonce every time.
    assert kms.encrypt(KeyId=key["Arn"], Plaintext=pt, EncryptionContext=ec)["CiphertextBlob"] != blob


def test_wrong_context_or_tampered_blob_is_invalid_ciphertext(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext={"k": "v"})["CiphertextBlob"]
    for ec in ({}, {"k": "V"}, {"k": "v", "extra": "x"}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=ec)
        assert err(e)[0] == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    for bad in (bytes(tampered), blob[:-1], b"garbage" * 10):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bad, EncryptionContext={"k": "v"})
        assert err(e)[0] == "InvalidCiphertextException"


def test_decrypt_with_another_key_id_is_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["Arn"])
    assert err(e) == ("IncorrectKeyException",
                      "The key ID in the request does not identify a CMK that can perform this operation.")


def test_unknown_key_is_not_found(kms):
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b3f2f9e-6a1d-4c1e-9a55-2f1c3d4e5f60"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=missing, Plaintext=b"x")
    assert err(e) == ("NotFoundException", f"Key '{missing}' does not exist")


def test_non_default_algorithm_is_invalid_key_usage(kms, key):
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert err(e) == ("InvalidKeyUsageException",
                      "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.")


def test_size_limits(server, key):
    raw = make_client(server, "kms", account=ACCOUNT, region=REGION, validate=False)
    assert raw.encrypt(KeyId=key["KeyId"], Plaintext=b"a" * 4096)["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        raw.encrypt(KeyId=key["KeyId"], Plaintext=b"a" * 4097)
    code, msg = err(e)
    assert code == "ValidationException" and "'plaintext'" in msg and "4096" in msg
    with pytest.raises(ClientError) as e:
        raw.decrypt(CiphertextBlob=b"a" * 6145)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        raw.encrypt(KeyId=key["KeyId"], Plaintext=b"a", GrantTokens=[f"t{i}" for i in range(11)])
    assert err(e)[0] == "ValidationException"


def test_dry_run(kms, key):
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert err(e)[0] == "DryRunOperationException"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, DryRun=True)
    assert err(e)[0] == "DryRunOperationException"
    with pytest.raises(ClientError) as e:
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", DryRun=True)
    assert err(e)[0] == "DryRunOperationException"


# --- Key state, accounts, regions ----------------------------------------------------------------

def test_disabled_and_pending_deletion_keys_refuse(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    for call in (lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e) == ("DisabledException", f"{key['Arn']} is disabled.")
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    for call in (lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob)):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e) == ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_other_account_is_denied(client, kms, key):
    other = client("kms", account="222222222222", region=REGION)
    with pytest.raises(ClientError) as e:
        other.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    code, msg = err(e)
    assert code == "AccessDeniedException"
    assert msg == (f"User: arn:aws:iam::222222222222:root is not authorized to perform: kms:Encrypt on resource: "
                   f"{key['Arn']} because no resource-based policy allows the kms:Encrypt action")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        other.decrypt(CiphertextBlob=blob)
    assert err(e)[0] == "AccessDeniedException"


def test_single_region_ciphertext_fails_in_another_region(client, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    west = client("kms", account=ACCOUNT, region="us-west-2")
    with pytest.raises(ClientError) as e:
        west.decrypt(CiphertextBlob=blob)
    assert err(e)[0] == "InvalidCiphertextException"


def test_multi_region_replica_decrypts(client, kms):
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    try:
        kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="us-west-2")
    except ClientError as exc:
        not_built(exc, "ReplicateKey")
    west = client("kms", account=ACCOUNT, region="us-west-2")
    replica_arn = primary["Arn"].replace(f":{REGION}:", ":us-west-2:")
    for _ in range(50):  # the replica is Creating for a moment
        if west.describe_key(KeyId=replica_arn)["KeyMetadata"]["KeyState"] == "Enabled":
            break
        import time
        time.sleep(0.2)
    blob = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"mrk", EncryptionContext={"a": "b"})["CiphertextBlob"]
    d = west.decrypt(CiphertextBlob=blob, KeyId=replica_arn, EncryptionContext={"a": "b"})
    assert d["Plaintext"] == b"mrk" and d["KeyId"] == replica_arn
    back = west.encrypt(KeyId=replica_arn, Plaintext=b"back")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"back"


def test_alias_names_the_key(kms, key):
    try:
        kms.create_alias(AliasName="alias/crypto-e2e", TargetKeyId=key["KeyId"])
    except ClientError as exc:
        not_built(exc, "CreateAlias")
    r = kms.encrypt(KeyId="alias/crypto-e2e", Plaintext=b"via alias")
    assert r["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"], KeyId="alias/crypto-e2e")["Plaintext"] == b"via alias"


# --- Data keys, random, ReEncrypt ----------------------------------------------------------------

def test_generate_data_key(kms, key):
    for kw, n in (({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16),
                  ({"NumberOfBytes": 1}, 1), ({"NumberOfBytes": 1024}, 1024)):
        r = kms.generate_data_key(KeyId=key["Arn"], EncryptionContext={"x": "y"}, **kw)
        assert len(r["Plaintext"]) == n
        assert r["KeyId"] == key["Arn"]
        assert r["KeyMaterialId"] == key["CurrentKeyMaterialId"]
        d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"x": "y"})
        assert d["Plaintext"] == r["Plaintext"]
    r = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in r and r["KeyId"] == key["Arn"]
    assert len(kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == 32


def test_generate_data_key_needs_exactly_one_size(server, key):
    raw = make_client(server, "kms", account=ACCOUNT, region=REGION, validate=False)
    for kw in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as e:
            raw.generate_data_key(KeyId=key["KeyId"], **kw)
        assert err(e) == ("ValidationException", "Please specify either number of bytes or key spec.")
    for n in (0, 1025):
        with pytest.raises(ClientError) as e:
            raw.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=n)
        assert err(e)[0] == "ValidationException"


def test_generate_random(server, kms):
    a = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(a) == 1024 and a != kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=1)["Plaintext"]) == 1
    raw = make_client(server, "kms", account=ACCOUNT, region=REGION, validate=False)
    for kw in ({}, {"NumberOfBytes": 0}, {"NumberOfBytes": 1025}):
        with pytest.raises(ClientError) as e:
            raw.generate_random(**kw)
        assert err(e)[0] == "ValidationException"


def test_re_encrypt(kms, key):
    dest = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move", EncryptionContext={"v": "1"})["CiphertextBlob"]
    r = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                       DestinationKeyId=dest["KeyId"], DestinationEncryptionContext={"v": "2"})
    assert r["SourceKeyId"] == key["Arn"] and r["KeyId"] == dest["Arn"]
    assert r["SourceEncryptionAlgorithm"] == r["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert r["SourceKeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert r["DestinationKeyMaterialId"] == dest["CurrentKeyMaterialId"]
    d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"v": "2"})
    assert d["Plaintext"] == b"move" and d["KeyId"] == dest["Arn"]
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"}, SourceKeyId=dest["Arn"],
                       DestinationKeyId=dest["KeyId"])
    assert err(e)[0] == "IncorrectKeyException"


def test_rotation_keeps_old_ciphertexts(kms, key):
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    try:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    except ClientError as exc:
        not_built(exc, "RotateKeyOnDemand")
    new_material = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    if new_material == key["CurrentKeyMaterialId"]:
        pytest.skip("RotateKeyOnDemand did not make new material current synchronously")
    r = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert r["KeyMaterialId"] == new_material
    d = kms.decrypt(CiphertextBlob=old)
    assert d["Plaintext"] == b"old" and d["KeyMaterialId"] == key["CurrentKeyMaterialId"]


# --- aws cli -------------------------------------------------------------------------------------

def test_aws_cli_encrypt_decrypt_files(aws, key, tmp_path):
    pt = tmp_path / "plain.bin"
    pt.write_bytes(os.urandom(100))
    r = aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", f"fileb://{pt}",
            "--encryption-context", "app=cli,stage=test",
            "--query", "CiphertextBlob", "--output", "text", account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    ct = tmp_path / "cipher.bin"
    ct.write_bytes(base64.b64decode(r.stdout.strip()))
    r = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--encryption-context", "app=cli,stage=test",
            "--query", "Plaintext", "--output", "text", account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    assert base64.b64decode(r.stdout.strip()) == pt.read_bytes()
    # JSON output names the key by ARN.
    r = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--encryption-context", "app=cli,stage=test",
            "--key-id", key["Arn"], "--output", "json", account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    assert f'"KeyId": "{key["Arn"]}"' in r.stdout
    # Wrong context: the cli reports the AWS error code.
    r = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", account=ACCOUNT, region=REGION)
    assert r.returncode != 0 and "InvalidCiphertextException" in r.stderr


def test_aws_cli_data_key_and_random(aws, key, tmp_path):
    r = aws("kms", "generate-data-key", "--key-id", key["Arn"], "--key-spec", "AES_256",
            "--query", "[Plaintext,CiphertextBlob]", "--output", "text", account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    plain_b64, ct_b64 = r.stdout.split()
    assert len(base64.b64decode(plain_b64)) == 32
    ct = tmp_path / "dk.bin"
    ct.write_bytes(base64.b64decode(ct_b64))
    r = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--query", "Plaintext", "--output", "text",
            account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == plain_b64
    r = aws("kms", "generate-random", "--number-of-bytes", "48", "--query", "Plaintext", "--output", "text",
            account=ACCOUNT, region=REGION)
    assert r.returncode == 0, r.stderr
    assert len(base64.b64decode(r.stdout.strip())) == 48
