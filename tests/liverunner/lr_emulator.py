"""The orchestrator emulator for live-runner tests (loaded by conftest.py; see its docstring).

Its answers follow go-livepeer's code (``ai/runner/live_runner.go``, ``server/ai_http.go``,
``trickle/trickle_server.go``), not only its docs: errors are plain text (go's ``http.Error``);
reserving on a full runner is 503; a client stop (``/apps/{r}/session/{sid}/stop``) is 204 for any
session of a known runner; a runner callback for an unknown session is 404, with a wrong token 401;
``DELETE {Session-Control}/channels`` stops at the first channel whose trickle stream is already
closed and answers **500 "Invalid stream"** (``DeleteTrickleChannel`` → ``closeStream``), 404 for
a name never created; a release sends ``released`` on o2r and closes every channel of the session.
``leaked()`` lists sessions still reserved: what a real O would keep forever (it has no session
idle timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import posixpath
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web
from trickle_live.trickle.protocol.json_channels import EventsWriter
from trickle_live.trickle.protocol.server import TrickleServer
from yarl import URL

SESSION_HEADERS = (
    "Livepeer-Runner-Route",
    "Livepeer-Session-Id",
    "Livepeer-Session-Token",
    "Livepeer-Session-Control",
)
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


def go_error(message: str, status: int) -> web.Response:
    """What go's ``http.Error`` sends: the message and a newline, as plain text."""
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


@dataclass
class EmuRunner:
    runner_id: str
    seed: bytes
    hb_secret: str
    body: dict[str, Any]
    static: bool = False
    last_hb: float = field(default_factory=time.monotonic)
    sessions: dict[str, set[str]] = field(default_factory=dict)  # sid -> channel names
    reserved: int = 0  # sessions reserved over the runner's life
    released: int = 0
    o2r_name: str = ""
    o2r: EventsWriter | None = None

    def token(self, sid: str) -> str:
        return hmac.new(self.seed, f"session:{sid}".encode(), hashlib.sha256).hexdigest()


class OrchestratorEmulator:
    def __init__(
        self, secret: str = "orch-secret-xyz", interval: float = 0.2, ttl: float = 1.0
    ) -> None:
        self.secret = secret
        self.interval = interval
        self.ttl = ttl
        self.trickle = TrickleServer("/ai/trickle/")
        self.runners: dict[str, EmuRunner] = {}
        self.calls: list[tuple[str, str, int]] = []  # (method, path, status) of non-trickle calls
        self.trickle_hosts: list[tuple[str, str, str]] = []  # (host, method, channel)
        self.heartbeat_bodies: list[dict[str, Any]] = []
        self.proxied: list[str] = []  # runner-side paths the proxy forwarded to
        self.sweeping = True  # False: expired runners linger (go answers 404 until its sweep)
        # fault injection on the runner's self-release (POST {Session-Control}/stop):
        self.drop_stops = 0  # the next N calls: connection closed before any answer
        self.refuse_stops: int | None = None  # every call answered with this status
        self.stop_attempts = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._http: ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_get("/discovery", self._discovery)
        r.add_post("/runners/heartbeat", self._heartbeat)
        r.add_post("/runners/{rid}/unregister", self._unregister)
        r.add_post("/apps/{rid}/session", self._reserve)
        r.add_post("/apps/{rid}/session/{sid}/stop", self._client_stop)
        r.add_route("*", "/apps/{rid}/session/{sid}/app/{path:.*}", self._proxy)
        r.add_post("/runner/{rid}/session/{sid}/channels", self._create_channels)
        r.add_delete("/runner/{rid}/session/{sid}/channels", self._delete_channels)
        r.add_post("/runner/{rid}/session/{sid}/stop", self._runner_stop)
        self.trickle.register(app)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self._http = ClientSession()
        self._sweeper = asyncio.create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for rid in list(self.runners):
            await self.remove_runner(rid, "emulator closing")
        await self.trickle.close()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def public_url(self, name: str) -> str:
        return f"http://localhost:{self.port}/ai/trickle/{name}"

    def internal_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/ai/trickle/{name}"

    # -- test controls -----------------------------------------------------------------------
    def register_static(self, label: str, runner_url: str, capacity: int = 1) -> EmuRunner:
        runner = EmuRunner(
            label,
            secrets.token_bytes(16),
            "",
            {"runner_url": runner_url, "capacity": capacity, "status": "ready"},
            static=True,
        )
        self.runners[label] = runner
        return runner

    def expire(self, rid: str) -> None:
        """Pretend no heartbeat came for longer than the TTL."""
        self.runners[rid].last_hb = time.monotonic() - self.ttl - 1

    async def forget_all(self) -> None:
        """An orchestrator restart: every registration, session and channel is gone."""
        for rid in list(self.runners):
            await self.remove_runner(rid, "restart")

    def only_runner(self) -> EmuRunner:
        assert len(self.runners) == 1, list(self.runners)
        return next(iter(self.runners.values()))

    async def remove_runner(self, rid: str, reason: str) -> None:
        runner = self.runners.pop(rid, None)
        if runner is None:
            return
        if runner.o2r is not None:
            await runner.o2r.close(delete=True)
        for sid in list(runner.sessions):
            self._close_session_channels(runner, sid)
        runner.sessions.clear()

    async def release(self, rid: str, sid: str, *, close_channels: bool = True) -> bool:
        runner = self.runners.get(rid)
        if runner is None or sid not in runner.sessions:
            return False
        if runner.o2r is not None:
            await runner.o2r.send({"event": "released", "session": sid, "timestamp": "now"})
        if close_channels:
            self._close_session_channels(runner, sid)
        del runner.sessions[sid]
        runner.released += 1
        return True

    def leaked(self) -> list[str]:
        """Sessions still reserved on any runner (a real O holds them until released)."""
        return [sid for r in self.runners.values() for sid in r.sessions]

    # -- handlers ----------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/ai/trickle/"):
            channel = request.path.split("/")[3]
            self.trickle_hosts.append((request.host.split(":")[0], request.method, channel))
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.calls.append((request.method, request.path, exc.status))
            raise
        self.calls.append((request.method, request.path, response.status))
        return response

    def _expired(self, runner: EmuRunner) -> bool:
        return not runner.static and time.monotonic() - runner.last_hb > self.ttl

    def _hb_reply(self, runner: EmuRunner, first: bool) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "runner_id": runner.runner_id,
            "orchestrator": self.url,
            "heartbeat_interval": f"{int(self.interval * 1000)}ms",
            "heartbeat_ttl": f"{self.ttl:g}s",
            "session_ids": list(runner.sessions),
        }
        if first:
            reply["heartbeat_secret"] = runner.hb_secret
            reply["o2r"] = {
                "name": "o2r",
                "channel_name": runner.o2r_name,
                "url": self.internal_url(runner.o2r_name),
                "mime_type": "application/json",
            }
        return reply

    async def _heartbeat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.heartbeat_bodies.append(body)
        auth = request.headers.get("Authorization", "")
        rid = str(body.get("runner_id") or "").strip() or "runner_" + secrets.token_hex(4)
        runner = self.runners.get(rid)
        if runner is None:
            if auth != self.secret:
                return go_error("invalid registration authorization", 401)
            seed = secrets.token_bytes(16)
            runner = EmuRunner(
                rid, seed, hmac.new(seed, b"heartbeat", hashlib.sha256).hexdigest(), body
            )
            runner.o2r_name = f"{rid}-{runner.hb_secret[:16]}-o2r"
            self.trickle.create_channel(runner.o2r_name, "application/json")
            runner.o2r = EventsWriter(self.internal_url(runner.o2r_name))
            self.runners[rid] = runner
            await runner.o2r.send({"keep": "alive"})
            return web.json_response(self._hb_reply(runner, True))
        if self._expired(runner):
            return go_error("runner not found", 404)
        if auth != runner.hb_secret:
            return go_error("invalid heartbeat authorization", 401)
        runner.body, runner.last_hb = body, time.monotonic()
        return web.json_response(self._hb_reply(runner, False))

    async def _discovery(self, request: web.Request) -> web.Response:
        runners = [
            {
                "url": f"{self.url}/apps/{r.runner_id}/session",
                "app": r.body.get("app", ""),
                "version": r.body.get("version", ""),
                "mode": "persistent",
                "capacity": int(r.body.get("capacity") or 1),
                "capacity_used": len(r.sessions),
                "capacity_available": int(r.body.get("capacity") or 1) - len(r.sessions),
            }
            for r in self.runners.values()
            if not self._expired(r) and r.body.get("status") in ("", "ready", None)
        ]
        return web.json_response([{"address": self.url, "runners": runners}])

    async def _unregister(self, request: web.Request) -> web.Response:
        runner = self.runners.get(request.match_info["rid"])
        if runner is None or self._expired(runner):
            return go_error("runner not found", 404)
        if request.headers.get("Authorization") != runner.hb_secret:
            return go_error("invalid authorization", 401)
        await self.remove_runner(runner.runner_id, "unregister")
        return web.Response(status=204)

    async def _reserve(self, request: web.Request) -> web.Response:
        runner = self.runners.get(request.match_info["rid"])
        if (
            runner is None
            or self._expired(runner)
            or runner.body.get("status") not in ("", "ready", None)
        ):
            return go_error("runner not found", 404)
        if len(runner.sessions) >= int(runner.body.get("capacity") or 1):
            return go_error("no capacity available for runner", 503)
        sid = "session_" + secrets.token_hex(4)
        runner.sessions[sid] = set()
        runner.reserved += 1
        if runner.o2r is not None:
            await runner.o2r.send({"event": "reserved", "session": sid, "timestamp": "now"})
        base = f"{self.url}/apps/{runner.runner_id}/session/{sid}"
        return web.json_response({"session_id": sid, "app_url": base + "/app", "control_url": base})

    async def _client_stop(self, request: web.Request) -> web.Response:
        # go: ReleaseSession only fails for an unknown runner; an unknown session is a no-op
        runner = self.runners.get(request.match_info["rid"])
        if runner is None or self._expired(runner):
            return go_error("runner not found", 404)
        await self.release(runner.runner_id, request.match_info["sid"])
        return web.Response(status=204)

    def _session(self, request: web.Request) -> tuple[EmuRunner, str] | web.Response:
        runner = self.runners.get(request.match_info["rid"])
        sid = request.match_info["sid"]
        if runner is None or self._expired(runner) or sid not in runner.sessions:
            return go_error("runner session not found", 404)
        if request.headers.get("Livepeer-Session-Token") != runner.token(sid):
            return go_error("invalid authorization", 401)
        return runner, sid

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        runner = self.runners.get(request.match_info["rid"])
        sid = request.match_info["sid"]
        if runner is None or self._expired(runner) or sid not in runner.sessions:
            return go_error("runner session not found", 404)
        target = URL(runner.body["runner_url"])
        # go: url.JoinPath("/", target.Path, app_path) with app_path decoded, then cleaned.
        path = posixpath.normpath("/" + target.path.strip("/") + "/" + request.match_info["path"])
        path = "/" + path.lstrip("/")
        self.proxied.append(path)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        control = f"{self.url}/runner/{runner.runner_id}/session/{sid}"
        headers.update(
            zip(SESSION_HEADERS, (runner.runner_id, sid, runner.token(sid), control), strict=True)
        )
        assert self._http is not None
        async with self._http.request(
            request.method,
            str(target.with_path(path)),
            params=request.query,
            headers=headers,
            data=await request.read(),
        ) as resp:
            return web.Response(
                status=resp.status, body=await resp.read(), content_type=resp.content_type
            )

    async def _create_channels(self, request: web.Request) -> web.Response:
        found = self._session(request)
        if isinstance(found, web.Response):
            return found
        runner, sid = found
        out = []
        for item in (await request.json())["channels"]:
            name = item["name"]
            channel_name = f"{sid}-{name}"
            self.trickle.create_channel(
                channel_name, item.get("mime_type") or "application/octet-stream"
            )
            runner.sessions[sid].add(name)
            out.append(
                {
                    "name": name,
                    "channel_name": channel_name,
                    "url": self.public_url(channel_name),
                    "internal_url": self.internal_url(channel_name),
                    "mime_type": item.get("mime_type"),
                }
            )
        return web.json_response({"channels": out})

    async def _delete_channels(self, request: web.Request) -> web.Response:
        found = self._session(request)
        if isinstance(found, web.Response):
            return found
        runner, sid = found
        names = (await request.json())["channels"]
        for name in names:  # go stops at the first failure: later names stay open
            if name not in runner.sessions[sid]:
                return go_error("trickle channel not found", 404)
            if not self.trickle.delete_channel(f"{sid}-{name}"):  # already closed on the wire
                return go_error("Invalid stream", 500)
            runner.sessions[sid].discard(name)
        return web.json_response({"deleted": names})

    async def _runner_stop(self, request: web.Request) -> web.Response:
        self.stop_attempts += 1
        if self.drop_stops > 0:
            self.drop_stops -= 1
            assert request.transport is not None
            request.transport.close()  # the runner sees a transport error
            return web.Response(status=204)
        if self.refuse_stops is not None:
            return go_error("refused by the test", self.refuse_stops)
        found = self._session(request)
        if isinstance(found, web.Response):
            return found
        await self.release(found[0].runner_id, found[1])
        return web.Response(status=204)

    def _close_session_channels(self, runner: EmuRunner, sid: str) -> None:
        for name in runner.sessions.get(sid, set()):
            self.trickle.delete_channel(f"{sid}-{name}")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.sweeping:
                continue
            for rid, runner in list(self.runners.items()):
                if self._expired(runner):
                    await self.remove_runner(rid, "heartbeat timeout")


@asynccontextmanager
async def running_emulator() -> AsyncIterator[OrchestratorEmulator]:
    """An emulator serving on loopback for the block (the ``orch`` fixtures)."""
    emulator = OrchestratorEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.close()
