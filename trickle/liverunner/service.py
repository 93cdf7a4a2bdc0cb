"""The live runner, assembled: app + its own site + (optionally) the heartbeat client.

The ComfyUI process (from ``routes/``) and the standalone runner (``python -m trickle runner
--live-runner-port N``) both do::

    service = LiveRunnerService(LiveRunnerConfig.from_env(port=N), manager)
    await service.start()          # binds its own port; registers if TRICKLE_LR_ORCH_URL is set
    ...
    await service.close()          # ends sessions (self-release), unregisters, closes the port

``manager`` is the same :class:`StreamManager` the aiModels and BYOC routes use, so the engine,
the update parser and the events are shared, and so is capacity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from ..protocol.http import make_client_session
from ..session.manager import StreamManager
from .app import LiveRunnerApp
from .config import LiveRunnerConfig
from .heartbeat import HeartbeatClient
from .o2r import ReaderFactory
from .registration import registration_info
from .site import LiveRunnerSite

log = logging.getLogger(__name__)


class LiveRunnerService:
    def __init__(
        self,
        cfg: LiveRunnerConfig,
        manager: StreamManager,
        *,
        warming: Callable[[], bool] = lambda: False,
        metadata_extra: Callable[[], dict[str, Any]] = dict,
        describe: Callable[[], dict[str, Any]] = dict,
        reader_factory: ReaderFactory | None = None,
    ) -> None:
        self.cfg = cfg
        self.manager = manager
        self._warming = warming
        self._extra = metadata_extra
        self._describe = describe
        self._reader_factory = reader_factory
        self.http: aiohttp.ClientSession | None = None
        self.app: LiveRunnerApp | None = None
        self.site: LiveRunnerSite | None = None
        self.heartbeat: HeartbeatClient | None = None

    @property
    def runner_url(self) -> str:
        return self.cfg.effective_runner_url(self.site.port if self.site else None)

    async def start(self, *, port: int | None = None) -> None:
        """Bind the app's own port (``port`` overrides the config; 0 = ephemeral) and register."""
        if self.site is not None:
            return
        self.http = make_client_session(verify_tls=self.cfg.verify_tls)
        self.app = LiveRunnerApp(
            self.cfg,
            self.manager,
            self.http,
            warming=self._warming,
            on_change=self._sessions_changed,
            status_extra=self._status_extra,
            describe=self._describe,
        )
        site = LiveRunnerSite(
            self.app.make_app(), self.cfg.host, self.cfg.port if port is None else port
        )
        try:
            await site.start()
        except BaseException:
            await self.http.close()
            self.http = None
            raise
        self.site = site
        if self.cfg.dynamic:
            self.heartbeat = HeartbeatClient(
                self.cfg,
                self.runner_url,
                status=self.app.runner_status,
                session_ids=self.app.sessions.ids,
                on_event=self._on_o2r,
                on_sessions=self._on_session_ids,
                metadata_extra=self._metadata_extra,
                http=self.http,
                reader_factory=self._reader_factory,
            )
            await self.heartbeat.start()

    async def close(self) -> None:
        """End sessions (self-releasing them), unregister, close the port. Idempotent."""
        if self.app is not None:
            await self.app.sessions.close()
        if self.heartbeat is not None:
            await self.heartbeat.close(unregister=True)
            self.heartbeat = None
        if self.site is not None:
            await self.site.stop()
            self.site = None
        if self.http is not None:
            await self.http.close()
            self.http = None

    def status(self) -> dict[str, Any]:
        """For the pack's status API and the editor panel: no secret, no channel URL."""
        app = self.app
        return {
            "enabled": self.site is not None,
            "port": self.site.port if self.site else self.cfg.port,
            "config": self.cfg.public(),
            "health": app.health_state() if app else None,
            "runner_status": app.runner_status() if app else None,
            "sessions": [s.public() for s in app.sessions.all()] if app else [],
            "sessions_ended": app.sessions.ended if app else 0,
            "refused_busy": app.refused_busy if app else 0,
            "release_failures": app.sessions.release_failures if app else 0,
            "last_error": app.sessions.last_error if app else "",
            "heartbeat": self.heartbeat.snapshot() if self.heartbeat else None,
            "registration": self.registration(),
        }

    def registration(self) -> dict[str, Any]:
        """The static ``runners.json`` entry and ``/registerLiveRunners`` command for this runner."""
        return registration_info(self.cfg, self.runner_url, self._metadata_extra())

    def _metadata_extra(self) -> dict[str, Any]:
        """Public facts for the registration metadata: the caller's, plus the live workflow's
        name and parameters (what ``GET schema`` shows in full)."""
        extra = dict(self._extra())
        try:
            described = self._describe()
        except Exception:  # a broken workflow must not stop registration; schema says why
            log.exception("live runner: describing the live workflow failed")
            return extra
        if described.get("workflow"):
            extra.setdefault("workflow", described["workflow"])
        if described.get("params"):
            extra["params"] = described["params"]
        return extra

    # -- callbacks ------------------------------------------------------------------------------

    def _status_extra(self) -> dict[str, Any]:
        return {"heartbeat": self.heartbeat.snapshot() if self.heartbeat else None}

    def _sessions_changed(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.poke()

    async def _on_o2r(self, event: str, session_id: str) -> None:
        if event == "released" and self.app is not None:
            self.app.sessions.end_later(session_id, "released by the orchestrator", release=False)

    async def _on_session_ids(self, ids: list[str], sent_at: float) -> None:
        """Stop local sessions the orchestrator no longer has.

        Only sessions reserved through our dynamic registration (their ``Livepeer-Runner-Route``
        is one of our runner ids, current or lapsed) and started before the heartbeat was sent;
        a session reserved through a static registration is not in this list by design.
        """
        if self.app is None or self.heartbeat is None:
            return
        known, ours = set(ids), self.heartbeat.known_ids
        for session in self.app.sessions.all():
            route = session.control.headers.runner_route
            if route in ours and session.session_id not in known and session.started_at < sent_at:
                self.app.sessions.end_later(
                    session.session_id, "not in the orchestrator's session list", release=False
                )
