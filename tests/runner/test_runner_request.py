"""Start request validation: the nine orchestrator fields, unknown fields, params, clear errors."""

from __future__ import annotations

import pytest
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.session.request import parse_params, parse_start_request

BASE = "https://127.0.0.1:8935/ai/trickle/abcd1234"


def orchestrator_body(**extra: object) -> dict[str, object]:
    return {
        "subscribe_url": BASE,
        "publish_url": BASE + "-out",
        "control_url": BASE + "-control",
        "events_url": BASE + "-events",
        "model_id": "noop",
        "gateway_request_id": "req-1",
        "manifest_id": "abcd1234",
        "stream_id": "stream-1",
        **extra,
    }


def test_orchestrator_body_without_params_and_with_unknown_fields() -> None:
    req = parse_start_request(orchestrator_body(something_new={"x": 1}))
    assert req.params == {} and req.key == "stream-1"
    assert req.subscribe_url == BASE and req.events_url == BASE + "-events"
    assert req.model_id == "noop" and req.manifest_id == "abcd1234"


def test_params_object_or_json_string() -> None:
    assert parse_start_request(orchestrator_body(params={"a": 1})).params == {"a": 1}
    assert parse_start_request(orchestrator_body(params='{"prompt": "x"}')).params == {
        "prompt": "x"
    }
    assert parse_start_request(orchestrator_body(params=None)).params == {}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subscribe_url": None}, "subscribe_url"),
        ({"publish_url": 5}, "publish_url"),
        ({"publish_url": "ftp://x/y"}, "publish_url"),
        ({"params": [1, 2]}, "params"),
        ({"params": "{not json"}, "params"),
        ({"stream_id": {"a": 1}}, "stream_id"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_start_request(orchestrator_body(**change))
    assert info.value.field == field
    assert info.value.as_dict()["field"] == field


def test_body_must_be_an_object_and_hosts_can_be_restricted() -> None:
    with pytest.raises(ValidationError):
        parse_start_request([1, 2])
    with pytest.raises(ValidationError) as info:
        parse_start_request(orchestrator_body(), host_allowed=lambda host: host == "orch.local")
    assert info.value.received == "127.0.0.1"


def test_byoc_shape_and_key_fallbacks() -> None:
    body = {"gateway_request_id": "g1", "control_url": BASE + "-control", "params": {}}
    req = parse_start_request(body, required=(), source="byoc", stream_id="hdr-id")
    assert req.key == "hdr-id" and req.subscribe_url is None and req.source == "byoc"
    assert parse_start_request(body, required=()).key == "g1"
    assert parse_start_request({}, required=()).key.startswith("stream-")


def test_parse_params() -> None:
    assert parse_params("") == {}
    with pytest.raises(ValidationError):
        parse_params(3)
