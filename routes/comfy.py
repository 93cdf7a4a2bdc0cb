"""Registering the pack's routes on ComfyUI's ``PromptServer.instance`` (at import, before start).

ComfyUI turns ``PromptServer.instance.routes`` into app routes after every pack is imported, and
adds an ``/api`` twin of each; two packs registering one method and path stop ComfyUI from
starting. So every path (and its ``/api`` twin) is checked against what is already registered —
core, other packs — and a taken one is skipped with a warning instead of duplicated.

The ``TRICKLE_*`` configuration is read here, once: an invalid value is one ERROR line naming the
variable, the expected and the received value, and the pack then serves no stream (only
``GET /trickle/status``, answering 503 with that error) until it is fixed and ComfyUI restarted.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from ..nodes.comfy_host import ComfyHost
from ..nodes.driver import ComfyProcessor
from ..nodes.graph import Workflow
from ..nodes.lease import LeaseRunner
from ..nodes.store import WorkflowStore
from ..trickle.config import RunnerConfig
from ..trickle.errors import ValidationError
from ..trickle.runner.http import error_response
from . import Skip, register_pack
from .live_runner import install_guard, setup_live_runner
from .panel import panel_settings, register_panel
from .runner_settings import RunnerSettings

log = logging.getLogger(__name__)


def taken_routes(server: Any) -> set[tuple[str, str]]:
    """(method, path) already registered on the PromptServer's route table and app router."""
    taken: set[tuple[str, str]] = set()
    for route in server.routes:
        if isinstance(route, web.RouteDef):
            taken.add((route.method.upper(), route.path))
    for resource in server.app.router.resources():
        for route in resource:
            taken.add((route.method.upper(), resource.canonical))
    return taken


def path_checker(taken: set[tuple[str, str]]) -> Skip:
    """``skip(method, path)``: True when the path or its ``/api`` twin is taken (then warns)."""

    def skip(method: str, path: str) -> bool:
        paths = (path, "/api" + path)
        methods = {method, "*"} | ({"HEAD"} if method == "GET" else set())
        if any((m, p) in taken for m in methods for p in paths):
            log.warning(
                "trickle-live: %s %s is already registered by ComfyUI or another pack; "
                "not adding it again",
                method,
                path,
            )
            return True
        taken.update((method, p) for p in paths)
        return False

    return skip


def comfy_factory(
    store: WorkflowStore, config: RunnerConfig
) -> Callable[[dict[str, Any], str], ComfyProcessor]:
    """Stream processors that run the workflow in ComfyUI, with the settings read at start."""

    def factory(params: dict[str, Any], model_id: str) -> ComfyProcessor:
        return ComfyProcessor(params=dict(params), model_id=model_id, store=store, config=config)

    return factory


async def validate(workflow: Workflow) -> Any:
    return await ComfyHost.get().validate(workflow)


def register_in_comfyui(store: WorkflowStore) -> None:
    from server import PromptServer

    server = PromptServer.instance
    install_guard(server.app)  # first: ComfyUI's port refuses proxied live-runner traffic
    before = len(list(server.routes))
    skip = path_checker(taken_routes(server))
    try:
        config = RunnerConfig.from_env()  # the one read of the TRICKLE_* variables
    except ValidationError as exc:
        log.error("trickle-live: configuration error: %s; no stream is served until it is"
                  " fixed and ComfyUI restarted", exc)  # fmt: skip
        refuse_streams(server.routes, exc, skip)
        return
    factory = comfy_factory(store, config)
    settings = panel_settings(store)  # the editor panel's runner settings (user directory)
    settings.base = config
    count = register_pack(
        server.routes,
        store,
        validate=validate,
        factory=factory,
        skip=skip,
        token=lambda: settings.effective().token,
    )
    try:
        count += _mount_runner(server, factory, skip, settings, store)
    except ImportError:
        log.exception("trickle-live: the runner routes are unavailable")
    count += register_panel(server.routes, store, settings, skip=skip)[0]
    install_json_errors(server.app, list(server.routes)[before:])
    log.info("trickle-live: %d routes registered", count)


def refuse_streams(routes: Any, error: ValidationError, skip: Skip) -> None:
    """With an invalid configuration: no runner, BYOC, pack or live-runner route; only
    ``GET /trickle/status``, answering 503 with the error (field, expected, received)."""

    async def status(request: web.Request) -> web.Response:
        return error_response(503, f"configuration error: {error}", **error.as_dict())

    if not skip("GET", "/trickle/status"):
        routes.get("/trickle/status")(status)


def install_json_errors(app: web.Application, ours: list[Any]) -> None:
    """aiohttp's errors on the pack's own paths (and their ``/api`` twins) as JSON, e.g. a wrong
    method; every other path keeps ComfyUI's answers."""
    from ..trickle.runner.json_errors import paths_middleware

    paths = {r.path for r in ours if isinstance(r, web.RouteDef)}
    paths |= {"/api" + p for p in paths}
    try:
        app.middlewares.append(cast(Any, paths_middleware(sorted(paths))))
    except RuntimeError:  # frozen: the server already started
        log.error("trickle-live: ComfyUI's app is already running; its errors stay text")


def _mount_runner(
    server: Any,
    factory: Callable[..., ComfyProcessor],
    skip: Skip,
    settings: RunnerSettings,
    store: WorkflowStore,
) -> int:
    from ..trickle.runner.api import RunnerAPI
    from ..trickle.runner.routes import mount
    from ..trickle.session.manager import StreamManager

    config = settings.effective()  # environment, overridden by what the panel saved
    manager = StreamManager(config, lambda request: factory(request.params, request.model_id))
    api = RunnerAPI(manager, config)
    settings.attach(api, manager)  # panel changes apply to the next stream
    mounted = mount(server.routes, api, api_aliases=False, skip=skip)
    if mounted.pack is not None:
        mounted.pack.sections["comfyui"] = lambda: comfy_status(manager)
    # the go-livepeer live runner: its own port (TRICKLE_LR_PORT), the same manager
    live_status = setup_live_runner(server.app, manager, store)
    if mounted.pack is not None:
        mounted.pack.sections["live_runner"] = live_status
    return len(mounted.registered)


def comfy_status(manager: Any) -> dict[str, Any]:
    host = ComfyHost._instance
    runner = LeaseRunner.current()
    streams = {}
    for session in manager.active():
        processor = session.processor
        if isinstance(processor, ComfyProcessor):
            streams[session.stream_id] = processor.stats()
    return {
        "queue_item_fields": host.item_length if host else None,
        "status_broadcasts_coalesced": host.coalescer.suppressed if host else 0,
        "host_patches": host_patches(host),
        "private_executor": runner.stats() if runner is not None else None,
        "models_loaded": loaded_models(),
        "streams": streams,
    }


def host_patches(host: ComfyHost | None) -> dict[str, Any]:
    """What the pack has changed in ComfyUI's process right now (docs/comfyui.md): the server
    hooks, objects kept out of the garbage collector, the interpreter's switch interval."""
    hooks = host.patches() if host is not None else {}
    return {
        "queue_updated": hooks.get("queue_updated", False),
        "send_sync": hooks.get("send_sync", False),
        "log_filter": hooks.get("log_filter", False),
        "installs": hooks.get("installs", 0),
        "gc_frozen_objects": gc.get_freeze_count(),
        "switch_interval_ms": round(sys.getswitchinterval() * 1e3, 3),
    }


def loaded_models() -> list[str] | None:
    """The models ComfyUI's model management holds loaded (class names; None without it)."""
    try:
        import comfy.model_management as mm
    except ImportError:
        return None
    names = []
    for loaded in list(mm.current_loaded_models):
        patcher = loaded.model  # a weak reference underneath: None once released
        inner = getattr(patcher, "model", None) if patcher is not None else None
        names.append(type(inner).__name__ if inner is not None else "(released)")
    return names
