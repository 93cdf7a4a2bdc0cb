"""Dynamic registration: our own heartbeat client for go-livepeer's ``/runners/heartbeat``.

Wire protocol (go-livepeer ``doc/live-runner.md``, ``ai/runner/live_runner.go``):
bootstrap ``POST {O}/runners/heartbeat`` with ``Authorization: <orchSecret>``; the answer carries
``runner_id``, the runner-facing ``orchestrator`` base URL, ``heartbeat_interval``/``heartbeat_ttl``
(Go durations), a ``heartbeat_secret`` for later heartbeats, the ``o2r`` channel and the O's
``session_ids``. Later heartbeats send the secret; 401/404 mean "register again" (a lapsed runner
sees either). Unregister is ``POST {O}/runners/{id}/unregister`` (204).

What the SDK lacks and this adds: bootstrap retries with capped backoff (a restart with a pinned
id is refused for ~20 s), ``loading``/``ready`` status pushed at once on change, the o2r reader
reopened after every re-registration, ``session_ids`` reconciliation, and no secret, token or
channel URL in any log line.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from ..errors import ProtocolError
from ..protocol.http import make_client_session
from .config import LiveRunnerConfig
from .o2r import O2RReader, ReaderFactory, SessionEvent, default_reader_factory
from .redact import redact_url
from .registration import heartbeat_body

log = logging.getLogger(__name__)


SessionList = Callable[[list[str], float], Awaitable[None]]  # (O's ids, monotonic send time)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(value: Any, default: float) -> float:
    """``"5s"``, ``"1m0s"``, ``"250ms"`` → seconds; anything unparsable → ``default``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if not isinstance(value, str) or not value:
        return default
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return default
    seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    return seconds if seconds > 0 else default


class HeartbeatClient:
    """Keeps this runner registered with one orchestrator until :meth:`close`."""

    def __init__(
        self,
        cfg: LiveRunnerConfig,
        runner_url: str,
        *,
        status: Callable[[], str],
        session_ids: Callable[[], Sequence[str]],
        on_event: SessionEvent,
        on_sessions: SessionList,
        metadata_extra: Callable[[], dict[str, Any]] | None = None,
        http: aiohttp.ClientSession | None = None,
        reader_factory: ReaderFactory | None = None,
    ) -> None:
        self.cfg = cfg
        self.runner_url = runner_url
        self._status = status
        self._session_ids = session_ids
        self._on_event = on_event
        self._on_sessions = on_sessions
        self._extra = metadata_extra or (lambda: {})
        self._http = http
        self._own_http = http is None
        self._o2r = O2RReader(on_event, reader_factory or default_reader_factory(cfg.verify_tls))
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._secret = ""  # heartbeat secret: never logged
        self._base = cfg.orch_url.rstrip("/")
        self.runner_id = ""
        self.known_ids: set[str] = set()  # every runner id we were registered under
        self.interval = 5.0
        self.ttl = 20.0
        self.registered = False
        self.registrations = 0
        self.heartbeats = 0
        self.failures = 0
        self.last_ok = 0.0  # monotonic time of the last accepted heartbeat
        self.last_error = ""
        self.last_status = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        if self._http is None:
            self._http = make_client_session(verify_tls=self.cfg.verify_tls)
        self._task = asyncio.create_task(self._run(), name="liverunner-heartbeat")

    def poke(self) -> None:
        """Send a heartbeat now (status or sessions changed)."""
        self._poke.set()

    async def close(self, *, unregister: bool = True) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._o2r.stop()
        if unregister and self.registered:
            await self._unregister()
        self.registered = False
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    def snapshot(self) -> dict[str, Any]:
        """Public facts for the status API (no secret, no channel URL)."""
        return {
            "orchestrator": redact_url(self.cfg.orch_url),
            "registered": self.registered,
            "runner_id": self.runner_id,
            "status": self.last_status,
            "interval_s": self.interval,
            "ttl_s": self.ttl,
            "registrations": self.registrations,
            "heartbeats": self.heartbeats,
            "failures": self.failures,
            "seconds_since_ok": round(time.monotonic() - self.last_ok, 1) if self.last_ok else None,
            "last_error": self.last_error,
        }

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                if not self.registered:
                    ok = await self._bootstrap()
                    attempt = 0 if ok else attempt + 1
                    if not ok:
                        await asyncio.sleep(self._backoff(attempt))
                    continue
                await self._wait_interval()
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # task boundary: keep the runner registered whatever happens
                self.failures += 1
                self.last_error = type(exc).__name__
                log.exception("live-runner heartbeat loop error")
                await asyncio.sleep(self._backoff(1))

    def _backoff(self, attempt: int) -> float:
        delay = min(self.cfg.bootstrap_max_backoff, 0.5 * 2 ** min(attempt, 10))
        return delay * random.uniform(0.8, 1.0)

    async def _wait_interval(self) -> None:
        # Not asyncio.wait_for: on 3.11 it swallows a cancel that coincides with the poke.
        waiter = asyncio.create_task(self._poke.wait())
        try:
            await asyncio.wait({waiter}, timeout=self.interval)
        finally:
            waiter.cancel()
        self._poke.clear()

    def _body(self) -> dict[str, Any]:
        self.last_status = self._status()
        return heartbeat_body(
            self.cfg,
            self.runner_url,
            status=self.last_status,
            session_ids=list(self._session_ids()),
            runner_id=self.runner_id or self.cfg.runner_id,
            extra=self._extra(),
        )

    async def _bootstrap(self) -> bool:
        await self._o2r.stop()
        self._base = self.cfg.orch_url.rstrip("/")
        self.runner_id = ""
        sent = time.monotonic()
        try:
            data = await self._post("/runners/heartbeat", self.cfg.orch_secret, self._body())
        except ProtocolError as exc:
            self._failed("registration", exc)
            return False
        secret, runner_id = data.get("heartbeat_secret"), data.get("runner_id")
        if not isinstance(secret, str) or not secret or not isinstance(runner_id, str):
            self.failures += 1
            self.last_error = "registration answer without runner_id/heartbeat_secret"
            log.warning("live-runner registration: %s", self.last_error)
            return False
        self._secret, self.runner_id = secret, runner_id
        self.known_ids.add(runner_id)
        orchestrator = data.get("orchestrator")
        if isinstance(orchestrator, str) and orchestrator.startswith(("http://", "https://")):
            self._base = orchestrator.rstrip("/")
        self.interval = parse_go_duration(data.get("heartbeat_interval"), 5.0)
        self.ttl = parse_go_duration(data.get("heartbeat_ttl"), 20.0)
        self.registered, self.last_ok, self.last_error = True, time.monotonic(), ""
        self.registrations += 1
        log.info(
            "registered as live runner %s (app %s, status %s) with %s; heartbeat every %gs",
            runner_id,
            self.cfg.app,
            self.last_status,
            redact_url(self._base),
            self.interval,
        )
        self._o2r.start(data.get("o2r"))
        await self._reconcile(data, sent)
        return True

    async def _heartbeat(self) -> None:
        sent = time.monotonic()
        try:
            data = await self._post("/runners/heartbeat", self._secret, self._body())
        except ProtocolError as exc:
            self._failed("heartbeat", exc)
            expired = time.monotonic() - self.last_ok > self.ttl
            if exc.status in (401, 404) or expired:
                log.warning(
                    "live runner %s is no longer registered; registering again", self.runner_id
                )
                self.registered = False
            return
        self.heartbeats += 1
        self.last_ok, self.last_error = time.monotonic(), ""
        await self._reconcile(data, sent)

    async def _reconcile(self, data: dict[str, Any], sent: float) -> None:
        ids = data.get("session_ids")
        if isinstance(ids, list):
            await self._on_sessions([str(i) for i in ids], sent)

    def _failed(self, what: str, exc: ProtocolError) -> None:
        self.failures += 1
        self.last_error = f"{what}: HTTP {exc.status} {exc.body[:120]}".strip()
        log.warning("live-runner %s failed: HTTP %s %s", what, exc.status, exc.body[:120])

    async def _unregister(self) -> None:
        try:
            await self._post(
                f"/runners/{self.runner_id}/unregister", self._secret, None, timeout=3.0
            )
            log.info("unregistered live runner %s", self.runner_id)
        except ProtocolError as exc:
            log.warning("live-runner unregister failed: HTTP %s", exc.status)

    async def _post(
        self, path: str, auth: str, body: Any, *, timeout: float | None = None
    ) -> dict[str, Any]:
        assert self._http is not None
        url = self._base + path
        limit = aiohttp.ClientTimeout(total=timeout or self.cfg.start_timeout)
        try:
            async with self._http.post(
                url, json=body, headers={"Authorization": auth}, timeout=limit
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise ProtocolError(redact_url(url), resp.status, text[:300])
                if not text.strip():
                    return {}
                data = await resp.json(content_type=None)
                return data if isinstance(data, dict) else {}
        except aiohttp.ClientError as exc:
            raise ProtocolError(redact_url(url), 0, type(exc).__name__) from None
        except TimeoutError:
            raise ProtocolError(redact_url(url), 0, "timed out") from None
