"""Helpers the RDS end-to-end tests share (test_rds*.py): the kmsnap cli, waiters, a postgres
instance, errors as tuples and the exported-image check. Accounts and regions stay each test
file's own and are passed in."""

import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import BIN

BLOCK = 512 * 1024


def cli(server, account, region, *args):
    """Runs `kmsnap <args>` against `server` as `account`'s root in `region`."""
    creds = ["--endpoint", server.endpoint, "--region", region, "--access-key", account, "--secret-key", "test"]
    return subprocess.run([BIN, *args, *creds], capture_output=True, text=True, timeout=300)


def wait_instance(r, name, attempts=60):
    r.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig={"Delay": 1, "MaxAttempts": attempts})
    return r.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]


def wait_snapshot(r, name, attempts=60):
    r.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=name, WaiterConfig={"Delay": 1, "MaxAttempts": attempts})
    return r.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]


def create_pg(r, name, password, **kw):
    return r.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
                                AllocatedStorage=20, MasterUsername="postgres", MasterUserPassword=password, **kw)["DBInstance"]


def error(call, with_status=False):
    """The (code, message[, HTTP status]) of the ClientError `call()` must raise."""
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    if with_status:
        return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return err["Code"], err["Message"]


def eventually(get, ok, timeout, failure):
    """Polls `get()` until `ok` holds of its value (returned), or raises with `failure()` after
    `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        have = get()
        if ok(have):
            return have
        time.sleep(0.3)
    raise AssertionError(failure())


def code(e):
    """The error code of a `pytest.raises(ClientError)` result."""
    return e.value.response["Error"]["Code"]


def same_storage(path, data):
    """The exported image holds `data` at its start and only holes or zeros after it."""
    with open(path, "rb") as f:
        assert f.read(len(data)) == data
        tail_start = len(data)
        rest = f.read(BLOCK - (len(data) % BLOCK))
        assert rest.strip(b"\0") == b""
        try:
            nxt = os.lseek(f.fileno(), tail_start + len(rest), os.SEEK_DATA)
        except OSError:
            nxt = None  # no data after: only holes
        assert nxt is None, f"data found at {nxt}"
