"""The audit log: CloudTrail LookupEvents against the server and the `kmsnap audit` CLI.

KMS is not wired to the audit log yet, so event history is empty here; the record shape, the
hash chain, tamper detection and lookup filtering are covered by the unit tests of
crates/audit."""

import datetime
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, make_client, run_aws

# An account no other test uses, so its event history is known to be empty.
ACCOUNT = "314159265358"


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
