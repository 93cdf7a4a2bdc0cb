"""One function mounts the runner, BYOC and pack routes on any aiohttp app or route table.

``mount(target, api)`` accepts a ``web.Application``, its ``UrlDispatcher`` or a
``web.RouteTableDef`` (ComfyUI's ``PromptServer.instance.routes``). Root-level aliases (``/health``,
``/stream/start``, …) are marked ``alias=True``; a host that already serves one of those paths
passes ``skip=`` (a predicate on ``(method, path)``) or ``root_aliases=False`` — two packs
registering one path stop ComfyUI from starting. ``route_specs`` lists what would be registered.

| group  | paths (root alias and prefixed)                                                      |
| ------ | ------------------------------------------------------------------------------------ |
| runner | GET /health, /version, /hardware/info, /hardware/stats; POST /live-video-to-video     |
|        | (root, and under /trickle/runner)                                                    |
| byoc   | POST /stream/start, /stream/params, /stream/update, /stream/stop; GET /stream/status |
|        | (root, under /trickle/byoc, and /api/stream/* when api_aliases)                      |
| pack   | GET /trickle/status, /trickle/streams, /trickle/frame.jpg,                           |
|        | /trickle/streams/{stream_id}/frame.jpg; POST /trickle/streams/{stream_id}/stop|update |
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .api import RunnerAPI
from .byoc import ByocRoutes
from .csrf import UNSAFE_METHODS, csrf_protected
from .http import Handler, guarded
from .pack_api import PackRoutes

log = logging.getLogger(__name__)

RUNNER_PREFIX = "/trickle/runner"
BYOC_PREFIX = "/trickle/byoc"
PACK_PREFIX = "/trickle"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    alias: bool  # a root-level alias, skippable when the host already serves the path


@dataclass
class Mounted:
    registered: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    byoc: ByocRoutes | None = None
    pack: PackRoutes | None = None


def route_specs(
    api: RunnerAPI,
    *,
    root_aliases: bool = True,
    api_aliases: bool = False,
    prefix: str = "",
    protect_pack: bool = True,
) -> tuple[list[RouteSpec], ByocRoutes, PackRoutes]:
    """Every route ``mount`` would register, the BYOC and pack handler objects."""
    byoc = ByocRoutes(api)
    pack = PackRoutes(api, protect=protect_pack)
    runner_routes: list[tuple[str, str, Handler]] = [
        ("GET", "/health", api.health),
        ("GET", "/version", api.version_info),
        ("GET", "/hardware/info", api.hardware_info),
        ("GET", "/hardware/stats", api.hardware_stats),
        ("POST", "/live-video-to-video", api.live_video_to_video),
    ]
    byoc_routes: list[tuple[str, str, Handler]] = [
        ("POST", "/stream/start", byoc.start),
        ("POST", "/stream/params", byoc.params),
        ("POST", "/stream/update", byoc.params),
        ("POST", "/stream/stop", byoc.stop),
        ("GET", "/stream/status", byoc.status),
    ]
    pack_routes: list[tuple[str, str, Handler]] = [
        ("GET", "/status", pack.status),
        ("GET", "/streams", pack.streams),
        ("GET", "/frame.jpg", pack.frame),
        ("GET", "/streams/{stream_id}/frame.jpg", pack.frame),
        ("POST", "/streams/{stream_id}/stop", pack.stop),
        ("POST", "/streams/{stream_id}/update", pack.update),
    ]
    specs: list[RouteSpec] = []

    def token() -> str:
        return api.config.token

    def add(routes: list[tuple[str, str, Handler]], base: str, alias: bool) -> None:
        for method, path, handler in routes:
            wrapped = guarded(handler)
            if method in UNSAFE_METHODS:  # browsers of other sites cannot drive it (csrf.py)
                wrapped = csrf_protected(wrapped, token)
            specs.append(RouteSpec(method, prefix + base + path, wrapped, alias))

    add(runner_routes, RUNNER_PREFIX, False)
    add(byoc_routes, BYOC_PREFIX, False)
    add(pack_routes, PACK_PREFIX, False)
    if root_aliases:
        add(runner_routes, "", True)
        add(byoc_routes, "", True)
    if api_aliases:
        add(byoc_routes, "/api", True)
    return specs, byoc, pack


def mount(
    target: Any,
    api: RunnerAPI,
    *,
    root_aliases: bool = True,
    api_aliases: bool = False,
    prefix: str = "",
    protect_pack: bool = True,
    skip: Callable[[str, str], bool] | None = None,
) -> Mounted:
    """Register the routes on ``target``; ``skip(method, path)`` True leaves an alias out."""
    specs, byoc, pack = route_specs(
        api,
        root_aliases=root_aliases,
        api_aliases=api_aliases,
        prefix=prefix,
        protect_pack=protect_pack,
    )
    add = _adder(target)
    result = Mounted(byoc=byoc, pack=pack)
    for spec in specs:
        key = (spec.method, spec.path)
        if skip is not None and skip(spec.method, spec.path):
            if not spec.alias:
                log.warning("route %s %s is taken: the pack's own route is not mounted", *key)
            result.skipped.append(key)
            continue
        add(spec.method, spec.path, spec.handler)
        result.registered.append(key)
    return result


def _adder(target: Any) -> Callable[[str, str, Handler], None]:
    if isinstance(target, web.Application):
        target = target.router
    if isinstance(target, web.RouteTableDef):
        table = target

        def add_def(method: str, path: str, handler: Handler) -> None:
            table.route(method, path)(handler)

        return add_def
    if hasattr(target, "add_route"):
        router = target

        def add_route(method: str, path: str, handler: Handler) -> None:
            router.add_route(method, path, handler)

        return add_route
    raise TypeError(f"cannot mount routes on {type(target).__name__}")
