"""Imported key material end to end (docs/kms-asymmetric.md §9, issue #16), with boto3 against
the release binary: CreateKey with Origin EXTERNAL, GetParametersForImport,
ImportKeyMaterial and DeleteImportedKeyMaterial for symmetric, HMAC, RSA, ECC and Ed25519 keys,
and expiry on the server's clock.

The material is made and wrapped outside kmsnap with Python's `cryptography` — RSAES-OAEP
under the wrapping public key, or OAEP of an AES key followed by RFC 5649 AES key wrap with
padding — and what kmsnap then does with it (MACs, signatures, public keys, shared secrets) is
checked against `cryptography`/`hmac` using the same material.
"""

import datetime
import hashlib
import hmac
import os
import time

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from conftest import make_client

ACCOUNT = "141421356237"
REGION = "ca-central-1"
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture(scope="module")
def kms(server):
    return make_client(server, "kms", account=ACCOUNT, region=REGION)


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def external(kms, spec="SYMMETRIC_DEFAULT", usage=None):
    kw = {"KeySpec": spec, "Origin": "EXTERNAL"}
    if usage:
        kw["KeyUsage"] = usage
    return kms.create_key(**kw)["KeyMetadata"]


def wrap(params, alg, material):
    public = serialization.load_der_public_key(params["PublicKey"])
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
    if alg.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep)
    aes = os.urandom(32)
    return public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def import_material(kms, key_id, material, alg="RSAES_OAEP_SHA_256", wks="RSA_2048", **kw):
    p = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg, WrappingKeySpec=wks)
    if not kw:
        kw = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    return kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                                   EncryptedKeyMaterial=wrap(p, alg, material), **kw), p


def pkcs8(private):
    return private.private_bytes(DER, PKCS8, serialization.NoEncryption())


def test_symmetric_import_lifecycle(kms):
    md = external(kms)
    assert md["KeyState"] == "PendingImport" and md["Enabled"] is False and md["Origin"] == "EXTERNAL"
    assert "ExpirationModel" not in md
    p = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072")
    assert p["KeyId"] == md["Arn"]
    pub = serialization.load_der_public_key(p["PublicKey"])
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == 3072
    left = p["ParametersValidTo"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(hours=23, minutes=59) < left <= datetime.timedelta(hours=24, seconds=5)
    # Every call is a new wrapping key.
    p2 = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_3072")
    assert p2["PublicKey"] != p["PublicKey"] and p2["ImportToken"] != p["ImportToken"]
    material = os.urandom(32)
    valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    r = kms.import_key_material(KeyId=md["KeyId"], ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrap(p, "RSAES_OAEP_SHA_256", material),
                                ValidTo=valid_to, ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert r["KeyId"] == md["Arn"] and len(r["KeyMaterialId"]) == 64
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert d["KeyState"] == "Enabled" and d["Enabled"] is True
    assert d["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and abs((d["ValidTo"] - valid_to).total_seconds()) < 1
    assert d["CurrentKeyMaterialId"] == r["KeyMaterialId"]
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"under imported material", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"under imported material"
    # Delete: pending import, unusable, same id; the same material brings old ciphertexts back.
    dr = kms.delete_imported_key_material(KeyId=md["KeyId"])
    assert dr["KeyId"] == md["Arn"] and dr["KeyMaterialId"] == r["KeyMaterialId"]
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert err(e) == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")
    with pytest.raises(ClientError) as e:
        import_material(kms, md["KeyId"], os.urandom(32))
    assert err(e) == ("IncorrectKeyMaterialException", f"Imported key material does not have the expected identifier ({r['KeyMaterialId']}).")
    r2, _ = import_material(kms, md["KeyId"], material)
    assert r2["KeyMaterialId"] == r["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"under imported material"
    assert kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"] is False
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=md["KeyId"])
    assert err(e) == ("UnsupportedOperationException", f"{md['Arn']} origin is EXTERNAL which is not valid for this operation.")


@pytest.mark.parametrize("spec,size,h", [("HMAC_224", 28, hashlib.sha224), ("HMAC_256", 40, hashlib.sha256),
                                         ("HMAC_384", 48, hashlib.sha384), ("HMAC_512", 128, hashlib.sha512)])
def test_imported_hmac_key_macs_equal_python_hmac(kms, spec, size, h):
    md = external(kms, spec, "GENERATE_VERIFY_MAC")
    material = os.urandom(size)
    r, _ = import_material(kms, md["KeyId"], material, alg="RSAES_OAEP_SHA_1")
    assert "KeyMaterialId" not in r
    msg = os.urandom(500)
    alg = "HMAC_SHA_" + spec.split("_")[1]
    mac = kms.generate_mac(KeyId=md["KeyId"], Message=msg, MacAlgorithm=alg)["Mac"]
    assert mac == hmac.new(material, msg, h).digest()
    assert kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=hmac.new(material, msg, h).digest(), MacAlgorithm=alg)["MacValid"]


def test_imported_rsa_key_signs_as_the_local_key(kms):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    md = external(kms, "RSA_2048", "SIGN_VERIFY")
    import_material(kms, md["KeyId"], pkcs8(private), alg="RSA_AES_KEY_WRAP_SHA_256", wks="RSA_4096")
    assert kms.get_public_key(KeyId=md["KeyId"])["PublicKey"] == private.public_key().public_bytes(DER, SPKI)
    sig = kms.sign(KeyId=md["KeyId"], Message=b"imported", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    assert sig == private.sign(b"imported", padding.PKCS1v15(), hashes.SHA256()), "PKCS#1 v1.5 is deterministic"
    # And an RSA encryption key decrypts what the local public key encrypted.
    enc = external(kms, "RSA_3072", "ENCRYPT_DECRYPT")
    p3 = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    import_material(kms, enc["KeyId"], pkcs8(p3), alg="RSA_AES_KEY_WRAP_SHA_1", wks="RSA_2048")
    ct = p3.public_key().encrypt(b"for kms", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    assert kms.decrypt(KeyId=enc["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"for kms"


def test_imported_ecc_and_ed25519_keys(kms):
    p256 = ec.generate_private_key(ec.SECP256R1())
    md = external(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    import_material(kms, md["KeyId"], pkcs8(p256))
    sig = kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    p256.public_key().verify(sig, b"m", ec.ECDSA(hashes.SHA256()))
    # KEY_AGREEMENT: the shared secret equals local ECDH with the imported private key.
    p384 = ec.generate_private_key(ec.SECP384R1())
    ka = external(kms, "ECC_NIST_P384", "KEY_AGREEMENT")
    import_material(kms, ka["KeyId"], pkcs8(p384), alg="RSA_AES_KEY_WRAP_SHA_256")
    peer = ec.generate_private_key(ec.SECP384R1())
    out = kms.derive_shared_secret(KeyId=ka["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer.public_key().public_bytes(DER, SPKI))
    assert out["SharedSecret"] == p384.exchange(ec.ECDH(), peer.public_key()) and out["KeyOrigin"] == "EXTERNAL"
    ed = ed25519.Ed25519PrivateKey.generate()
    em = external(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    import_material(kms, em["KeyId"], pkcs8(ed), alg="RSAES_OAEP_SHA_256", wks="RSA_3072")
    s = kms.sign(KeyId=em["KeyId"], Message=b"ed", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    assert s == ed.sign(b"ed")
    # Another key of the same curve is not the key's material.
    with pytest.raises(ClientError) as e:
        import_material(kms, md["KeyId"], pkcs8(ec.generate_private_key(ec.SECP256R1())))
    assert err(e)[0] == "IncorrectKeyMaterialException"


def test_import_refusals_change_nothing(kms):
    md = external(kms)
    k = md["KeyId"]
    other = external(kms)["KeyId"]
    p = kms.get_parameters_for_import(KeyId=k, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    good = wrap(p, "RSAES_OAEP_SHA_256", os.urandom(32))
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400)
    never = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    cases = [
        (dict(KeyId=other, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good, **never), ("InvalidImportTokenException", "")),
        (dict(KeyId=k, ImportToken=p["ImportToken"][:-1] + b"\0", EncryptedKeyMaterial=good, **never), ("InvalidImportTokenException", "")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good[:-1], **never), ("InvalidCiphertextException", "")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrap(p, "RSAES_OAEP_SHA_256", os.urandom(16)), **never),
         ("InvalidCiphertextException", "")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrap(p, "RSAES_OAEP_SHA_1", os.urandom(32)), **never),
         ("InvalidCiphertextException", "")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good),
         ("ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good, ValidTo=soon, **never),
         ("ValidationException", "A validTo date cannot be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")),
        (dict(KeyId=k, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good, ValidTo=far),
         ("ValidationException", "ValidTo must be less than 365 days in the future")),
    ]
    for kw, want in cases:
        with pytest.raises(ClientError) as e:
            kms.import_key_material(**kw)
        assert err(e) == want, kw
        assert kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "PendingImport"
    # The wrapping matrix is enforced when the parameters are asked for.
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=k, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_2048")
    assert err(e) == ("ValidationException",
                      "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_256 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key.")
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=k, WrappingAlgorithm="RSAES_PKCS1_V1_5", WrappingKeySpec="RSA_2048")
    assert err(e)[0] == "ValidationException"
    native = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=native["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    assert err(e) == ("UnsupportedOperationException", f"{native['Arn']} origin is AWS_KMS which is not valid for this operation.")
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")
    assert err(e) == ("ValidationException", "KeySpec ML_DSA_44 is not supported for Origin EXTERNAL")


def test_material_expires_on_the_server_clock(fresh_server):
    s = fresh_server()
    kms = make_client(s, "kms", account=ACCOUNT, region=REGION)
    md = external(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    valid_to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    import_material(kms, md["KeyId"], pkcs8(ec.generate_private_key(ec.SECP256R1())), ValidTo=valid_to,
                    ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    s.advance_clock(3 * 24 * 3600)
    deadline = time.monotonic() + 10
    while kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] != "PendingImport":
        assert time.monotonic() < deadline, "material did not expire"
        time.sleep(0.2)
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert err(e) == ("KMSInvalidStateException", f"{md['Arn']} is pending import.")
    # The trail has the service event of the expiry.
    ct = make_client(s, "cloudtrail", account=ACCOUNT, region=REGION)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": md["Arn"]}])["Events"]
    assert "DeleteExpiredKeyMaterial" in [e["EventName"] for e in events]


def test_cancelled_deletion_of_a_key_without_material_returns_to_pending_import(kms):
    """A key with no material (PendingImport when scheduled) goes back to PendingImport, not to
    Disabled, so EnableKey cannot make a key without material usable (AWS key-state table)."""
    key_id = external(kms)["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        kms.enable_key(KeyId=key_id)
    assert e.value.response["Error"]["Code"] == "KMSInvalidStateException"
    # A key that has its material goes back to Disabled as usual.
    import_material(kms, key_id, os.urandom(32))
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_ml_kem_data_key_pairs_are_not_implemented(kms):
    """Not built: answered with NotImplemented (501), never a 500 from inside the call."""
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ML_KEM_768")
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
