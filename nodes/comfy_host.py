"""The driver's only door into ComfyUI internals (``server``, ``execution``, ``nodes``).

Everything version-dependent is here: the queue item's tuple shape (5 fields up to late 2025, 6
with ``sensitive`` since; a wrong shape kills ComfyUI's worker thread), ``validate_prompt``'s
signature, and the ``queue_updated`` hook used to learn when prompts finish and to coalesce the
``status`` broadcasts that stream prompts would otherwise send to every editor tab (3 per frame).
The hooks on ComfyUI's server (``queue_updated``, ``send_sync``, a root-logger filter) are
installed when the first stream starts and undone when the last one ends and no prompt of ours is
left to clean up (docs/comfyui.md, "What the pack changes in ComfyUI's process").
ComfyUI modules are imported inside functions; tests can pass stand-ins for ``server``/``execution``.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..trickle.errors import ValidationError
from .graph import Workflow

log = logging.getLogger(__name__)

PROMPT_PREFIX = "trickle-"
CLIENT_ID = f"trickle-live-{uuid.uuid4().hex[:12]}"  # private: no editor tab listens to it
STATUS_INTERVAL = 0.25  # at most 4 coalesced `status` broadcasts a second during a stream


def detect_item_length(execution: Any, server_module: Any = None) -> int:
    """Fields in a queue item for this ComfyUI, from what it has, not from its source text.

    Since late 2025 ``/prompt`` moves the extra-data keys named by
    ``execution.SENSITIVE_EXTRA_DATA_KEYS`` (API keys) into a 6th field that the worker reads and
    the ``/queue`` answers strip (``server._remove_sensitive_from_queue``, probed with an item).
    Without either, items have 5 fields."""
    if hasattr(execution, "SENSITIVE_EXTRA_DATA_KEYS"):
        return 6
    strip = getattr(server_module, "_remove_sensitive_from_queue", None)
    if callable(strip):
        probe = (0, "probe", {}, {}, [], {"key": "value"})
        try:
            if list(strip([probe])) == [probe[:5]]:
                return 6
        except Exception:  # not the function we know: no evidence either way
            log.debug("trickle-live: _remove_sensitive_from_queue probe failed", exc_info=True)
    return 5


def build_item(
    length: int,
    number: float,
    prompt_id: str,
    prompt: Workflow,
    extra_data: dict[str, Any],
    outputs: list[str],
) -> tuple[Any, ...]:
    item: tuple[Any, ...] = (number, prompt_id, prompt, extra_data, outputs)
    if length >= 6:
        item += ({},)  # sensitive extra data: none
    return item


def validation_error(error: Any, node_errors: Any) -> ValidationError:
    """ComfyUI's ``validate_prompt`` answer → ValidationError naming the node input."""
    for nid, info in (node_errors or {}).items():
        for err in info.get("errors", []):
            extra = err.get("extra_info", {}) or {}
            field_ = f"{nid}.{extra.get('input_name', '')}".rstrip(".")
            expected = f"{info.get('class_type', '?')}: {err.get('message', 'valid input')}"
            return ValidationError(
                field_, expected, extra.get("received_value", err.get("details"))
            )
    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    details = error.get("details", "") if isinstance(error, dict) else ""
    return ValidationError("prompt", f"a valid workflow ({message})", details)


def copy_prompt(prompt: Workflow) -> Workflow:
    """Fresh node dicts: ComfyUI writes ``is_changed`` into the prompt it executes."""
    return {nid: {**node, "inputs": dict(node.get("inputs", {}))} for nid, node in prompt.items()}


@dataclass
class PromptResult:
    ok: bool
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def result_from_history(entry: dict[str, Any]) -> PromptResult:
    status = entry.get("status") or {}
    ok = status.get("status_str") == "success"
    for event, data in status.get("messages", []) or []:
        if event == "execution_error":
            where = f"{data.get('node_type', '?')} (node {data.get('node_id', '?')})"
            detail = {k: data.get(k) for k in ("node_id", "node_type", "exception_type")}
            return PromptResult(
                False, f"{where}: {data.get('exception_message', '').strip()}", detail
            )
        if event == "execution_interrupted":
            return PromptResult(False, "interrupted", {"node_id": data.get("node_id")})
    return PromptResult(ok, None if ok else "workflow failed")


class _Patch:
    """One attribute of ComfyUI's server replaced by ``replacement`` while installed.

    ``install`` keeps what was there (ComfyUI's method, or another pack's wrapper); ``uninstall``
    puts it back — unless somebody wrapped ours since, then ours stays and passes every call
    through (taking it out would drop their wrapper). Installing twice changes nothing."""

    def __init__(self, target: Any, name: str, replacement: Any) -> None:
        self.target = target
        self.name = name
        self.replacement = replacement
        self.original: Any = getattr(target, name)
        self._own = False  # the attribute was the instance's own (not the class's method)

    @property
    def installed(self) -> bool:
        return getattr(self.target, self.name, None) is self.replacement

    def install(self) -> None:
        if self.installed:
            return
        self._own = self.name in getattr(self.target, "__dict__", {})
        self.original = getattr(self.target, self.name)
        setattr(self.target, self.name, self.replacement)

    def uninstall(self) -> None:
        if not self.installed:
            return
        if self._own:
            setattr(self.target, self.name, self.original)
        else:
            delattr(self.target, self.name)  # the class's method shows through again


class _Coalescer:
    """Replaces ``server.queue_updated``: tells listeners, throttles broadcasts while streaming."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.patch = _Patch(server, "queue_updated", self)
        self.listeners: list[Callable[[], object]] = []
        self.streams = 0
        self.lock = threading.Lock()
        self.last_sent = 0.0
        self.pending = False
        self.suppressed = 0
        self.janitor: Callable[[], None] = lambda: None

    def original(self) -> None:
        self.patch.original()

    def __call__(self) -> None:
        self.janitor()
        for listener in list(self.listeners):
            listener()
        if self.streams <= 0:
            self.original()
            return
        with self.lock:
            now = time.monotonic()
            if now - self.last_sent >= STATUS_INTERVAL:
                self.last_sent = now
            else:
                self.suppressed += 1
                if self.pending:
                    return
                self.pending = True
                delay = STATUS_INTERVAL - (now - self.last_sent)
                self.server.loop.call_soon_threadsafe(
                    self.server.loop.call_later, delay, self._trailing
                )
                return
        self.original()

    def _trailing(self) -> None:
        with self.lock:
            self.pending = False
            self.last_sent = time.monotonic()
        self.original()


class _QuietSends:
    """Replaces ``server.send_sync``: messages for the private stream client are dropped here.

    ComfyUI sends about ten per prompt (``executing``, ``progress_state`` per node start and end,
    ``executed``, ``execution_success``…), each a ``call_soon_threadsafe`` from the worker thread
    that wakes the server loop, which then finds no socket with that client id and drops it
    (``send_json``: ``elif sid in self.sockets``). Dropping them before the wake-up is the same
    outcome without the self-pipe write and the GIL hand-over per message."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.patch = _Patch(server, "send_sync", self)
        self.dropped = 0

    def __call__(self, event: Any, data: Any, sid: Any = None) -> None:
        if sid == CLIENT_ID and sid not in self.server.sockets:
            self.dropped += 1
            return
        self.patch.original(event, data, sid)


class _LogFilter(logging.Filter):
    """Drops ComfyUI's per-prompt "Prompt executed in ..." line for stream prompts."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Prompt executed in"):
            return True
        return not str(getattr(self.server, "last_prompt_id", "")).startswith(PROMPT_PREFIX)


class ComfyHost:
    """ComfyUI's queue, validation and node schemas, for the driver (used on the server loop)."""

    _instance: ComfyHost | None = None

    def __init__(self, server: Any, execution: Any, node_classes: dict[str, Any]) -> None:
        self.server = server
        self.execution = execution
        self.node_classes = node_classes
        self.queue = server.prompt_queue
        self.loop = server.loop
        self.item_length = detect_item_length(execution, sys.modules.get(type(server).__module__))
        self._validate_args = len(inspect.signature(execution.validate_prompt).parameters)
        self.coalescer = _Coalescer(server)
        self._orphans: set[str] = set()
        self.coalescer.janitor = self._drop_orphans
        self.quiet = _QuietSends(server) if hasattr(server, "sockets") else None
        self.log_filter = _LogFilter(server)
        self.installs = 0  # how often the patches were installed (once per busy period)
        self._patched = False
        self._patch_lock = threading.Lock()
        log.info("trickle-live: ComfyUI queue items have %d fields", self.item_length)

    @classmethod
    def get(cls) -> ComfyHost:
        """The process-wide host of the running ComfyUI."""
        if cls._instance is None:
            import importlib

            import execution
            from server import PromptServer

            comfy_nodes = importlib.import_module("nodes")  # ComfyUI's nodes.py, not this folder
            cls._instance = cls(PromptServer.instance, execution, comfy_nodes.NODE_CLASS_MAPPINGS)
        return cls._instance

    def schemas(self, class_type: str) -> dict[str, Any] | None:
        cls = self.node_classes.get(class_type)
        return None if cls is None else dict(cls.INPUT_TYPES())

    def missing_types(self, workflow: Workflow) -> list[str]:
        return sorted({n["class_type"] for n in workflow.values()} - set(self.node_classes))

    async def validate(self, workflow: Workflow) -> list[str]:
        """ComfyUI's own validation; returns the output node ids. Raises ValidationError."""
        missing = self.missing_types(workflow)
        if missing:
            raise ValidationError("prompt", "node types installed in this ComfyUI", missing)
        args: list[Any] = [f"{PROMPT_PREFIX}validate", copy_prompt(workflow)]
        if self._validate_args >= 3:
            args.append(None)
        valid = await self.execution.validate_prompt(*args)
        if not valid[0]:
            raise validation_error(valid[1], valid[3])
        return list(valid[2])

    def put(self, prompt_id: str, workflow: Workflow, outputs: list[str]) -> None:
        """Queue a validated prompt (call on the server loop, like ``/prompt`` does)."""
        number = self.server.number
        self.server.number += 1
        extra = {"client_id": CLIENT_ID, "create_time": int(time.time() * 1000)}
        item = build_item(
            self.item_length, number, prompt_id, copy_prompt(workflow), extra, outputs
        )
        self.queue.put(item)

    def take_result(self, prompt_id: str) -> PromptResult | None:
        """The finished prompt's result, removed from ComfyUI's history; None while not finished."""
        with self.queue.mutex:
            entry = self.queue.history.pop(prompt_id, None)
        return None if entry is None else result_from_history(entry)

    def is_pending(self, prompt_id: str) -> bool:
        running, queued = self.queue.get_current_queue_volatile()
        return any(item[1] == prompt_id for item in list(running) + list(queued))

    def cancel_queued(self, prompt_ids: set[str]) -> int:
        removed = 0
        while self.queue.delete_queue_item(lambda item: item[1] in prompt_ids):
            removed += 1
        return removed

    def add_listener(self, listener: Callable[[], object], *, stream: bool = True) -> None:
        """Call ``listener`` on every queue change; ``stream``: a running stream (status
        broadcasts are coalesced while there is one). The first listener installs the patches
        on ComfyUI's server (docs/comfyui.md, "What the pack changes in ComfyUI's process")."""
        self.coalescer.listeners.append(listener)
        if stream:
            self.coalescer.streams += 1
        self._update_patches()

    def remove_listener(self, listener: Callable[[], object], *, stream: bool = True) -> None:
        """The last listener gone (and no prompt of ours left to clean up): patches undone."""
        if listener in self.coalescer.listeners:
            self.coalescer.listeners.remove(listener)
            if stream:
                self.coalescer.streams -= 1
                if self.coalescer.streams == 0:
                    self.coalescer.original()  # editors see the final queue state at once
            self._update_patches()

    def patches(self) -> dict[str, Any]:
        """For the status page: which of ComfyUI's server attributes are replaced now."""
        return {
            "queue_updated": self.coalescer.patch.installed,
            "send_sync": self.quiet is not None and self.quiet.patch.installed,
            "log_filter": self.log_filter in logging.getLogger().filters,
            "installs": self.installs,
        }

    def _update_patches(self) -> None:
        """Installed while a listener or an orphaned prompt of ours exists, undone after."""
        with self._patch_lock:
            busy = bool(self.coalescer.listeners or self._orphans)
            if busy == self._patched:
                return
            self._patched = busy
            root = logging.getLogger()
            patches = [self.coalescer.patch] + ([self.quiet.patch] if self.quiet else [])
            if busy:
                self.installs += 1
                for patch in patches:
                    patch.install()
                root.addFilter(self.log_filter)
            else:
                for patch in patches:
                    patch.uninstall()
                root.removeFilter(self.log_filter)

    def forget(self, prompt_id: str) -> None:
        """Remove this prompt's history entry now, or as soon as it finishes. A prompt that is
        neither finished nor queued or running (one just taken out of the queue) never gets an
        entry: waiting for it would keep the patches installed for good."""
        with self.queue.mutex:  # ComfyUI moves a prompt from running to history holding it
            if self.queue.history.pop(prompt_id, None) is None and self.is_pending(prompt_id):
                self._orphans.add(prompt_id)
        self._update_patches()

    def _drop_orphans(self) -> None:
        if not self._orphans:
            return
        with self.queue.mutex:  # re-entrant: task_done calls us holding it
            for pid in [p for p in self._orphans if p in self.queue.history]:
                del self.queue.history[pid]
                self._orphans.discard(pid)
        if not self._orphans:
            self._update_patches()
