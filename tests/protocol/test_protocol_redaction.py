"""Channel URLs are capabilities: no full channel name in logs, error messages or task names.

A normal stream (publisher → server → subscriber, JSON control and events channels) and the error
paths (deleted channel, 500 answers echoing the URL, failed DELETE, cut-off segment, malformed
control message, late POST, idle sweep) run with every log record captured at DEBUG; none may
contain the channel name. Exceptions keep the full URL in ``.url`` for code.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from trickle_live.trickle.channel_url import check_channel_url
from trickle_live.trickle.errors import (
    ChannelClosed,
    ChannelNotFound,
    ProtocolError,
    TrickleError,
    TrickleTimeout,
    ValidationError,
)
from trickle_live.trickle.protocol.json_channels import ControlReader, EventsWriter
from trickle_live.trickle.protocol.publisher import TricklePublisher
from trickle_live.trickle.protocol.segment_writer import delete_url
from trickle_live.trickle.protocol.server import TrickleServer
from trickle_live.trickle.protocol.subscriber import TrickleSubscriber
from trickle_live.trickle.redaction import channel_name, redact_channel_url, scrub, short_name

SECRET = "o2rsecret-7f3a9c1d2e4b6a8f"  # like go-livepeer's derived names
SECRET_URL = f"http://127.0.0.1:1/ai/trickle/{SECRET}"


def test_redacted_forms() -> None:
    assert redact_channel_url(SECRET_URL + "/12") == "http://127.0.0.1:1/…/o2rs…/12"
    assert redact_channel_url(SECRET_URL) == "http://127.0.0.1:1/…/o2rs…"
    assert redact_channel_url("https://u:pw@h:9/x/ab12cd/-1?t=1") == "https://h:9/…/ab12…/-1"
    assert redact_channel_url("http://h/ai/trickle/12345", has_seq=False) == "http://h/…/1234…"
    assert redact_channel_url("http://h/…") == "http://h/…"  # already redacted stays so
    assert channel_name(SECRET_URL + "/next") == SECRET and short_name(SECRET) == "o2rs…"
    assert scrub(f"no channel {SECRET}/3 here", SECRET_URL) == "no channel o2rs…/3 here"


def test_a_channel_name_of_digits_is_not_taken_for_a_segment_number() -> None:
    """A random hex channel name is all digits 2 % of the time (``78173449``): shown whole as if it
    were a segment number, it leaked through a 422 answer. Failed on the main of 2026-12-06."""
    url = "http://127.0.0.1:9/ai/trickle/78173449"
    assert redact_channel_url(url) == "http://127.0.0.1:9/…/7817…"
    assert redact_channel_url(url + "/12") == "http://127.0.0.1:9/…/7817…/12"
    assert channel_name(url) == "78173449" and channel_name(url + "/-1") == "78173449"
    assert "78173449" not in scrub(f"GET {url} failed", url)
    assert "78173449" not in str(ChannelNotFound(url))
    bad_port = "http://127.0.0.1:99999/ai/trickle/78173449"
    with pytest.raises(ValidationError) as info:
        check_channel_url("subscribe_url", bad_port)
    assert "78173449" not in str(info.value) and "7817…" in str(info.value)


@pytest.mark.parametrize(
    "error",
    [
        ChannelNotFound(SECRET_URL + "/3"),
        ChannelClosed(SECRET_URL),
        ProtocolError(SECRET_URL + "/3", 500, f"bad request for /ai/trickle/{SECRET}/3"),
        TrickleTimeout(SECRET_URL + "/3", "the segment to start", 1.0),
    ],
)
def test_errors_keep_the_url_but_print_it_redacted(error: TrickleError) -> None:
    assert error.url.startswith(SECRET_URL)  # code still has it
    assert SECRET not in str(error) and SECRET not in repr(error.args)
    assert "http://127.0.0.1:1/…/o2rs…" in str(error)


def assert_clean(caplog: pytest.LogCaptureFixture, min_records: int) -> None:
    records = caplog.records
    assert len(records) >= min_records, [r.getMessage() for r in records]
    for record in records:
        assert SECRET not in record.getMessage(), record.getMessage()
    assert SECRET not in caplog.text  # formatted, with tracebacks


def tasks_named_clean() -> None:
    for task in asyncio.all_tasks():
        assert SECRET not in task.get_name(), task.get_name()


async def test_normal_stream_logs_no_channel_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trickle_live")
    srv = TrickleServer(continue_interval=0.2, disconnect_poll=0.05)
    url = await srv.serve("127.0.0.1", 0)
    for name in (SECRET, SECRET + "-control"):
        srv.create_channel(name)
    try:
        sub = TrickleSubscriber(url + SECRET, start_seq=0)
        skipped: list[int] = []
        control = ControlReader(
            url + SECRET + "-control",
            start_seq=0,
            on_malformed=lambda seq, why: skipped.append(seq),
        )
        async with TricklePublisher(url + SECRET) as pub:
            for i in range(3):
                await pub.write_segment(b"segment %d" % i)
                segment = await asyncio.wait_for(sub.next_segment(), 5)
                assert segment is not None and await segment.read_all() == b"segment %d" % i
                tasks_named_clean()
        async with EventsWriter(url + SECRET + "-control") as events:
            await events.send({"keep": "alive"})
            await events._pub.write_segment(b"not json")  # a malformed control message
            await events.send({"strength": 1})
            messages = control.__aiter__()
            assert await asyncio.wait_for(messages.__anext__(), 5) == {"strength": 1}
        assert len(skipped) == 1
        assert await asyncio.wait_for(sub.next_segment(), 5) is None  # the channel was deleted
        await sub.close()
        await control.close()
    finally:
        await srv.close()
    assert_clean(caplog, 3)


async def test_error_paths_log_no_channel_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trickle_live")
    hits: list[str] = []

    async def broken(request: web.Request) -> web.Response:  # echoes the path, like many servers
        hits.append(request.method)
        if request.method == "GET" and len(hits) == 1:
            resp = web.StreamResponse(headers={"Content-Length": "100"})
            await resp.prepare(request)
            await resp.write(b"partial")  # cut off: the reader resumes
            assert request.transport is not None
            request.transport.close()
            return resp
        return web.Response(status=500, text=f"cannot handle {request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", broken)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    bad = f"http://127.0.0.1:{port}/ai/trickle/{SECRET}"
    srv = TrickleServer(continue_interval=0.2, disconnect_poll=0.05, idle_timeout=0.01)
    url = await srv.serve("127.0.0.1", 0)
    srv.create_channel(SECRET)
    try:
        sub = TrickleSubscriber(bad, start_seq=0, max_retries=1, retry_delay=0.01)
        with pytest.raises(ProtocolError) as raised:
            segment = await asyncio.wait_for(sub.next_segment(), 10)
            assert segment is not None
            await segment.read_all()
        assert raised.value.url.startswith(bad) and SECRET not in str(raised.value)
        assert await delete_url(sub.session(), bad, 5) == 500  # logged as a warning
        await sub.close()
        async with TricklePublisher(bad, max_retries=0) as pub:
            with pytest.raises(ProtocolError):
                await pub.write_segment(b"x")
        async with TricklePublisher(url + SECRET, reset=True) as pub:  # GET /next answered 404
            await pub.write_segment(b"first")
            srv.delete_channel(SECRET)  # the preconnected POST is released
            with pytest.raises((ChannelNotFound, ChannelClosed)) as gone:
                await pub.write_segment(b"second")
            assert SECRET not in str(gone.value)
        srv.create_channel(SECRET)
        async with TricklePublisher(url + SECRET, reset=True) as pub:  # restart at the head
            await pub.write_segment(b"again")
        srv.create_channel(SECRET + "-idle")
        await asyncio.sleep(0.05)
        assert SECRET + "-idle" in srv.sweep_idle()  # logged at INFO
    finally:
        await srv.close()
        await runner.cleanup()
    assert len(hits) >= 3
    assert_clean(caplog, 4)
