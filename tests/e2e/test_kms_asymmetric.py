"""KMS asymmetric keys end to end (docs/kms-asymmetric.md, issue #16), with boto3 against the
release binary: CreateKey/DescribeKey for RSA, ECC, Ed25519 and ML-DSA keys, Sign/Verify for
every signing algorithm, GetPublicKey, RSAES-OAEP Encrypt/Decrypt, GenerateDataKeyPair* and
DeriveSharedSecret.

Every signature, ciphertext, data key pair and shared secret kmsnap makes is checked with an
independent implementation — Python's `cryptography` (OpenSSL underneath) — and one RSA-PSS and
one ECDSA signature with the `openssl` command line, so that "kmsnap agrees with itself" is never
what a test relies on. Bad input must answer AWS's error codes and messages.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from conftest import make_client

ACCOUNT = "271828182845"
REGION = "eu-west-1"

RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
]
HASHES = {"256": (hashes.SHA256(), hashlib.sha256), "384": (hashes.SHA384(), hashlib.sha384),
          "512": (hashes.SHA512(), hashlib.sha512)}
CURVES = {"ECC_NIST_P256": (ec.SECP256R1, "ECDSA_SHA_256"), "ECC_NIST_P384": (ec.SECP384R1, "ECDSA_SHA_384"),
          "ECC_NIST_P521": (ec.SECP521R1, "ECDSA_SHA_512"), "ECC_SECG_P256K1": (ec.SECP256K1, "ECDSA_SHA_256")}


@pytest.fixture(scope="module")
def kms(server):
    return make_client(server, "kms", account=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def raw_kms(server):
    """No client-side validation, so that the server's own checks answer."""
    return make_client(server, "kms", account=ACCOUNT, region=REGION, validate=False)


_keys = {}


def key(kms, spec, usage, **kw):
    """One key per (spec, usage) for the module: RSA-4096 generation takes a moment."""
    if kw:
        return kms.create_key(KeySpec=spec, KeyUsage=usage, **kw)["KeyMetadata"]
    if (spec, usage) not in _keys:
        _keys[(spec, usage)] = kms.create_key(KeySpec=spec, KeyUsage=usage, Description=f"{spec} {usage}")["KeyMetadata"]
    return _keys[(spec, usage)]


def err(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e.get("Message", "")


def public_key(kms, key_id):
    r = kms.get_public_key(KeyId=key_id)
    return serialization.load_der_public_key(r["PublicKey"]), r


def hash_of(alg):
    return HASHES[alg.rsplit("_", 1)[1]]


# --- CreateKey / DescribeKey ---------------------------------------------------------------------

@pytest.mark.parametrize("spec,usage,field,algs", [
    ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms", RSA_SIGNING),
    ("RSA_3072", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_PH_SHA_512", "ED25519_SHA_512"]),
    ("ML_DSA_44", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
])
def test_describe_key_shows_spec_usage_and_algorithms(kms, spec, usage, field, algs):
    md = key(kms, spec, usage)
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert d["KeySpec"] == spec
    assert d["KeyUsage"] == usage
    assert d["KeyState"] == "Enabled" and d["Enabled"] is True
    assert d["Origin"] == "AWS_KMS"
    assert d[field] == algs
    others = {"SigningAlgorithms", "EncryptionAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms"} - {field}
    assert not others & set(d), d
    assert "CurrentKeyMaterialId" not in d, "only symmetric keys show a material id"
    if spec not in ("ECC_NIST_EDWARDS25519", "ML_DSA_44"):
        assert d["CustomerMasterKeySpec"] == spec


@pytest.mark.parametrize("kw,message", [
    ({"KeySpec": "RSA_2048"}, "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    ({"KeySpec": "HMAC_256"}, "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    ({"KeySpec": "RSA_2048", "KeyUsage": "KEY_AGREEMENT"}, "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"),
    ({"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "KEY_AGREEMENT"}, "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1"),
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"}, "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256"),
    ({"KeySpec": "HMAC_512", "KeyUsage": "SIGN_VERIFY"}, "KeyUsage SIGN_VERIFY is not compatible with KeySpec HMAC_512"),
    ({"KeyUsage": "SIGN_VERIFY"}, "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"),
])
def test_create_key_refuses_bad_spec_usage_pairs(raw_kms, kw, message):
    with pytest.raises(ClientError) as e:
        raw_kms.create_key(**kw)
    assert err(e) == ("ValidationException", message)


def test_rotation_is_refused_as_aws_does(kms):
    k = key(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    for call in (lambda: kms.enable_key_rotation(KeyId=k), lambda: kms.rotate_key_on_demand(KeyId=k)):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0] == "UnsupportedOperationException"
    kms.disable_key_rotation(KeyId=k)
    assert kms.get_key_rotation_status(KeyId=k)["KeyRotationEnabled"] is False
    assert kms.list_key_rotations(KeyId=k)["Rotations"] == []


# --- Sign / Verify -------------------------------------------------------------------------------

def check_rsa(pub, alg, sig, msg):
    h, _ = hash_of(alg)
    if "_PSS_" in alg:
        pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
    else:
        pub.verify(sig, msg, padding.PKCS1v15(), h)


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsa_signatures_verify_with_cryptography(kms, spec):
    md = key(kms, spec, "SIGN_VERIFY")
    pub, _ = public_key(kms, md["KeyId"])
    assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == int(spec[4:])
    msg = os.urandom(300)
    for alg in RSA_SIGNING:
        h, hl = hash_of(alg)
        r = kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm=alg)
        assert r["KeyId"] == md["Arn"] and r["SigningAlgorithm"] == alg
        assert len(r["Signature"]) == pub.key_size // 8
        check_rsa(pub, alg, r["Signature"], msg)
        # DIGEST: the digest is signed as given (not hashed again).
        d = hl(msg).digest()
        r2 = kms.sign(KeyId=md["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm=alg)
        check_rsa(pub, alg, r2["Signature"], msg)
        if "_PSS_" in alg:
            # Salt length is exactly the hash length: a verifier insisting on another fails.
            with pytest.raises(InvalidSignature):
                pub.verify(r["Signature"], msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size + 1), h)
        else:
            assert r2["Signature"] == r["Signature"], "PKCS#1 v1.5 is deterministic"
        v = kms.verify(KeyId=md["KeyId"], Message=d, MessageType="DIGEST", Signature=r["Signature"], SigningAlgorithm=alg)
        assert v["SignatureValid"] is True and v["KeyId"] == md["Arn"]


@pytest.mark.parametrize("spec", list(CURVES))
def test_ecdsa_signatures_verify_with_cryptography(kms, spec):
    curve, alg = CURVES[spec]
    md = key(kms, spec, "SIGN_VERIFY")
    pub, r = public_key(kms, md["KeyId"])
    assert isinstance(pub.curve, curve)
    assert r["SigningAlgorithms"] == [alg] and r["KeySpec"] == spec and r["KeyUsage"] == "SIGN_VERIFY"
    h, hl = hash_of(alg)
    msg = os.urandom(1000)
    s = kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm=alg)["Signature"]
    pub.verify(s, msg, ec.ECDSA(h))  # DER-encoded (r, s): cryptography takes exactly that
    d = hl(msg).digest()
    s2 = kms.sign(KeyId=md["KeyId"], Message=d, MessageType="DIGEST", SigningAlgorithm=alg)["Signature"]
    pub.verify(s2, d, ec.ECDSA(Prehashed(h)))
    pub.verify(s2, msg, ec.ECDSA(h))
    # A signature made outside with a key kmsnap does not hold does not verify in kmsnap.
    other = ec.generate_private_key(curve()).sign(msg, ec.ECDSA(h))
    with pytest.raises(ClientError) as e:
        kms.verify(KeyId=md["KeyId"], Message=msg, Signature=other, SigningAlgorithm=alg)
    assert err(e) == ("KMSInvalidSignatureException", "")


def test_ed25519_signature_verifies_with_cryptography(kms):
    md = key(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    pub, r = public_key(kms, md["KeyId"])
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    assert len(r["PublicKey"]) == 44 and base64.b64encode(r["PublicKey"]).startswith(b"MCowBQYDK2VwAyEA")
    msg = b"ed25519 over the whole message"
    s = kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    assert len(s) == 64
    pub.verify(s, msg)
    assert kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm="ED25519_SHA_512")["Signature"] == s
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=md["KeyId"], Message=hashlib.sha512(msg).digest(), MessageType="DIGEST",
                 SigningAlgorithm="ED25519_SHA_512")
    assert err(e) == ("ValidationException", "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm="ED25519_PH_SHA_512")
    assert err(e) == ("ValidationException", "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.")


@pytest.mark.parametrize("spec,cls,size", [("ML_DSA_44", mldsa.MLDSA44PublicKey, 2420),
                                           ("ML_DSA_65", mldsa.MLDSA65PublicKey, 3309)])
def test_ml_dsa_signature_verifies_with_cryptography(kms, spec, cls, size):
    md = key(kms, spec, "SIGN_VERIFY")
    pub, _ = public_key(kms, md["KeyId"])
    assert isinstance(pub, cls)
    msg = b"post-quantum"
    s = kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(s) == size
    pub.verify(s, msg)
    assert kms.verify(KeyId=md["KeyId"], Message=msg, Signature=s, SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"]
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=md["KeyId"], Message=hashlib.sha256(msg).digest(), MessageType="DIGEST",
                 SigningAlgorithm="ML_DSA_SHAKE_256")
    assert err(e) == ("ValidationException", f"Message type DIGEST is incompatible with key spec {spec}.")


def openssl(*args, **kw):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, **kw)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_an_rsa_pss_and_an_ecdsa_signature(kms, tmp_path):
    msg = tmp_path / "msg"
    msg.write_bytes(b"verified by the openssl command line\n")
    cases = [
        (key(kms, "RSA_2048", "SIGN_VERIFY"), "RSASSA_PSS_SHA_256",
         ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"]),
        (key(kms, "ECC_NIST_P384", "SIGN_VERIFY"), "ECDSA_SHA_384", []),
    ]
    for md, alg, opts in cases:
        der = tmp_path / f"{alg}.der"
        pem = tmp_path / f"{alg}.pem"
        sig = tmp_path / f"{alg}.sig"
        der.write_bytes(kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
        r = openssl("pkey", "-pubin", "-inform", "DER", "-in", str(der), "-out", str(pem))
        assert r.returncode == 0, r.stderr
        sig.write_bytes(kms.sign(KeyId=md["KeyId"], Message=msg.read_bytes(), SigningAlgorithm=alg)["Signature"])
        digest = "-sha256" if alg.endswith("256") else "-sha384"
        r = openssl("dgst", digest, "-verify", str(pem), "-signature", str(sig), *opts, str(msg))
        assert r.returncode == 0 and "Verified OK" in r.stdout, (alg, r.stdout, r.stderr)
        # And a changed message does not verify.
        msg2 = tmp_path / "msg2"
        msg2.write_bytes(b"something else\n")
        r = openssl("dgst", digest, "-verify", str(pem), "-signature", str(sig), *opts, str(msg2))
        assert r.returncode != 0


def test_sign_and_verify_refusals(kms, raw_kms):
    ecc = key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    k = ecc["KeyId"]
    sig = kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    cases = [
        (lambda: kms.verify(KeyId=k, Message=b"M", Signature=sig, SigningAlgorithm="ECDSA_SHA_256"),
         ("KMSInvalidSignatureException", "")),
        (lambda: kms.verify(KeyId=k, Message=b"m", Signature=sig[:-1], SigningAlgorithm="ECDSA_SHA_256"),
         ("KMSInvalidSignatureException", "")),
        (lambda: kms.sign(KeyId=k, Message=b"x" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"),
         ("ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")),
        (lambda: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_384"),
         ("InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.")),
        (lambda: kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256"),
         ("InvalidKeyUsageException", "Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec ECC_NIST_P256.")),
        (lambda: kms.sign(KeyId=k, Message=b"m", MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256"),
         ("ValidationException", "Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256.")),
        (lambda: raw_kms.sign(KeyId=k, Message=b"m" * 4097, SigningAlgorithm="ECDSA_SHA_256"),
         ("ValidationException", None)),
        (lambda: kms.verify(KeyId=k, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
         ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")),
        (lambda: kms.verify(KeyId=k, Message=b"M", Signature=sig, SigningAlgorithm="ECDSA_SHA_256", DryRun=True),
         ("KMSInvalidSignatureException", "")),
    ]
    for call, (code, message) in cases:
        with pytest.raises(ClientError) as e:
            call()
        got = err(e)
        assert got[0] == code, got
        if message is not None:
            assert got[1] == message, got
    # A symmetric key cannot sign; an encryption key cannot sign either.
    sym = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=sym["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert err(e) == ("InvalidKeyUsageException", f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
    with pytest.raises(ClientError) as e:
        kms.get_public_key(KeyId=sym["KeyId"])
    assert err(e)[0] == "UnsupportedOperationException"


def test_disabled_and_deleted_keys(kms):
    md = key(kms, "ECC_NIST_P256", "SIGN_VERIFY", Description="to disable")
    k, arn = md["KeyId"], md["Arn"]
    kms.disable_key(KeyId=k)
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=k, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert err(e) == ("DisabledException", f"{arn} is disabled.")
    assert kms.get_public_key(KeyId=k)["KeyId"] == arn, "GetPublicKey works on a disabled key"
    kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kms.get_public_key(KeyId=k)
    assert err(e) == ("KMSInvalidStateException", f"{arn} is pending deletion.")


def test_alias_names_the_signing_key(kms):
    md = key(kms, "ECC_NIST_P256", "SIGN_VERIFY", Description="aliased")
    alias = f"alias/signer-{os.urandom(4).hex()}"
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    s = kms.sign(KeyId=alias, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert s["KeyId"] == md["Arn"]
    pub, _ = public_key(kms, alias)
    pub.verify(s["Signature"], b"m", ec.ECDSA(hashes.SHA256()))


# --- RSAES-OAEP ----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,limits", [("RSA_2048", (214, 190)), ("RSA_3072", (342, 318)), ("RSA_4096", (470, 446))])
def test_rsa_encryption_interoperates_with_cryptography(kms, raw_kms, spec, limits):
    md = key(kms, spec, "ENCRYPT_DECRYPT")
    pub, r = public_key(kms, md["KeyId"])
    assert r["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    size = pub.key_size // 8
    for alg, h, limit in (("RSAES_OAEP_SHA_1", hashes.SHA1(), limits[0]), ("RSAES_OAEP_SHA_256", hashes.SHA256(), limits[1])):
        oaep = padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)
        # Made outside with the public key, decrypted by kmsnap.
        pt = os.urandom(limit)
        ct = pub.encrypt(pt, oaep)
        d = kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm=alg)
        assert d["Plaintext"] == pt and d["EncryptionAlgorithm"] == alg and d["KeyId"] == md["Arn"]
        assert "KeyMaterialId" not in d
        # Made by kmsnap: raw OAEP of modulus length, randomised, decrypts back.
        e1 = kms.encrypt(KeyId=md["KeyId"], Plaintext=pt, EncryptionAlgorithm=alg)
        assert len(e1["CiphertextBlob"]) == size and e1["EncryptionAlgorithm"] == alg
        assert kms.encrypt(KeyId=md["KeyId"], Plaintext=pt, EncryptionAlgorithm=alg)["CiphertextBlob"] != e1["CiphertextBlob"]
        assert kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=e1["CiphertextBlob"], EncryptionAlgorithm=alg)["Plaintext"] == pt
        with pytest.raises(ClientError) as e:
            raw_kms.encrypt(KeyId=md["KeyId"], Plaintext=pt + b"x", EncryptionAlgorithm=alg)
        assert err(e) == ("ValidationException", f"Algorithm {alg} and key spec {spec} cannot encrypt data larger than {limit} bytes.")


def test_rsa_encryption_refusals(kms):
    md = key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    k = md["KeyId"]
    ct = kms.encrypt(KeyId=k, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    cases = [
        (lambda: kms.encrypt(KeyId=k, Plaintext=b"p"),
         ("InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")),
        (lambda: kms.encrypt(KeyId=k, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1", EncryptionContext={"a": "b"}),
         ("ValidationException", "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.")),
        (lambda: kms.decrypt(KeyId=k, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_1"), ("InvalidCiphertextException", "")),
        (lambda: kms.decrypt(KeyId=k, CiphertextBlob=ct), ("InvalidCiphertextException", "")),
        (lambda: kms.decrypt(CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256"), ("ValidationException", "KeyId must not be null")),
        (lambda: kms.decrypt(KeyId=k, CiphertextBlob=ct[:-1], EncryptionAlgorithm="RSAES_OAEP_SHA_256"), ("InvalidCiphertextException", "")),
    ]
    for call, want in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert err(e) == want
    # An empty encryption context is accepted; a signing key cannot encrypt.
    assert kms.encrypt(KeyId=k, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1", EncryptionContext={})["CiphertextBlob"]
    signer = key(kms, "RSA_2048", "SIGN_VERIFY")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=signer["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert err(e) == ("InvalidKeyUsageException", f"{signer['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.")


def test_re_encrypt_between_an_rsa_key_and_a_symmetric_key(kms):
    rsa_key = key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    sym = kms.create_key()["KeyMetadata"]
    pub, _ = public_key(kms, rsa_key["KeyId"])
    ct = pub.encrypt(b"moves", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    r = kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=rsa_key["KeyId"], SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                       DestinationKeyId=sym["KeyId"], DestinationEncryptionContext={"to": "symmetric"})
    assert r["SourceKeyId"] == rsa_key["Arn"] and r["KeyId"] == sym["Arn"]
    assert "SourceKeyMaterialId" not in r and r["DestinationKeyMaterialId"] == sym["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"to": "symmetric"})["Plaintext"] == b"moves"


# --- GenerateDataKeyPair -------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
                                  "ECC_NIST_EDWARDS25519"])
def test_data_key_pairs_load_in_cryptography_and_decrypt_with_their_context(kms, spec):
    sym = key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    ec_ctx = {"pair": spec}
    r = kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec=spec, EncryptionContext=ec_ctx)
    assert r["KeyId"] == sym["Arn"] and r["KeyPairSpec"] == spec
    assert r["KeyMaterialId"] == sym["CurrentKeyMaterialId"]
    private = serialization.load_der_private_key(r["PrivateKeyPlaintext"], password=None)
    public = serialization.load_der_public_key(r["PublicKey"])
    spki = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki(private.public_key()) == spki(public) == r["PublicKey"]
    if spec.startswith("ECC_") and spec in CURVES:
        assert isinstance(public.curve, CURVES[spec][0])
        private.sign(b"x", ec.ECDSA(hashes.SHA256()))
    d = kms.decrypt(CiphertextBlob=r["PrivateKeyCiphertextBlob"], EncryptionContext=ec_ctx)
    assert d["Plaintext"] == r["PrivateKeyPlaintext"]
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=r["PrivateKeyCiphertextBlob"])
    assert err(e)[0] == "InvalidCiphertextException"
    # Without plaintext: the same shape minus the private key; every call is a new pair.
    w = kms.generate_data_key_pair_without_plaintext(KeyId=sym["KeyId"], KeyPairSpec=spec, EncryptionContext=ec_ctx)
    assert "PrivateKeyPlaintext" not in w and w["PublicKey"] != r["PublicKey"]
    p2 = serialization.load_der_private_key(kms.decrypt(CiphertextBlob=w["PrivateKeyCiphertextBlob"], EncryptionContext=ec_ctx)["Plaintext"], None)
    assert spki(p2.public_key()) == w["PublicKey"]


def test_data_key_pair_refusals(kms):
    rsa_key = key(kms, "RSA_2048", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=rsa_key["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert err(e) == ("InvalidKeyUsageException", "You cannot generate a data key pair with an asymmetric CMK")
    sym = key(kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as e:
        kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec="ECC_NIST_P256", DryRun=True)
    assert err(e)[0] == "DryRunOperationException"


# --- DeriveSharedSecret --------------------------------------------------------------------------

@pytest.mark.parametrize("spec,curve,size", [("ECC_NIST_P256", ec.SECP256R1, 32), ("ECC_NIST_P384", ec.SECP384R1, 48),
                                             ("ECC_NIST_P521", ec.SECP521R1, 66)])
def test_derive_shared_secret_equals_ecdh_in_cryptography(kms, spec, curve, size):
    md = key(kms, spec, "KEY_AGREEMENT")
    kms_pub, r = public_key(kms, md["KeyId"])
    assert r["KeyAgreementAlgorithms"] == ["ECDH"] and "SigningAlgorithms" not in r
    peer = ec.generate_private_key(curve())
    peer_spki = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer_spki)
    assert out["KeyId"] == md["Arn"] and out["KeyAgreementAlgorithm"] == "ECDH" and out["KeyOrigin"] == "AWS_KMS"
    assert len(out["SharedSecret"]) == size
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), kms_pub)
    # Bad peer keys: raw point, another curve, garbage.
    raw_point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    other = ec.generate_private_key(ec.SECP256R1() if spec != "ECC_NIST_P256" else ec.SECP384R1()).public_key()
    other_spki = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for bad in (raw_point, other_spki, b"\x30\x00"):
        with pytest.raises(ClientError) as e:
            kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=bad)
        assert err(e) == ("ValidationException", "")


def test_derive_shared_secret_needs_a_key_agreement_key(kms):
    md = key(kms, "ECC_NIST_P256", "SIGN_VERIFY")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = peer.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ClientError) as e:
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=spki)
    assert err(e) == ("InvalidKeyUsageException", f"{md['Arn']} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.")


# --- Policies, audit, persistence ----------------------------------------------------------------

def test_key_policy_conditions_on_signing_algorithm_and_message_type(kms):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Sign", "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:SigningAlgorithm": "RSASSA_PSS_SHA_256"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Sign", "Resource": "*",
         "Condition": {"StringEquals": {"kms:MessageType": "DIGEST"}}},
    ]})
    md = key(kms, "RSA_2048", "SIGN_VERIFY", Policy=policy)
    assert kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    for kw in ({"SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256", "Message": b"m"},
               {"SigningAlgorithm": "RSASSA_PSS_SHA_256", "Message": b"d" * 32, "MessageType": "DIGEST"}):
        with pytest.raises(ClientError) as e:
            kms.sign(KeyId=md["KeyId"], **kw)
        assert err(e)[0] == "AccessDeniedException"


def test_sign_is_audited_without_message_or_signature(server, kms):
    md = key(kms, "ECC_NIST_P256", "SIGN_VERIFY", Description="audited")
    msg = b"a message that must never reach the trail " + os.urandom(8).hex().encode()
    sig = kms.sign(KeyId=md["KeyId"], Message=msg, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    kms.verify(KeyId=md["KeyId"], Message=msg, Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
    pub = kms.get_public_key(KeyId=md["KeyId"])["PublicKey"]
    ct = make_client(server, "cloudtrail", account=ACCOUNT, region=REGION)
    deadline = time.monotonic() + 5
    while True:
        events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": md["Arn"]}])["Events"]
        names = [e["EventName"] for e in events]
        if {"Sign", "Verify", "GetPublicKey"} <= set(names) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"Sign", "Verify", "GetPublicKey", "CreateKey"} <= set(names), names
    sign_event = json.loads(next(e for e in events if e["EventName"] == "Sign")["CloudTrailEvent"])
    assert sign_event["requestParameters"] == {"keyId": md["KeyId"], "signingAlgorithm": "ECDSA_SHA_256"}
    assert sign_event["responseElements"] is None and sign_event["readOnly"] is True
    everything = json.dumps(events, default=str)
    for secret in (msg.decode(), base64.b64encode(msg).decode(), base64.b64encode(sig).decode(),
                   sig.hex(), base64.b64encode(pub).decode()):
        assert secret not in everything


def test_keys_survive_a_restart_and_no_private_key_reaches_the_disk(fresh_server):
    s = fresh_server()
    kms = make_client(s, "kms", account=ACCOUNT, region=REGION)
    md = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    pub_before = kms.get_public_key(KeyId=md["KeyId"])["PublicKey"]
    sym = kms.create_key()["KeyMetadata"]
    pair = kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec="ECC_NIST_P256")
    s.restart()
    kms = make_client(s, "kms", account=ACCOUNT, region=REGION)
    assert kms.get_public_key(KeyId=md["KeyId"])["PublicKey"] == pub_before
    sig = kms.sign(KeyId=md["KeyId"], Message=b"after restart", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    serialization.load_der_public_key(pub_before).verify(sig, b"after restart", ec.ECDSA(hashes.SHA256()))
    s.stop()
    # The data key pair's private key (PKCS#8 and its raw scalar) is nowhere on disk.
    private = pair["PrivateKeyPlaintext"]
    scalar = serialization.load_der_private_key(private, None).private_numbers().private_value.to_bytes(32, "big")
    needles = [private, base64.b64encode(private), scalar, scalar.hex().encode()]
    for p in Path(s.data_dir).rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for n in needles:
                assert n not in data, f"{p} holds the private key"
