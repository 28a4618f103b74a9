"""Answers that must be AWS's own (issue #21), each test naming the AWS source it follows.
docs/fidelity.md has the evidence in full, section by section, with what is unconfirmed.

Every test uses accounts no other test file uses (the shared `server` fixture is reused) or a
server of its own."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, run_aws

# Accounts of this file only.
ACCT = "602214076000"

ROLE = f"arn:aws:iam::{ACCT}:role/fidelity-target"


def error(call, status=None):
    """The error of `call()` as (code, message); checks the HTTP status when given."""
    with pytest.raises(ClientError) as e:
        call()
    if status is not None:
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status, e.value.response
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def cli_error(proc):
    """The code and message of an aws cli failure ("An error occurred (Code) when calling …: message")."""
    assert proc.returncode != 0, proc.stdout
    line = next(l for l in proc.stderr.splitlines() if "An error occurred (" in l)
    code = line.split("An error occurred (", 1)[1].split(")", 1)[0]
    return code, line.split(": ", 1)[1] if ": " in line else ""


# --- 1. STS: the account root cannot assume a role -----------------------------------------------
# AWS: 403 AccessDenied "Roles may not be assumed by root accounts." — recorded by the aws cli in
# kubeflow/testing#961 and as the raw JSON envelope (status 403) in double-break/spapi-php#45.

ROOT_KEY, ROOT_SECRET = "AKIAFIDELITYROOT0001", "fidelity-root-secret"
# A configured root key whose id is shaped like a dev-mode convention key: still a configured key.
LOOKALIKE_KEY, LOOKALIKE_SECRET = "299792458000", "fidelity-lookalike-secret"


def dev_server_with_root_keys(fresh_server, tmp_path):
    cfg = tmp_path / "kmsnap.toml"
    cfg.write_text(
        f'[[access_keys]]\naccess_key_id = "{ROOT_KEY}"\nsecret_access_key = "{ROOT_SECRET}"\naccount = "{ACCT}"\n\n'
        f'[[access_keys]]\naccess_key_id = "{LOOKALIKE_KEY}"\nsecret_access_key = "{LOOKALIKE_SECRET}"\naccount = "{ACCT}"\n'
    )
    return fresh_server(extra_args=["--config", str(cfg)])


def test_configured_root_keys_cannot_assume_roles_even_in_dev_mode(fresh_server, tmp_path):
    s = dev_server_with_root_keys(fresh_server, tmp_path)
    for key, secret in ((ROOT_KEY, ROOT_SECRET), (LOOKALIKE_KEY, LOOKALIKE_SECRET)):
        sts = make_client(s, "sts", access_key=key, secret=secret)
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCT}:root"
        assert error(lambda: sts.assume_role(RoleArn=ROLE, RoleSessionName="ci"), 403) == \
            ("AccessDenied", "Roles may not be assumed by root accounts.")
    proc = run_aws(s, "sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "ci",
                   env={"AWS_ACCESS_KEY_ID": ROOT_KEY, "AWS_SECRET_ACCESS_KEY": ROOT_SECRET})
    assert cli_error(proc) == ("AccessDenied", "Roles may not be assumed by root accounts.")


def test_dev_convention_keys_still_assume_roles(fresh_server, tmp_path):
    # kmsnap's own dev-mode allowance (README "Using it"): scripts for local AWS servers rely on it.
    s = dev_server_with_root_keys(fresh_server, tmp_path)
    for account in ("000000000000", "141421356237"):
        creds = make_client(s, "sts", account=account).assume_role(RoleArn=ROLE, RoleSessionName="dev")["Credentials"]
        assert creds["AccessKeyId"].startswith("ASIA")
    proc = run_aws(s, "sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "dev")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCT}:assumed-role/fidelity-target/dev"
