"""botocore's own parsers accept what kmsnap's codecs encode.

No server needed: ``crates/api/tests/codec_fixtures.rs`` writes the encoded responses (a
deterministic sample output per operation, plus one error per protocol) to
``tests/fixtures/codec/responses/``; this feeds each one to
``botocore.parsers.create_parser(protocol).parse(...)`` with the operation's real output shape
and checks that parsing succeeds, the request id lands in ``ResponseMetadata`` and the parsed
values equal the canonical value the encoder was given.
"""

import base64
import datetime
import glob
import json
import os

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

HERE = os.path.dirname(os.path.abspath(__file__))
RESPONSES = os.path.join(HERE, "..", "fixtures", "codec", "responses")
FILES = sorted(glob.glob(os.path.join(RESPONSES, "*.json")))
SESSION = botocore.session.get_session()


def load(path):
    with open(path) as f:
        return json.load(f)


def to_canonical(value, shape):
    """botocore's parsed form -> canonical form (base64 blobs, epoch-second timestamps)."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        return {k: to_canonical(v, shape.members.get(k)) for k, v in value.items()}
    if t == "list":
        return [to_canonical(v, shape.member) for v in value]
    if t == "map":
        return {k: to_canonical(v, shape.value) for k, v in value.items()}
    if t == "blob":
        if isinstance(value, str):  # restJson payloads are handed back as text
            value = value.encode("utf-8")
        if hasattr(value, "read"):
            value = value.read()
        return base64.b64encode(value).decode("ascii")
    if t == "timestamp":
        assert isinstance(value, datetime.datetime), value
        return value.timestamp()
    return value


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) < 1e-3
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def parse(fx, shape):
    headers = HeadersDict()
    for k, v in fx["headers"]:
        headers[k] = v
    response = {
        "status_code": fx["status"],
        "headers": headers,
        "body": base64.b64decode(fx["body_base64"]),
        "context": {"operation_name": fx["operation"]},
    }
    return create_parser(fx["protocol"]).parse(response, shape), response


def test_fixtures_exist():
    assert len(FILES) >= 20, "run UPDATE_FIXTURES=1 cargo test -p kmsnap-api --test codec_fixtures"


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p)[:-5] for p in FILES])
def test_botocore_parses_encoded_response(path):
    fx = load(path)
    model = SESSION.get_service_model(fx["service"])
    assert model.metadata["protocol"] == fx["protocol"]
    op = model.operation_model(fx["operation"])
    parsed, response = parse(fx, op.output_shape)
    assert parsed["ResponseMetadata"].get("RequestId") == fx["request_id"], parsed.get("ResponseMetadata")
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == fx["status"]

    if fx["case"] == "error":
        err = fx["error"]
        assert fx["status"] >= 400
        assert parsed["Error"]["Code"] == err["code"]
        assert parsed["Error"]["Message"] == err["message"]
        # Modelled fields reach the exception object too (botocore parses them with the
        # error shape, as the client does in _add_modeled_error_fields).
        error_shape = model.shape_for_error_code(err["code"])
        if error_shape is not None and err["fields"]:
            modeled = create_parser(fx["protocol"]).parse(response, error_shape)
            for k, v in err["fields"].items():
                if k in error_shape.members:
                    assert modeled.get(k) == v, (k, modeled)
        return

    assert 200 <= fx["status"] < 300
    parsed.pop("ResponseMetadata")
    got = to_canonical(parsed, op.output_shape) if op.output_shape is not None else parsed
    assert same(got, fx["expected"]), f"\nparsed   {got}\nexpected {fx['expected']}"
