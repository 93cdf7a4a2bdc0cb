"""The routes the editor panel (``web/js``) needs beyond the pack API: runner settings and the
``aiModels.json`` entry (``runner_settings``), editor graphs of saved live workflows
(``ui_workflows``) and the test stream through the orchestrator path (``loopback_stream``).

Everything lives beside the saved live workflows in ComfyUI's user directory
(``<user dir>/default/trickle-live/``).
"""

from __future__ import annotations

from typing import Any

from ..nodes.store import WorkflowStore
from . import Skip, add_routes
from .loopback_stream import LoopbackStreamRoutes, RunnerUrl, loopback_runner_url
from .runner_settings import RunnerSettings, SettingsRoutes
from .ui_workflows import UiWorkflowRoutes, UiWorkflowStore


def panel_settings(store: WorkflowStore) -> RunnerSettings:
    """The runner settings file that sits beside the saved workflows."""
    return RunnerSettings(store.root.parent / "settings.json")


def register_panel(
    target: Any,
    store: WorkflowStore,
    settings: RunnerSettings,
    *,
    skip: Skip | None = None,
    runner_url: RunnerUrl = loopback_runner_url,
) -> tuple[int, LoopbackStreamRoutes]:
    """Mount the panel's routes; returns how many and the test-stream handler (to close it)."""
    loopback = LoopbackStreamRoutes(settings.effective, runner_url)
    specs = SettingsRoutes(settings).specs()
    specs += UiWorkflowRoutes(UiWorkflowStore(store.root.parent / "workflows-ui")).specs()
    specs += loopback.specs()
    return add_routes(target, specs, skip, lambda: settings.effective().token), loopback
