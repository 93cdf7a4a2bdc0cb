"""The pack's HTTP surface inside ComfyUI's PromptServer (and on any bare aiohttp app for tests).

``register_pack(target, store, ...)`` mounts the live-workflow and test-stream routes on a
``web.Application``, its router or a ``RouteTableDef``; ``routes.comfy.register_in_comfyui``
mounts them with the runner, BYOC and pack routes (``trickle/runner``) on
``PromptServer.instance``, with the path checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..nodes.store import WorkflowStore
from ..trickle.runner.csrf import UNSAFE_METHODS, TokenSource, csrf_protected
from .direct_stream import DirectStreamRoutes, Factory
from .workflows import Validate, WorkflowRoutes

Skip = Callable[[str, str], bool]


def add_routes(
    target: Any,
    specs: list[tuple[str, str, Any]],
    skip: Skip | None = None,
    token: TokenSource | None = None,
) -> int:
    """Add (method, path, handler) routes to an app, router or RouteTableDef; returns how many.

    State-changing routes refuse cross-site requests (``trickle/runner/csrf.py``); ``token()``
    is the runner token that lets a request through anyway."""
    if isinstance(target, web.Application):
        target = target.router
    count = 0
    for method, path, handler in specs:
        if method in UNSAFE_METHODS:
            handler = csrf_protected(handler, token)
        if skip is None or not skip(method, path):
            if isinstance(target, web.RouteTableDef):
                target.route(method, path)(handler)
            else:
                target.add_route(method, path, handler)
            count += 1
    return count


def register_pack(
    target: Any,
    store: WorkflowStore,
    *,
    validate: Validate | None = None,
    factory: Factory | None = None,
    skip: Skip | None = None,
    token: TokenSource | None = None,
) -> int:
    """The routes that need ComfyUI's pieces: live workflows and (with a factory) the test stream."""
    specs = WorkflowRoutes(store, validate).specs()
    if factory is not None:
        specs += DirectStreamRoutes(factory).specs()
    return add_routes(target, specs, skip, token)
