"""Security issue #13, item by item: each test names what it guards and fails on a server that
has the hole.

1. every `x-amz-*` header a request carries is covered by its signature;
3. request parts are bounded before any work (no 5xx from a large input);
4. slow clients cannot hold connections; a bad signature on a block upload is refused before
   its body is read; 414/431 carry an AWS-shaped body;
5. kmsnap's own mutating endpoints refuse browser cross-site requests;
6. the data dir is private;
8. EC2 list indexes that are not positive integers are refused; kmsnap's volume endpoints
   answer another account's volume like a volume that does not exist.

(Item 2, session policies, is in test_sts_session_policies.py; item 7, space left by killed
copies, in test_orphan_reclaim.py.)
"""

import base64
import hashlib
import json
import os
import socket
import stat
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from conftest import make_client
from ebs_helpers import checksum, wait_snapshot
from test_foundation import http

REGION = "ap-northeast-1"
ACCOUNT = "135713571357"
OTHER = "246802468024"


def sign_then_add(server, service, body, signed_headers, added_headers, access_key="test", path="/",
                  method="POST", region=REGION):
    """Signs with botocore's SigV4Auth over `signed_headers` only, then adds `added_headers`
    unsigned — what an attacker replaying a captured request would do."""
    creds = botocore.credentials.Credentials(access_key, "test")
    req = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=body,
                                         headers=signed_headers)
    botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
    p = req.prepare()
    headers = dict(p.headers)
    headers.update(added_headers)
    return http(method, p.url, p.body, headers)


# --- 1. unsigned x-amz-* headers ------------------------------------------------------------------

def test_unsigned_target_header_cannot_choose_the_operation(server):
    """Guards: a captured DescribeKey signed over host;x-amz-date cannot be replayed as
    ScheduleKeyDeletion by changing the unsigned X-Amz-Target."""
    kms = make_client(server, "kms", account=ACCOUNT, region=REGION)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": key, "PendingWindowInDays": 7})
    for target in ("TrentService.DescribeKey", "TrentService.ScheduleKeyDeletion"):
        status, _, resp = sign_then_add(server, "kms", body, {"Content-Type": "application/x-amz-json-1.1"},
                                        {"X-Amz-Target": target}, access_key=ACCOUNT)
        assert status == 400, resp
        err = json.loads(resp)
        assert err["__type"] == "InvalidSignatureException", err
        assert "x-amz-target" in err["message"], err
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    # The same request with the header signed (as every SDK sends it) works.
    status, _, resp = sign_then_add(server, "kms", body, {"Content-Type": "application/x-amz-json-1.1",
                                                          "X-Amz-Target": "TrentService.DescribeKey"}, {},
                                    access_key=ACCOUNT)
    assert status == 200, resp


def test_unsigned_checksum_on_put_snapshot_block_is_refused(server):
    """Guards: a PutSnapshotBlock sent with UNSIGNED-PAYLOAD cannot have its (unsigned)
    x-amz-checksum and body swapped for other data."""
    ebs = make_client(server, "ebs", account=ACCOUNT, region=REGION)
    snap = ebs.start_snapshot(VolumeSize=1, Encrypted=False)["SnapshotId"]
    data = os.urandom(524288)
    path = f"/snapshots/{snap}/blocks/0"
    signed = {"x-amz-Data-Length": "524288", "x-amz-Checksum-Algorithm": "SHA256",
              "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Type": "application/octet-stream"}
    status, _, resp = sign_then_add(server, "ebs", data, signed, {"x-amz-Checksum": checksum(data)},
                                    access_key=ACCOUNT, path=path, method="PUT")
    assert status == 403, resp
    assert json.loads(resp)["message"].startswith("There were headers present in the request which were not signed")
    # Nothing was stored: the snapshot completes with no changed block and lists none.
    ebs.complete_snapshot(SnapshotId=snap, ChangedBlocksCount=0)
    wait_snapshot(make_client(server, "ec2", account=ACCOUNT, region=REGION), snap)
    assert ebs.list_snapshot_blocks(SnapshotId=snap)["Blocks"] == []


def test_presigned_url_with_an_unsigned_amz_header_is_refused(server):
    """Guards: a presigned URL (only host signed) cannot carry an extra x-amz-* header."""
    sts = make_client(server, "sts", account=ACCOUNT)
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    assert http("GET", url)[0] == 200
    status, _, body = http("GET", url, headers={"X-Amz-Meta-Extra": "x"})
    assert status == 403 and b"SignatureDoesNotMatch" in body, body


# --- 3. bounded request parts ---------------------------------------------------------------------

def test_huge_encryption_context_is_a_client_error(server):
    """Guards: a ~1.1 MB EncryptionContext once answered HTTP 500 (its audit record did not fit
    the journal); it is refused as too large before any work, and the server stays healthy."""
    kms = make_client(server, "kms", account=ACCOUNT, region=REGION)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"a": "b" * 1_100_000})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413, e.value.response
    assert e.value.response["Error"]["Code"] == "RequestEntityTooLarge"
    assert server.get("/_kmsnap/health")[0] == 200
    # Just under the limit is served, and audited.
    ec = {"a": "b" * 200_000}
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=ec)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ec)["Plaintext"] == b"x"


def test_grant_constraint_limits(server):
    """Guards: grant constraints are bounded as AWS documents (at most 8 pairs, values of at
    most 384 characters) instead of being stored and copied into every audit record."""
    kms = make_client(server, "kms", account=ACCOUNT, region=REGION)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    grantee = f"arn:aws:iam::{ACCOUNT}:root"
    for constraints in ({"EncryptionContextSubset": {f"k{i}": "v" for i in range(9)}},
                        {"EncryptionContextEquals": {"k": "v" * 385}}):
        with pytest.raises(ClientError) as e:
            kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"], Constraints=constraints)
        assert e.value.response["Error"]["Code"] == "ValidationException", e.value.response
    kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"],
                     Constraints={"EncryptionContextSubset": {f"k{i}": "v" * 384 for i in range(8)}})


# --- 4. slow clients, auth before body, 414/431 ------------------------------------------------------

def _conn(server, timeout=30):
    u = urllib.parse.urlsplit(server.endpoint)
    return socket.create_connection((u.hostname, u.port), timeout=timeout)


def _read_all(s, deadline):
    data = b""
    while True:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return data, True
        except socket.timeout:
            return data, False
        if not b:
            return data, True
        data += b


def test_partial_headers_and_short_bodies_are_cut_off(fresh_server):
    """Guards: a client that never finishes its headers or its body cannot hold a connection
    (8 of 8 stayed open 40 s and more)."""
    server = fresh_server(env={"KMSNAP_HEADER_TIMEOUT_SECONDS": "2", "KMSNAP_BODY_TIMEOUT_SECONDS": "2"})
    partial = _conn(server)
    partial.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Targ")
    short = _conn(server)
    short.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  b"X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 100\r\n\r\n{\"Li")
    deadline = time.time() + 15
    _, closed = _read_all(partial, deadline)
    assert closed, "partial headers: still open"
    data, closed = _read_all(short, deadline)
    assert closed, "short body: still open"
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"RequestTimeout" in data
    partial.close()
    short.close()


def test_connection_cap_holds_and_frees(fresh_server):
    """Guards: there is a cap on concurrent connections, and slots held by idle clients come
    back when their header timeout fires."""
    server = fresh_server(env={"KMSNAP_HEADER_TIMEOUT_SECONDS": "2", "KMSNAP_MAX_CONNECTIONS": "4"})
    held = [_conn(server) for _ in range(4)]
    for s in held:
        s.sendall(b"GET /_kmsnap/health HTTP/1.1\r\nHost: x\r\n")  # never finished
    time.sleep(0.3)
    # A fifth client waits for a slot: nothing answers while the four hold theirs ...
    fifth = _conn(server)
    fifth.sendall(b"GET /_kmsnap/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data, _ = _read_all(fifth, time.time() + 0.8)
    assert data == b"", data[:100]
    # ... and is served once their header timeout has closed them.
    data, _ = _read_all(fifth, time.time() + 15)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    for s in held + [fifth]:
        s.close()


def test_bad_signature_on_block_upload_is_refused_before_the_body(server):
    """Guards: a PutSnapshotBlock with a bad signature is answered without the server first
    reading its 512 KiB body."""
    ebs = make_client(server, "ebs", account=ACCOUNT, region=REGION)
    snap = ebs.start_snapshot(VolumeSize=1, Encrypted=False)["SnapshotId"]
    creds = botocore.credentials.Credentials(ACCOUNT, "wrong-secret")
    req = botocore.awsrequest.AWSRequest(method="PUT", url=f"{server.endpoint}/snapshots/{snap}/blocks/0", data=b"",
                                         headers={"x-amz-Data-Length": "524288", "x-amz-Checksum-Algorithm": "SHA256",
                                                  "x-amz-Checksum": base64.b64encode(hashlib.sha256(b"").digest()).decode(),
                                                  "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    botocore.auth.SigV4Auth(creds, "ebs", REGION).add_auth(req)
    p = req.prepare()
    u = urllib.parse.urlsplit(p.url)
    head = [f"PUT {u.path} HTTP/1.1", f"Host: {u.netloc}", "Content-Length: 524288"]
    head += [f"{k}: {v}" for k, v in p.headers.items() if k.lower() not in ("host", "content-length")]
    s = _conn(server)
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())  # no body sent at all
    data, _ = _read_all(s, time.time() + 5)
    s.close()
    assert data.startswith(b"HTTP/1.1 403"), data[:300]
    assert b"InvalidSignatureException" in data


@pytest.mark.parametrize("kind", ["uri", "headers"])
def test_414_and_431_have_an_aws_shaped_body(server, kind):
    s = _conn(server)
    if kind == "uri":
        s.sendall(b"GET /?" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        want = b"HTTP/1.1 414"
    else:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n")
        want = b"HTTP/1.1 431"
    data, _ = _read_all(s, time.time() + 10)
    s.close()
    assert data.startswith(want), data[:300]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["__type"] in ("RequestUriTooLong", "RequestHeaderFieldsTooLarge") and body["message"]


# --- 5. dev endpoints and web pages -----------------------------------------------------------------

def test_cross_site_requests_cannot_reset_or_move_the_clock(fresh_server):
    """Guards: a web page's simple cross-origin POST (text/plain, foreign Origin) once wiped a
    dev-mode server through /_kmsnap/reset and moved its clock."""
    server = fresh_server()
    kms = make_client(server, "kms", account=ACCOUNT, region=REGION)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    before = json.loads(server.get("/_kmsnap/clock")[1])["offset_seconds"]
    evil = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    for path, body in (("/_kmsnap/reset", "{}"), ("/_kmsnap/clock", '{"advance_seconds": 86400}')):
        status, _, resp = http("POST", server.endpoint + path, body, evil)
        assert status == 403, resp
        # A JSON content type from a foreign origin (a preflighted fetch) is refused too ...
        status, _, resp = http("POST", server.endpoint + path, body,
                               {"Content-Type": "application/json", "Origin": "http://evil.example"})
        assert status == 403, resp
        status, _, resp = http("POST", server.endpoint + path, body,
                               {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
        assert status == 403, resp
        # ... and so is a simple request with no Origin at all (a form post, a beacon).
        status, _, resp = http("POST", server.endpoint + path, body, {"Content-Type": "text/plain"})
        assert status == 415, resp
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert json.loads(server.get("/_kmsnap/clock")[1])["offset_seconds"] == before
    # Tools (no Origin, JSON) and same-origin pages still work.
    host = urllib.parse.urlsplit(server.endpoint).netloc
    status, _, _ = http("POST", server.endpoint + "/_kmsnap/clock", '{"advance_seconds": 1}',
                        {"Content-Type": "application/json", "Origin": f"http://{host}"})
    assert status == 200
    server.reset()


def test_cross_site_requests_cannot_call_aws_apis(server):
    """Guards: in dev mode the secret is public, so a web page could sign an AWS request itself;
    a request a browser marks as cross-site is refused before it is routed."""
    url = make_client(server, "sts", account=ACCOUNT).generate_presigned_url(
        "get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    assert http("GET", url)[0] == 200
    status, _, body = http("GET", url, headers={"Origin": "http://evil.example"})
    assert status == 403, body
    status, _, body = http("GET", url, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403, body


# --- 6. private data dir ------------------------------------------------------------------------------

def test_data_dir_is_private(fresh_server):
    """Guards: meta.redb, the audit journal and segments were 0644 and directories 0755."""
    server = fresh_server()
    kms = make_client(server, "kms", account=ACCOUNT, region=REGION)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"x")
    ebs = make_client(server, "ebs", account=ACCOUNT, region=REGION)
    snap = ebs.start_snapshot(VolumeSize=1, Encrypted=True)["SnapshotId"]
    data = os.urandom(524288)
    ebs.put_snapshot_block(SnapshotId=snap, BlockIndex=0, BlockData=data, DataLength=len(data),
                           Checksum=checksum(data), ChecksumAlgorithm="SHA256")
    server.stop()
    seen = 0
    for root, dirs, files in os.walk(server.data_dir):
        for name in dirs + files + ["."]:
            p = os.path.join(root, name)
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
            seen += 1
    assert seen > 5


def test_wide_existing_data_dir_is_warned_about(fresh_server, tmp_path):
    d = tmp_path / "wide"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    server = fresh_server(data_dir=str(d))
    server.stop()
    err = server.proc.stderr.read()
    assert "data dir" in err and "0755" in err, err[-2000:]


# --- 8. EC2 list indexes, volume endpoints --------------------------------------------------------

@pytest.mark.parametrize("param", ["VolumeId.-1", "VolumeId.x", "VolumeId.", "VolumeId.0"])
def test_ec2_list_index_must_be_a_positive_integer(server, param):
    """Guards: `VolumeId.-1=…` was silently dropped, so DescribeVolumes returned every volume."""
    ec2 = make_client(server, "ec2", account=ACCOUNT, region=REGION)
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
    body = f"Action=DescribeVolumes&Version=2016-11-15&{urllib.parse.quote(param)}=vol-0123456789abcdef0"
    status, _, resp = sign_then_add(server, "ec2", body,
                                    {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, {},
                                    access_key=ACCOUNT)
    assert status == 400, resp
    assert b"<Code>InvalidParameterValue</Code>" in resp, resp


def test_volume_endpoints_answer_another_accounts_volume_as_missing(server):
    """Guards: PUT/DELETE on another account's volume said "belongs to another account" while
    GET said "does not exist", telling a stranger which volume ids exist."""
    ec2 = make_client(server, "ec2", account=ACCOUNT, region=REGION)
    vol = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    missing = "vol-0aaaaaaaaaaaaaaaa"
    data = bytes(524288)
    answers = {}
    for v in (vol, missing):
        for method, path, body, extra in (
            ("GET", f"/_kmsnap/volumes/{v}/blocks", b"", {}),
            ("GET", f"/_kmsnap/volumes/{v}/blocks/0", b"", {}),
            ("PUT", f"/_kmsnap/volumes/{v}/blocks/0", data, {"x-amz-checksum": checksum(data)}),
            ("DELETE", f"/_kmsnap/volumes/{v}/blocks", b"", {}),
        ):
            status, _, resp = sign_then_add(server, "ebs", body, extra, {}, access_key=OTHER, path=path,
                                            method=method)
            answers[(v, method, path.replace(v, "V"))] = (status, resp.replace(v.encode(), b"V"))
    for (v, method, path), ans in answers.items():
        if v == vol:
            assert ans == answers[(missing, method, path)], (method, path, ans)
            assert ans[0] in (400, 404), ans
    assert ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available"
