"""Registration you can verify locally: the status API records each orchestrator probe (when, from
where, which client, whether the token matched, what was answered) and says what the orchestrator
will therefore advertise — the public dashboard cannot show a local or offchain node."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from compat_kit import get

GO = {"User-Agent": "Go-http-client/1.1"}


async def orchestrator_startup(
    http: aiohttp.ClientSession, base: str, token: str | None = None
) -> None:
    """What go-livepeer does at start-up for an aiModels entry with this ``url`` (docs/runner.md)."""
    headers = {**GO, **({"Authorization": f"Bearer {token}"} if token is not None else {})}
    for path in ("/health", "/hardware/info", "/version"):
        status, _ = await get(http, base + path, headers=headers)
        assert status == 200


async def test_no_probe_yet_says_how_to_start_the_orchestrator(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner()
    _, status = await get(http, runner.url + "/trickle/status")
    advertised = status["advertised"]
    assert advertised["health_gate"] == "not seen" and advertised["orchestrator"] is None
    assert "-aiWorker" in " ".join(advertised["checks"])


async def test_startup_probes_are_recorded_with_what_will_be_advertised(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner(model_id="streamdiffusion", token="s3cret")
    began = int(time.time() * 1000)
    await orchestrator_startup(http, runner.url + "/trickle/runner", token="s3cret")
    _, status = await get(http, runner.url + "/trickle/status")
    probes = status["probes"]
    hardware = probes["/trickle/runner/hardware/info"]
    assert hardware["answer"]["model_id"] == "streamdiffusion" and "gpu_info" in hardware["answer"]
    assert hardware["remote"] == "127.0.0.1" and hardware["user_agent"].startswith("Go-http")
    assert hardware["token"] == "ok" and hardware["time"] >= began
    assert probes["/trickle/runner/health"]["answer"] == {"status": "IDLE"}
    advertised = status["advertised"]
    assert advertised["health_gate"] == "passed"
    assert advertised["capability"] == "live-video-to-video/streamdiffusion"
    assert advertised["runner_version"] == status["version"]
    assert advertised["orchestrator"]["go_livepeer"] is True
    assert advertised["probes_seen"] == {"health": 1, "hardware/info": 1, "version": 1}
    assert not any("token" in check for check in advertised["checks"])


async def test_token_mismatch_and_missing_token_are_called_out(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    runner = await make_runner(token="s3cret")
    await orchestrator_startup(http, runner.url, token="hf_from_the_docs")
    _, status = await get(http, runner.url + "/trickle/status")
    assert status["probes"]["/health"]["token"] == "wrong"
    assert any("does not match" in check for check in status["advertised"]["checks"])
    await orchestrator_startup(http, runner.url)
    _, status = await get(http, runner.url + "/trickle/status")
    assert status["probes"]["/version"]["token"] == "none"
    assert any('add "token"' in check for check in status["advertised"]["checks"])


async def test_an_error_health_answer_is_a_failed_gate(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    from trickle_live.trickle.config import RunnerConfig
    from trickle_live.trickle.runner.app import RunnerServer, build_app

    server = RunnerServer(build_app(RunnerConfig(), readiness=lambda: "ERROR"))
    url = await server.start()
    try:
        status, body = await get(http, url + "/health", headers=GO)
        assert (status, body) == (200, {"status": "ERROR"})
        _, page = await get(http, url + "/trickle/status")
        assert page["advertised"]["health_gate"] == "failed"
        assert any("aborts its start-up" in check for check in page["advertised"]["checks"])
    finally:
        await server.close()


async def test_a_curl_is_not_the_orchestrator_and_answers_are_recorded_as_sent(
    make_runner: Any, http: aiohttp.ClientSession
) -> None:
    """Failed on a7eb603: a curl to /health made the health gate 'passed' and the orchestrator
    'curl'; the recorded /hardware/info answer was a rewritten copy, not the body sent."""
    runner = await make_runner()
    status, _ = await get(http, runner.url + "/health", headers={"User-Agent": "curl/8.5.0"})
    assert status == 200
    _, page = await get(http, runner.url + "/trickle/status")
    advertised = page["advertised"]
    assert advertised["health_gate"] == "not seen" and advertised["orchestrator"] is None
    assert advertised["other_callers"]["health"]["user_agent"] == "curl/8.5.0"
    assert any("not an orchestrator" in check for check in advertised["checks"])
    # the orchestrator's probe: what is recorded is byte for byte the body it got
    status, sent = await get(http, runner.url + "/hardware/info", headers=GO)
    assert status == 200
    _, page = await get(http, runner.url + "/trickle/status")
    assert page["probes"]["/hardware/info"]["answer"] == sent
    assert page["advertised"]["health_gate"] == "not seen"  # still: no Go /health yet
