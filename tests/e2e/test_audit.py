"""The audit log: CloudTrail LookupEvents against the server and the `kmsnap audit` CLI.

Every KMS call writes a CloudTrail record before it is answered (crates/kms/src/audit.rs):
LookupEvents finds it by key ARN with its encryption context and never a plaintext, data key or
ciphertext; a denied call is recorded with errorCode AccessDenied in the caller's and the key
owner's history. `kmsnap audit verify` checks the hash chain of a stopped server's data dir and
names the first broken record once a byte of a stored record is changed. The record shape, the
chain, lookup filtering and redaction in detail are covered by the unit tests of crates/audit
and crates/kms.

Accounts: 314159265358 (history stays empty), 577215664901 (key owner) and 602214076000 (another
account); no other test uses them."""

import base64
import datetime
import json
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, make_client, run_aws

# An account no other test uses, so its event history is known to be empty.
ACCOUNT = "314159265358"
# A key owner and another account for the KMS audit tests.
OWNER = "577215664901"
OTHER = "602214076000"
KMS_REGION = "eu-central-1"


def cloudtrail(server, **kw):
    return make_client(server, "cloudtrail", account=ACCOUNT, region="ap-northeast-1", **kw)


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.value.response
    return e.value.response["Error"]["Code"]


def test_lookup_events_is_empty_without_events(server):
    ct = cloudtrail(server)
    out = ct.lookup_events()
    assert out["Events"] == []
    assert "NextToken" not in out
    out = ct.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}],
        StartTime=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
        EndTime=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc),
        MaxResults=5,
    )
    assert out["Events"] == []


def test_lookup_events_with_the_aws_cli(server):
    r = run_aws(server, "cloudtrail", "lookup-events", "--max-results", "10", "--output", "json",
                account=ACCOUNT, region="ap-northeast-1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Events"] == []


def test_lookup_events_validation_errors(server):
    ct = cloudtrail(server, validate=False)
    two = [
        {"AttributeKey": "EventName", "AttributeValue": "Encrypt"},
        {"AttributeKey": "ReadOnly", "AttributeValue": "true"},
    ]
    assert error_code(lambda: ct.lookup_events(LookupAttributes=two)) == "InvalidLookupAttributesException"
    bad_read_only = [{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}]
    assert error_code(lambda: ct.lookup_events(LookupAttributes=bad_read_only)) == "InvalidLookupAttributesException"
    # The model bounds MaxResults to 1..50; either the generic validation or CloudTrail's own
    # exception is a faithful answer, never a success.
    assert error_code(lambda: ct.lookup_events(MaxResults=100)) in ("InvalidMaxResultsException", "ValidationException")
    assert error_code(lambda: ct.lookup_events(
        StartTime=datetime.datetime(2026, 2, 1, tzinfo=datetime.timezone.utc),
        EndTime=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
    )) == "InvalidTimeRangeException"
    assert error_code(lambda: ct.lookup_events(NextToken="not-a-token")) == "InvalidNextTokenException"


def kmsnap(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)


def test_audit_verify_and_export_on_a_stopped_server(fresh_server, tmp_path):
    s = fresh_server()
    # While the server runs it holds the database lock: the CLI refuses and says why.
    busy = kmsnap("audit", "verify", "--data-dir", s.data_dir)
    assert busy.returncode == 1
    assert "stop" in busy.stderr, busy.stderr
    assert s.stop() == 0

    r = kmsnap("audit", "verify", "--data-dir", s.data_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "audit log OK: 0 records"

    out = tmp_path / "audit.jsonl"
    r = kmsnap("audit", "export", "--data-dir", s.data_dir, "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text() == ""

    # The server starts again on the same directory afterwards.
    s.start()
    assert cloudtrail(s).lookup_events()["Events"] == []


def test_audit_verify_without_a_database_fails(tmp_path):
    r = kmsnap("audit", "verify", "--data-dir", str(tmp_path / "nothing"))
    assert r.returncode == 1
    assert "no kmsnap database" in r.stderr
    assert not (tmp_path / "nothing").exists()


def test_audit_help_says_to_stop_the_server():
    r = kmsnap("audit", "--help")
    assert r.returncode == 0
    assert "stop the server" in r.stdout.lower()


# ---------------------------------------------------------------------------------------------
# KMS calls in the trail


def trail(server, account, key_arn, event_name, want=1, timeout=5.0):
    """LookupEvents in `account` by ResourceName = key ARN, until `want` events named
    `event_name` are there (AWS delivers with a delay; kmsnap within moments)."""
    ct = make_client(server, "cloudtrail", account=account, region=KMS_REGION)
    deadline = time.monotonic() + timeout
    while True:
        events = ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key_arn}])["Events"]
        found = [e for e in events if e["EventName"] == event_name]
        if len(found) >= want or time.monotonic() > deadline:
            return found, events


def b64(data):
    return base64.b64encode(data).decode()


def test_generate_data_key_is_found_by_key_arn_with_its_context_and_without_the_key(server):
    kms = make_client(server, "kms", account=OWNER, region=KMS_REGION)
    key = kms.create_key(Description="audit e2e")["KeyMetadata"]["Arn"]
    context = {"audit": "me", "case": "GenerateDataKey"}
    out = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)

    found, events = trail(server, OWNER, key, "GenerateDataKey")
    assert len(found) == 1, events
    e = found[0]
    assert e["ReadOnly"] == "true"
    assert e["EventSource"] == "kms.amazonaws.com"
    assert e["Username"] == "root"
    assert {"ResourceType": "AWS::KMS::Key", "ResourceName": key} in e["Resources"]
    rec = json.loads(e["CloudTrailEvent"])
    assert rec["eventName"] == "GenerateDataKey"
    assert rec["requestParameters"] == {"keyId": key, "keySpec": "AES_256", "encryptionContext": context}
    assert rec["responseElements"] is None
    assert rec["readOnly"] is True
    assert rec["recipientAccountId"] == OWNER
    assert rec["userIdentity"]["type"] == "Root"
    assert rec["userIdentity"]["accountId"] == OWNER
    assert rec["resources"] == [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": key}]
    assert "errorCode" not in rec
    # Neither the data key (in any encoding) nor its wrapped form appears anywhere.
    plain, blob = out["Plaintext"], out["CiphertextBlob"]
    everything = json.dumps(events, default=str)
    for secret in (b64(plain), plain.hex(), base64.urlsafe_b64encode(plain).decode(), b64(blob)):
        assert secret not in e["CloudTrailEvent"]
        assert secret not in everything
    # The key's history, newest first: the CreateKey that made it comes after.
    names = [x["EventName"] for x in events]
    assert names.index("GenerateDataKey") < names.index("CreateKey"), names


def test_a_denied_call_is_recorded_as_access_denied_in_both_accounts(server):
    owner = make_client(server, "kms", account=OWNER, region=KMS_REGION)
    key = owner.create_key(Description="audit e2e denied")["KeyMetadata"]["Arn"]
    other = make_client(server, "kms", account=OTHER, region=KMS_REGION)
    secret = b"denied plaintext " + uuid.uuid4().hex.encode()
    with pytest.raises(ClientError) as err:
        other.encrypt(KeyId=key, Plaintext=secret)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"

    for account in (OTHER, OWNER):
        found, events = trail(server, account, key, "Encrypt")
        assert len(found) == 1, (account, events)
        rec = json.loads(found[0]["CloudTrailEvent"])
        assert rec["errorCode"] == "AccessDenied", rec
        assert "is not authorized to perform: kms:Encrypt" in rec["errorMessage"]
        assert rec["userIdentity"]["accountId"] == OTHER
        assert rec["userIdentity"]["arn"] == f"arn:aws:iam::{OTHER}:root"
        assert rec["recipientAccountId"] == account
        assert rec["requestParameters"]["keyId"] == key
        assert rec["resources"] == [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": key}]
        assert b64(secret) not in found[0]["CloudTrailEvent"]
    # The other account's own history has nothing but its attempt.
    ct_other = make_client(server, "cloudtrail", account=OTHER, region=KMS_REGION)
    names = {e["EventName"] for e in ct_other.lookup_events()["Events"]}
    assert "CreateKey" not in names


def test_audit_verify_passes_and_names_the_record_whose_byte_was_changed(fresh_server, tmp_path):
    s = fresh_server()
    kms = make_client(s, "kms", account=OWNER, region=KMS_REGION)
    key = kms.create_key(Description="audit e2e tamper")["KeyMetadata"]["KeyId"]
    marker = "TAMPER" + uuid.uuid4().hex
    kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"marker": marker})
    kms.describe_key(KeyId=key)
    assert s.stop() == 0

    r = kmsnap("audit", "verify", "--data-dir", s.data_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "audit log OK: 3 records", r.stdout
    out = tmp_path / "audit.jsonl"
    assert kmsnap("audit", "export", "--data-dir", s.data_dir, "--output", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    [seq] = [i + 1 for i, line in enumerate(lines) if marker in line]
    assert json.loads(lines[seq - 1])["eventName"] == "Encrypt"

    # Change one byte of that record where it is stored: a letter of the marker, so the record
    # still parses and only the hash chain can tell. redb writes copy-on-write, so the file may
    # also hold stale copies of the page (no longer read); each copy is tried in turn, one byte
    # at a time, restoring it before the next, until the live one is hit.
    db = f"{s.data_dir}/meta.redb"
    original = open(db, "rb").read()
    needle = marker.encode()
    offsets = []
    at = original.find(needle)
    while at != -1:
        offsets.append(at)
        at = original.find(needle, at + 1)
    assert offsets, "the record is stored as written"
    broken = None
    for at in offsets:
        data = bytearray(original)
        data[at] ^= 0x01  # 'T' -> 'U'
        open(db, "wb").write(bytes(data))
        r = kmsnap("audit", "verify", "--data-dir", s.data_dir)
        if r.returncode != 0:
            broken = r
            break
    open(db, "wb").write(original)
    assert broken is not None, f"no copy of the record at {offsets} is the one read"
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.startswith(f"audit log broken at record {seq}:"), broken.stdout
    assert "hash" in broken.stdout

    # With the byte restored the chain verifies again.
    r = kmsnap("audit", "verify", "--data-dir", s.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_acknowledged_encrypt_is_in_the_trail_after_kill_9(fresh_server):
    # Crypto calls are answered once their record is in the audit journal (not yet in the
    # log): a server killed right after a burst must still have every answered call's record
    # after it restarts (recovery moves the journal into the log before serving).
    s = fresh_server()
    kms = make_client(s, "kms", account=OWNER, region=KMS_REGION)
    key_arn = kms.create_key(Description="audit e2e kill -9")["KeyMetadata"]["Arn"]
    run = uuid.uuid4().hex

    def burst(worker):
        client = make_client(s, "kms", account=OWNER, region=KMS_REGION)
        done = []
        for i in range(25):
            marker = f"{run}-{worker}-{i}"
            client.encrypt(KeyId=key_arn, Plaintext=b"p", EncryptionContext={"marker": marker})
            done.append(marker)
        return done

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=8) as pool:
        answered = {m for ms in pool.map(burst, range(8)) for m in ms}
    assert len(answered) == 200
    s.kill9()

    s.start()
    ct = make_client(s, "cloudtrail", account=OWNER, region=KMS_REGION)
    found, token = set(), None
    while True:
        kw = {"NextToken": token} if token else {}
        out = ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}], MaxResults=50, **kw)
        for e in out["Events"]:
            ctx = json.loads(e["CloudTrailEvent"])["requestParameters"].get("encryptionContext", {})
            found.add(ctx.get("marker"))
        token = out.get("NextToken")
        if not token:
            break
    missing = answered - found
    assert not missing, f"{len(missing)} answered Encrypt calls have no record: {sorted(missing)[:5]}"

    # And the chain verifies with all of them in it.
    assert s.stop() == 0
    r = kmsnap("audit", "verify", "--data-dir", s.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(r.stdout.strip().split(": ")[1].split()[0]) >= 201, r.stdout
