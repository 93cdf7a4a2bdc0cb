"""Optional BYOC self-registration with an orchestrator (docs/runner.md, BYOC worker).

``POST {orch}/capability/register`` with ``Authorization: <orch secret>`` (raw, no ``Bearer``)
and ``{name, description, url, capacity, price_per_unit, price_scaling, currency, token}``; the
orchestrator answers ``200 ok`` (``400`` for a bad secret). Registrations live in the
orchestrator's memory only, so we register again every ``byoc_register_interval`` seconds — but
only while no stream runs, because a new registration resets the orchestrator's load count.
``POST {orch}/capability/unregister`` (body: the plain capability name) on close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from ..config import RunnerConfig
from ..jsonsafe import dumps
from ..session.manager import StreamManager
from ..session.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_S = 5.0
TIMEOUT = aiohttp.ClientTimeout(total=10)


class ByocRegistrar:
    def __init__(self, config: RunnerConfig, manager: StreamManager, capability_url: str) -> None:
        self.config = config
        self.manager = manager
        self.capability_url = config.byoc_capability_url or capability_url
        self.orch = config.byoc_orch_url.rstrip("/")
        self.registered_at: float | None = None
        self.attempts = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def body(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "name": cfg.byoc_capability,
            "description": "trickle-live live-video-to-video worker",
            "url": self.capability_url,
            "capacity": cfg.capacity,
            "price_per_unit": cfg.byoc_price,
            "price_scaling": cfg.byoc_price_scaling,
            "currency": cfg.byoc_currency,
            "token": cfg.token,
        }

    def status(self) -> dict[str, Any]:
        return {
            "orchestrator": self.orch,
            "capability": self.config.byoc_capability,
            "url": self.capability_url,
            "registered_at": int(self.registered_at * 1000) if self.registered_at else None,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self.config.verify_tls)
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=TIMEOUT, json_serialize=dumps
        )
        self._task = asyncio.create_task(self._loop(), name="byoc registration")

    async def close(self, unregister: bool = True) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        if unregister and self.registered_at is not None:
            await self._post("/capability/unregister", data=self.config.byoc_capability.encode())
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def register_once(self) -> bool:
        self.attempts += 1
        ok = await self._post("/capability/register", json_body=self.body())
        if ok:
            self.registered_at = time.time()
            self.last_error = None
            log.info("registered capability %r with %s", self.config.byoc_capability, self.orch)
        return ok

    async def _loop(self) -> None:
        while True:
            due = self.registered_at is None or not self.manager.active()
            ok = await self.register_once() if due else True
            await asyncio.sleep(self.config.byoc_register_interval if ok else RETRY_S)

    async def _post(self, path: str, *, json_body: Any = None, data: bytes | None = None) -> bool:
        assert self._http is not None
        headers = {"Authorization": self.config.byoc_orch_secret}
        try:
            async with self._http.post(
                self.orch + path, json=json_body, data=data, headers=headers
            ) as resp:
                text = (await resp.text())[:200]
                if resp.status == 200:
                    return True
                self.last_error = f"{path}: HTTP {resp.status}: {text}"
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            self.last_error = f"{path}: {type(exc).__name__}: {exc}"
        log.warning("BYOC %s", self.last_error)
        return False
