"""Issue #15: what a caller sends never reaches the log raw. A newline in ``stream_id`` could forge
a log line and ANSI escapes in ``model_id`` could rewrite a terminal: both are escaped (``\\n``,
``\\x1b``) in every log line of the stream's life, start to stop."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from runner_streamkit import clip, idle, wait_for
from trickle_live.trickle.logtext import printable
from trickle_live.trickle.runner.simulator import GatewayStream

STREAM_ID = "evil\nERROR forged line\r\u2028"
MODEL_ID = "\x1b[31mred\x1b[0m\x07"
RAW = ("\n", "\r", "\x1b", "\x07", "\u2028")


def test_printable_escapes_control_characters_only() -> None:
    assert printable("stream-1 é ✓") == "stream-1 é ✓"
    assert printable(STREAM_ID) == "evil\\nERROR forged line\\r\\u2028"
    assert printable(MODEL_ID) == "\\x1b[31mred\\x1b[0m\\x07"
    assert printable(None) == "None"


async def test_stream_id_and_model_id_are_escaped_in_every_log_line(
    make_runner: Any,
    orchestrator: Any,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="trickle_live")
    runner = await make_runner("invert")
    channels = orchestrator.create_channels()
    gateway = GatewayStream(channels)
    try:
        status, body, _ = await orchestrator.start_stream(
            runner.url, channels, stream_id=STREAM_ID, model_id=MODEL_ID
        )
        assert status == 200, body
        await gateway.publish(clip(1.0), realtime=False)
        await wait_for(lambda: runner.api.manager.list()[0]["frames_out"] > 0, 5)
        async with http.post(f"{runner.url}/stream/stop") as resp:  # the only stream
            assert (await resp.json())["stopped"] is True
        await wait_for(lambda: idle(runner), 5)
    finally:
        orchestrator.close_channels(channels)
        await gateway.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("trickle_live")]
    raw = [line for line in lines if any(c in line for c in RAW)]
    assert raw == [], "\n".join(repr(line) for line in raw)
    shown = "\n".join(lines)
    assert "evil\\nERROR forged line" in shown and "\\x1b[31mred" in shown
