"""End-to-end harness: starts the real `kmsnap` release binary on a free port and hands tests
boto3 clients and an aws-cli runner pointed at it. Builds nothing: scripts/test.sh builds first.

Fixtures
- `server`: one server per test session (temp data dir); `.endpoint`, `.data_dir`, `.restart()`.
- `fresh_server`: a server of its own for tests that stop, kill or restart it.
- `client(service, account=..., region=...)`: a boto3 client signing as that account's root.
- `aws(*args, account=..., region=...)`: runs the aws cli, returns CompletedProcess.
- `reset`: wipes server state before the test (POST /_kmsnap/reset).
- `cross_account_key_policy(owner, other)`: a key policy sharing a key with another account.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("KMSNAP_BIN", str(ROOT / "target" / "release" / "kmsnap"))
VENV_BIN = Path(os.sys.executable).parent


class Server:
    def __init__(self, extra_args=(), data_dir=None, memory=False, env=None):
        self.extra_args = list(extra_args)
        self.memory = memory
        self.owns_dir = data_dir is None and not memory
        self.data_dir = None if memory else (data_dir or tempfile.mkdtemp(prefix="kmsnap-e2e-"))
        self.env = env or {}
        self.proc = None
        self.endpoint = None
        self.first_line = None

    def start(self, listen="127.0.0.1:0"):
        if not os.path.exists(BIN):
            raise RuntimeError(f"{BIN} not built; run scripts/test.sh (it builds the release binary)")
        args = [BIN, "serve", "--listen", listen]
        args += ["--memory"] if self.memory else ["--data-dir", self.data_dir]
        args += self.extra_args
        env = dict(os.environ)
        env.pop("KMSNAP_ROOT_KEY", None)
        env.update(self.env)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        self.first_line = line
        prefix = "kmsnap listening on "
        if not line.startswith(prefix):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"unexpected first line {line!r}; stderr: {err[-2000:]}")
        self.endpoint = line[len(prefix):]
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        if self.owns_dir and self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------
    def get(self, path):
        with urllib.request.urlopen(self.endpoint + path, timeout=10) as r:
            return r.status, r.read()

    def post(self, path, body=None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.endpoint + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def advance_clock(self, seconds):
        status, body = self.post("/_kmsnap/clock", {"advance_seconds": seconds})
        assert status == 200, body
        return json.loads(body)

    def reset(self):
        status, body = self.post("/_kmsnap/reset")
        assert status == 200, body


def make_client(server, service, account="000000000000", region="us-east-1", secret="test",
                validate=True, **kw):
    """A boto3 client signing as `account`'s root (dev mode). validate=False turns off botocore's
    client-side parameter validation so that the server's own validation errors can be tested."""
    access_key = "test" if account == "000000000000" else account
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=kw.pop("access_key", access_key),
        aws_secret_access_key=secret,
        aws_session_token=kw.pop("session_token", None),
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60,
                      parameter_validation=validate),
        **kw,
    )


def cross_account_key_policy(owner, other):
    """A key policy in the form AWS documents for sharing a key with another account: the owner's
    root may do anything; `other` may use the key, and create grants for AWS resources (what EBS
    needs to copy or restore a snapshot shared under the key)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
             "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ],
    })


def run_aws(server, *args, account="000000000000", region="us-east-1", secret="test", check=False, env=None):
    access_key = "test" if account == "000000000000" else account
    e = dict(os.environ)
    e.update({
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
    })
    e.pop("AWS_SESSION_TOKEN", None)
    e.pop("AWS_PROFILE", None)
    e.update(env or {})
    aws_bin = shutil.which("aws", path=str(VENV_BIN)) or "aws"
    return subprocess.run([aws_bin, *args], capture_output=True, text=True, env=e, check=check, timeout=120)


@pytest.fixture(scope="session")
def server():
    s = Server().start()
    yield s
    s.cleanup()


@pytest.fixture
def fresh_server():
    servers = []

    def make(**kw):
        s = Server(**kw).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.cleanup()


@pytest.fixture
def client(server):
    def make(service, **kw):
        return make_client(server, service, **kw)
    return make


@pytest.fixture
def aws(server):
    def run(*args, **kw):
        return run_aws(server, *args, **kw)
    return run


@pytest.fixture
def reset(server):
    server.reset()
    return server
