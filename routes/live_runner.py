"""The go-livepeer live runner inside ComfyUI: the guard on ComfyUI's port, the app on its own.

At pack load (custom nodes load before PromptServer's app is frozen):

- :func:`install_guard` puts ``proxied_request_guard()`` first in PromptServer's middlewares, so
  every request carrying ``Livepeer-Runner-Route``/``Livepeer-Session-Id`` gets 403 JSON on
  ComfyUI's port, whatever the path (``/prompt``, uploads, static files, ``%2e%2e`` escapes);
- with ``TRICKLE_LR_PORT`` set, :class:`ComfyLiveRunner` appends an ``on_startup`` hook: when
  ComfyUI starts its server (``start_multi_address`` → ``AppRunner.setup``), the live-runner app
  binds its own port in ComfyUI's loop, over the same ``StreamManager`` (and so the same ComfyUI
  processor factory and capacity) as the aiModels path. It is never served on ComfyUI's port.

ComfyUI runs no ``on_shutdown``: the pack closes the service itself, on SIGTERM (when nobody else
handles it; the process still ends by the signal) and at exit (``atexit``, e.g. after Ctrl-C).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from ..nodes.graph import param_schema
from ..nodes.store import WorkflowStore, select_workflow
from ..trickle.errors import ValidationError
from ..trickle.liverunner.config import LiveRunnerConfig
from ..trickle.liverunner.guard import proxied_request_guard
from ..trickle.liverunner.service import LiveRunnerService
from ..trickle.session.manager import StreamManager
from ..trickle.timeouts import with_timeout

log = logging.getLogger(__name__)

GUARD_MARK = "_trickle_live_guard"
CLOSE_TIMEOUT = 10.0


def install_guard(app: web.Application) -> bool:
    """Make the proxied-request guard the outermost middleware of ``app`` (idempotent).

    Returns False (and logs) when the app is already frozen and the guard cannot be added."""
    if any(getattr(m, GUARD_MARK, False) for m in app.middlewares):
        return True
    guard = proxied_request_guard()
    setattr(guard, GUARD_MARK, True)
    try:
        app.middlewares.insert(0, cast(Any, guard))
    except RuntimeError:  # frozen: the server already started
        log.error("trickle-live: ComfyUI's app is already running; the live-runner guard is off")
        return False
    return True


class ComfyLiveRunner:
    """The live-runner service's life inside the ComfyUI process (start-up hook, status, exit)."""

    def __init__(
        self,
        cfg: LiveRunnerConfig,
        manager: StreamManager,
        *,
        describe: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.cfg = cfg
        self.service = LiveRunnerService(cfg, manager, describe=describe)
        self.error = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def attach(self, app: web.Application) -> None:
        """Start the service when ``app`` starts; close it at exit and on SIGTERM."""
        app.on_startup.append(self._on_startup)
        atexit.register(self.close_at_exit)

    async def _on_startup(self, _: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self.service.start()
        except Exception as exc:  # a taken port must not stop ComfyUI from starting
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "trickle-live: the live-runner app could not start on port %d", self.cfg.port
            )
            return
        log.info(
            "trickle-live: live runner %s (app %s) on its own port %d",
            self.service.runner_url,
            self.cfg.app,
            self.service.site.port if self.service.site else self.cfg.port,
        )
        self._install_sigterm()

    def status(self) -> dict[str, Any]:
        body = self.service.status()
        body["error"] = self.error
        return body

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.service.close()

    def close_at_exit(self) -> None:
        """``atexit``: run :meth:`close` on ComfyUI's loop if it is stopped but still open."""
        loop = self._loop
        if self._closed or loop is None or loop.is_closed() or loop.is_running():
            return
        try:
            loop.run_until_complete(with_timeout(self.close(), CLOSE_TIMEOUT))
        except Exception:  # at exit: log and let the process end
            log.exception("trickle-live: closing the live runner at exit failed")

    def _install_sigterm(self) -> None:
        """Close (self-release, unregister) on SIGTERM, then end by the signal as before.

        Only when SIGTERM has its default action: another handler's owner keeps control."""
        if self._loop is None or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        try:
            self._loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
            pass

    def _on_sigterm(self) -> None:
        assert self._loop is not None
        self._loop.remove_signal_handler(signal.SIGTERM)
        self._loop.create_task(self._close_then_terminate())

    async def _close_then_terminate(self) -> None:
        try:
            await with_timeout(self.close(), CLOSE_TIMEOUT)
        except Exception:  # task boundary: the process ends either way
            log.exception("trickle-live: closing the live runner on SIGTERM failed")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def setup_live_runner(
    app: web.Application, manager: StreamManager, store: WorkflowStore
) -> Callable[[], dict[str, Any]]:
    """Wire the live runner when ``TRICKLE_LR_PORT`` is set; returns the status section."""
    try:
        cfg = LiveRunnerConfig.from_env()
    except ValidationError as exc:
        log.error("trickle-live: live runner off, bad TRICKLE_LR_* setting: %s", exc)
        message = str(exc)
        return lambda: {"enabled": False, "error": message}
    if not cfg.port:
        return lambda: {"enabled": False, "how": "set TRICKLE_LR_PORT to serve it on its own port"}
    runner = ComfyLiveRunner(
        cfg, manager, describe=lambda: describe_live_workflow(store, cfg, manager.config.workflow)
    )
    runner.attach(app)
    return runner.status


def describe_live_workflow(
    store: WorkflowStore, cfg: LiveRunnerConfig, configured: str = ""
) -> dict[str, Any]:
    """The workflow a live-runner session starts with when its start names none (the same
    choice a stream makes: a workflow named like the model id, the default live workflow,
    ``TRICKLE_WORKFLOW``, else passthrough), and its live parameters from its parameter nodes."""
    workflow, source = select_workflow({}, cfg.model_id, store, configured)
    if source.startswith("workflow named like model_id"):
        name = cfg.model_id
    elif source.startswith("default live workflow"):
        name = store.default_name() or source
    elif source.startswith("TRICKLE_WORKFLOW="):
        name = source.split("=", 1)[1]
    elif source.startswith("file "):
        name = Path(source[5:]).stem.removesuffix(".api")
    else:
        name = "passthrough"
    return {
        "workflow": name,
        "params": param_schema(workflow),
        # ComfyUI updates may also patch node inputs by id or switch the workflow
        "updates": "named parameters, node-input patches, workflow switch",
    }
