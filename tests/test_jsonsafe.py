"""The one serialiser and the strict parser (trickle/jsonsafe.py): no non-finite number out,
none in, and the interpreter's limits (recursion, integer digits) answered as input errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.jsonsafe import MAX_DEPTH, JsonInputError, dumps, loads


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def test_dumps_never_writes_a_non_finite_number() -> None:
    nan, inf = float("nan"), float("inf")
    value = {"a": nan, "b": [inf, -inf, 1.5, (2, nan)], "c": {"d": {"e": nan}}, "f": {3}}
    text = dumps(value)
    assert json.loads(text, parse_constant=_no_constant) == {
        "a": None,
        "b": [None, None, 1.5, [2, None]],
        "c": {"d": {"e": None}},
        "f": [3],
    }
    error = ValidationError("params.strength", "a number in [0, 1]", nan).as_dict()
    assert json.loads(dumps(error), parse_constant=_no_constant)["received"] == "nan"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("NaN", "NaN"),
        ('{"a": [1, -Infinity]}', "-Infinity"),
        ("1e999", "out of range"),
        ('{"a": -1e400}', "out of range"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested deeper"),
        ("[" * 100_000, "nested deeper"),
        ("9" * 5000, "digits"),
        (b"\xff", "UTF-8"),
        ("{", "invalid JSON"),
    ],
)
def test_loads_refuses_what_is_not_json_with_an_input_error(text: Any, needle: str) -> None:
    with pytest.raises(JsonInputError, match=needle):
        loads(text)


def test_loads_accepts_ordinary_json() -> None:
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(deep) is not None
    assert loads('{"s": "[[[[{{{{\\"", "n": -12, "f": 0.5}') == {
        "s": '[[[[{{{{"',
        "n": -12,
        "f": 0.5,
    }
    assert loads(b'{"x": "\\u00e9"}') == {"x": "\u00e9"}


async def test_client_json_bodies_towards_an_orchestrator_are_strict_json() -> None:
    """``json=`` bodies of our client sessions (heartbeats, session callbacks) go through dumps."""
    from aiohttp import web
    from trickle_live.trickle.protocol.http import make_client_session

    received: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="{}", content_type="application/json")

    app = web.Application()
    app.router.add_post("/runners/heartbeat", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/runners/heartbeat"
    try:
        async with make_client_session() as http, http.post(url, json={"load": float("nan")}):
            pass
    finally:
        await runner.cleanup()
    assert json.loads(received[0], parse_constant=_no_constant) == {"load": None}
