"""The foundation: one endpoint, SigV4, accounts and regions, STS, internal endpoints, restarts.

Every test drives the real binary with real clients (boto3, the aws cli, plain HTTP for the
internal endpoints and hand-made requests)."""

import datetime
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import Server, make_client, run_aws


def http(method, url, body=b"", headers=None):
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def signed(server, service, region, body, headers, access_key="test", secret="test", when=None, path="/"):
    """A request signed by botocore's own SigV4Auth, optionally at a chosen time."""
    creds = botocore.credentials.Credentials(access_key, secret)
    req = botocore.awsrequest.AWSRequest(method="POST", url=server.endpoint + path, data=body, headers=headers)
    auth = botocore.auth.SigV4Auth(creds, service, region)
    if when is None:
        auth.add_auth(req)
    else:
        class Frozen(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return when.replace(tzinfo=None)

            @classmethod
            def now(cls, tz=None):
                return when if tz else when.replace(tzinfo=None)

        with mock.patch.object(botocore.auth.datetime, "datetime", Frozen):
            auth.add_auth(req)
    prepared = req.prepare()
    return http("POST", prepared.url, prepared.body, dict(prepared.headers))


STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


# --- first line, health, metrics --------------------------------------------------------------

def test_first_stdout_line_is_the_bound_address(server):
    assert server.first_line.startswith("kmsnap listening on http://127.0.0.1:")
    port = int(server.first_line.rsplit(":", 1)[1])
    assert port > 0


def test_health_and_metrics(server, client):
    status, _, body = http("GET", server.endpoint + "/_kmsnap/health")
    assert status == 200
    h = json.loads(body)
    assert h["status"] == "ok" and h["store"] == "embedded" and "version" in h and h["uptime_seconds"] >= 0
    client("sts").get_caller_identity()
    status, headers, body = http("GET", server.endpoint + "/_kmsnap/metrics")
    assert status == 200
    text = body.decode()
    assert 'kmsnap_requests_total{service="sts",operation="GetCallerIdentity",status="200"}' in text
    assert "kmsnap_request_duration_seconds_count" in text


# --- STS and identity --------------------------------------------------------------------------

def test_cli_get_caller_identity_dev_accounts(server):
    r = run_aws(server, "sts", "get-caller-identity", "--endpoint-url", server.endpoint)
    assert r.returncode == 0, r.stderr
    ident = json.loads(r.stdout)
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"

    r = run_aws(server, "sts", "get-caller-identity", account="111111111111")
    assert r.returncode == 0, r.stderr
    ident = json.loads(r.stdout)
    assert ident["Account"] == "111111111111"
    assert ident["Arn"] == "arn:aws:iam::111111111111:root"


def test_wrong_secret_is_signature_does_not_match(server):
    r = run_aws(server, "sts", "get-caller-identity", secret="not-the-secret")
    assert r.returncode != 0
    assert "SignatureDoesNotMatch" in r.stderr
    with pytest.raises(ClientError) as e:
        make_client(server, "sts", secret="wrong").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_wrong_secret_kms_uses_json_form(server):
    with pytest.raises(ClientError) as e:
        make_client(server, "kms", secret="wrong").list_keys()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_request_signed_twenty_minutes_ago_fails(server):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    status, _, body = signed(server, "sts", "us-east-1", STS_BODY, FORM, when=when)
    assert status == 403, body
    assert b"SignatureDoesNotMatch" in body and b"expired" in body.lower()
    # Within the 15-minute window it is accepted.
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    status, _, body = signed(server, "sts", "us-east-1", STS_BODY, FORM, when=when)
    assert status == 200, body


def test_missing_auth_and_unknown_key(server):
    status, _, body = http("POST", server.endpoint + "/", STS_BODY.encode(), FORM)
    assert status == 403 and b"MissingAuthenticationToken" in body
    with pytest.raises(ClientError) as e:
        make_client(server, "sts", access_key="AKIANOTAKEYATALL").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_unknown_region_is_refused(server):
    status, _, body = signed(server, "sts", "xx-nowhere-1", STS_BODY, FORM)
    assert status == 403
    assert b"Credential should be scoped to a valid region" in body


def test_assume_role_gives_credentials_in_the_role_account(server):
    sts = make_client(server, "sts", account="111111111111")
    out = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/x", RoleSessionName="e2e")
    c = out["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::222222222222:assumed-role/x/e2e"
    assumed = make_client(server, "sts", access_key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                          session_token=c["SessionToken"])
    ident = assumed.get_caller_identity()
    assert ident["Account"] == "222222222222"
    assert ident["Arn"] == "arn:aws:sts::222222222222:assumed-role/x/e2e"
    assert ident["UserId"].endswith(":e2e")
    # A tampered session token is refused.
    bad = make_client(server, "sts", access_key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                      session_token=c["SessionToken"][:-4] + ("AAAA" if not c["SessionToken"].endswith("AAAA") else "BBBB"))
    with pytest.raises(ClientError):
        bad.get_caller_identity()
    # The secret is required: the right token with a wrong secret fails.
    wrong = make_client(server, "sts", access_key=c["AccessKeyId"], secret="x" * 40, session_token=c["SessionToken"])
    with pytest.raises(ClientError) as e:
        wrong.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_assume_role_validation_errors(server):
    sts = make_client(server, "sts", validate=False)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/x", RoleSessionName="s", DurationSeconds=100)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert "durationSeconds" in err["Message"] and "greater than or equal to 900" in err["Message"]
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="not-an-arn-at-all-xx", RoleSessionName="sess")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/x")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "roleSessionName" in e.value.response["Error"]["Message"]


def test_assumed_role_expires_with_the_injected_clock(fresh_server):
    s = fresh_server()
    sts = make_client(s, "sts")
    c = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/x", RoleSessionName="short",
                        DurationSeconds=900)["Credentials"]
    assumed = make_client(s, "sts", access_key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                          session_token=c["SessionToken"])
    assumed.get_caller_identity()
    s.advance_clock(901)
    with pytest.raises(ClientError) as e:
        assumed.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "ExpiredToken"


def test_presigned_url_accepted_and_tamper_refused(server):
    sts = make_client(server, "sts", account="111111111111")
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    status, headers, body = http("GET", url)
    assert status == 200, body
    assert b"<Account>111111111111</Account>" in body
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1:]
    status, _, body = http("GET", flipped)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    # Changing a signed parameter also breaks it.
    status, _, body = http("GET", url.replace("Version=2011-06-15", "Version=2011-06-16"))
    assert status in (400, 403)


def test_presigned_rest_get_operation(server):
    """A REST GET operation (EBS ListSnapshotBlocks) presigned by botocore authenticates: the
    answer is the operation's own (not built yet), never a signature error; tampering is."""
    ebs = make_client(server, "ebs", account="111111111111", region="ap-northeast-1")
    url = ebs.generate_presigned_url("list_snapshot_blocks", Params={"SnapshotId": "snap-0123456789abcdef0"}, ExpiresIn=300)
    status, headers, body = http("GET", url)
    assert status != 403, body
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1:]
    status, headers, body = http("GET", flipped)
    assert status == 403
    assert {k.lower(): v for k, v in headers.items()}["x-amzn-errortype"].startswith("InvalidSignatureException")


# --- every service answers in its own envelope ---------------------------------------------------

# Built operations: each answers a parseable result or one of the errors its model lists —
# never NotImplemented.
ANSWERING_CALLS = [
    ("kms", "list_keys", {}),
    ("kms", "describe_key", {"KeyId": "alias/nothing"}),
    ("ec2", "describe_snapshots", {"OwnerIds": ["self"]}),
    ("ebs", "list_snapshot_blocks", {"SnapshotId": "snap-0123456789abcdef0"}),
    ("rds", "describe_db_instances", {}),
    ("cloudtrail", "lookup_events", {}),
    ("sts", "get_caller_identity", {}),
    ("iam", "list_users", {}),
    ("backup", "list_backup_vaults", {}),
]

# Operations not built yet: each must answer AWS's error envelope with NotImplemented (501).
# When one gets built, this test fails until it moves to ANSWERING_CALLS.
UNBUILT_CALLS = [
    ("ec2", "describe_instances", {}),
    ("ec2", "describe_images", {}),
    ("backup", "list_copy_jobs", {}),
    ("backup", "start_copy_job", {"RecoveryPointArn": "arn:aws:ec2:ap-northeast-1::snapshot/snap-0123456789abcdef0", "SourceBackupVaultName": "v1", "DestinationBackupVaultArn": "arn:aws:backup:ap-northeast-1:000000000000:backup-vault:v2", "IamRoleArn": "arn:aws:iam::000000000000:role/r"}),
    # restJson operations outside the codegen allowlist are routed by their URI too.
    ("backup", "create_report_plan", {"ReportPlanName": "daily", "ReportDeliveryChannel": {"S3BucketName": "b"}, "ReportSetting": {"ReportTemplate": "BACKUP_JOB_REPORT"}}),
    ("backup", "list_legal_holds", {}),
    ("rds", "describe_global_clusters", {}),
    ("kms", "describe_custom_key_stores", {}),
]


@pytest.mark.parametrize("service,method,params", ANSWERING_CALLS)
def test_each_service_answers_with_a_parseable_result_or_modelled_error(server, service, method, params):
    c = make_client(server, service, region="ap-northeast-1")
    try:
        getattr(c, method)(**params)
    except ClientError as e:
        code = e.response["Error"]["Code"]
        op = c.meta.service_model.operation_model(c.meta.method_to_api_mapping[method])
        modelled = {s.metadata.get("error", {}).get("code", s.name) for s in op.error_shapes}
        assert code in modelled, e.response
        assert e.response["ResponseMetadata"].get("RequestId"), e.response


@pytest.mark.parametrize("service,method,params", UNBUILT_CALLS)
def test_unbuilt_operations_answer_not_implemented(server, service, method, params):
    c = make_client(server, service, region="ap-northeast-1")
    with pytest.raises(ClientError) as e:
        getattr(c, method)(**params)
    assert e.value.response["Error"]["Code"] == "NotImplemented", e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert e.value.response["ResponseMetadata"].get("RequestId"), e.value.response


def test_unknown_json_operation(server):
    body = b"{}"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.NoSuchOperation"}
    status, h, resp = signed(server, "kms", "us-east-1", body, headers)
    assert status == 400
    assert json.loads(resp)["__type"].endswith("UnknownOperationException")
    assert h.get("x-amzn-RequestId") or h.get("X-Amzn-RequestId") or h.get("x-amzn-requestid")


def test_unknown_query_action(server):
    status, _, resp = signed(server, "ec2", "us-east-1", "Action=NoSuchAction&Version=2016-11-15", FORM)
    assert status == 400 and b"InvalidAction" in resp and b"<RequestID>" in resp
    status, _, resp = signed(server, "rds", "us-east-1", "Action=NoSuchAction&Version=2014-10-31", FORM)
    assert status == 400 and b"<ErrorResponse" in resp and b"InvalidAction" in resp


def test_oversized_body_is_refused(server):
    """A declared Content-Length over the limit is refused with 413 before any of the body is
    read (docs/security.md, "Bounded requests"): the client gets its answer without sending it."""
    import socket
    import urllib.parse
    u = urllib.parse.urlsplit(server.endpoint)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  + f"Content-Length: {9 * 1024 * 1024}\r\n\r\n".encode())
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.rstrip().endswith((b">", b"}")):
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    assert resp.startswith(b"HTTP/1.1 413"), resp[:200]
    assert b"RequestEntityTooLarge" in resp


# --- dev endpoints, restart and memory mode -----------------------------------------------------------

def test_clock_survives_restart_and_memory_mode_writes_nothing(fresh_server, tmp_path):
    s = fresh_server()
    before = s.advance_clock(3600)
    assert before["offset_seconds"] >= 3600
    s.restart()
    status, _, body = http("GET", s.endpoint + "/_kmsnap/clock")
    assert status == 200 and json.loads(body)["offset_seconds"] >= 3600
    assert os.path.exists(os.path.join(s.data_dir, "root.key"))
    assert oct(os.stat(os.path.join(s.data_dir, "root.key")).st_mode & 0o777) == "0o600"

    home = tmp_path / "home"
    home.mkdir()
    m = Server(memory=True, env={"HOME": str(home), "XDG_DATA_HOME": str(home / "xdg")})
    m.start()
    try:
        make_client(m, "sts").get_caller_identity()
        m.advance_clock(10)
    finally:
        m.stop()
    assert list(home.iterdir()) == []


def test_reset_wipes_state(fresh_server):
    s = fresh_server()
    status, _, body = http("POST", s.endpoint + "/_kmsnap/reset", b"{}", {"Content-Type": "application/json"})
    assert status == 200, body


def test_strict_mode_accepts_only_configured_keys(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text(
        '[auth]\nmode = "strict"\n\n[[access_keys]]\naccess_key_id = "AKIAFIXEDKEY0000001"\n'
        'secret_access_key = "fixed-secret-for-tests"\naccount = "333333333333"\nuser = "ci"\n'
    )
    s = fresh_server(extra_args=["--config", str(cfg)])
    ident = make_client(s, "sts", access_key="AKIAFIXEDKEY0000001", secret="fixed-secret-for-tests").get_caller_identity()
    assert ident["Account"] == "333333333333"
    assert ident["Arn"] == "arn:aws:iam::333333333333:user/ci"
    with pytest.raises(ClientError) as e:
        make_client(s, "sts").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    status, _, _ = http("POST", s.endpoint + "/_kmsnap/clock", b'{"advance_seconds": 1}', {"Content-Type": "application/json"})
    assert status == 403


def test_configured_key_works_in_dev_mode(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text('[[access_keys]]\naccess_key_id = "AKIAFIXEDKEY0000002"\nsecret_access_key = "s2"\naccount = "444444444444"\n')
    s = fresh_server(extra_args=["--config", str(cfg)])
    ident = make_client(s, "sts", access_key="AKIAFIXEDKEY0000002", secret="s2").get_caller_identity()
    assert ident["Account"] == "444444444444"
    assert make_client(s, "sts").get_caller_identity()["Account"] == "000000000000"


def test_sigterm_shuts_down_cleanly(fresh_server):
    s = fresh_server()
    make_client(s, "sts").get_caller_identity()
    assert s.stop() == 0


def test_config_secret_encrypted_by_the_root_key(fresh_server, tmp_path):
    """`kmsnap secret encrypt` turns a secret into enc:v1:… under the data dir's root key; the
    config then holds no plaintext secret, and the key signs requests as usual."""
    from conftest import BIN
    data = tmp_path / "data"
    data.mkdir()
    out = subprocess.run([BIN, "secret", "encrypt", "--data-dir", str(data)], input="very-secret-value\n",
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    enc = out.stdout.strip()
    assert enc.startswith("enc:v1:") and "very-secret-value" not in enc
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text(f'[[access_keys]]\naccess_key_id = "AKIAENCRYPTED000001"\nsecret_access_key = "{enc}"\n'
                   'account = "555555555555"\n')
    assert "very-secret-value" not in cfg.read_text()
    s = fresh_server(extra_args=["--config", str(cfg)], data_dir=str(data))
    ident = make_client(s, "sts", access_key="AKIAENCRYPTED000001", secret="very-secret-value").get_caller_identity()
    assert ident["Account"] == "555555555555"
    # Under another root key the value does not open: the server refuses to start.
    other = tmp_path / "other"
    other.mkdir()
    bad = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(other), "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "cannot decrypt" in bad.stderr
