"""The AWS SDK for JavaScript v3 as a second real client (security issue #13, item 1: requiring
every x-amz-* header to be signed must not break real SDKs). scripts/test.sh installs the SDK
into tests/e2e/js/node_modules from tests/e2e/js/package-lock.json."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent / "js"


def test_js_sdk_kms_and_ebs_direct(server):
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@aws-sdk" / "client-kms").is_dir():
        pytest.fail("node and tests/e2e/js/node_modules are needed; scripts/test.sh installs them")
    r = subprocess.run([node, str(JS / "sdk_check.mjs"), server.endpoint, "123412341234", "ap-northeast-1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"decrypted": True, "keyState": "Enabled", "blocks": [3], "blockRoundTrip": True}, out
