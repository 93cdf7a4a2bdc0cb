"""What we tell an orchestrator about ourselves: the static ``runners.json`` entry, the
``POST /registerLiveRunners`` command, and the dynamic heartbeat body.

Field names and rules follow go-livepeer ``doc/live-runner.md`` (reference
livepeer-docs-and-live-runners §6): ``label`` (label routing gives stable ``/apps/{label}/…``
URLs), ``runner_url``, ``health_url`` (root-relative to ``runner_url`` when it starts with ``/``,
so we give it absolute), ``app`` = ``live-video-to-video/<model id>``, ``version``, public
``metadata`` (≤ 1024 bytes, never a secret), ``mode`` = ``persistent``, ``capacity``, ``gpu``,
``price_info`` (USD per ``hour``, per ``720p`` or ``fixed``; required and positive on-chain).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..jsonsafe import dumps
from .config import METADATA_MAX_BYTES, LiveRunnerConfig


def price_info(cfg: LiveRunnerConfig) -> dict[str, Any] | None:
    """``{"price", "currency": "usd", "unit"}`` or None when no price is configured (offchain)."""
    if not cfg.price:
        return None
    value = Decimal(cfg.price)
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    return {"price": number, "currency": "usd", "unit": cfg.price_unit}


def gpu(cfg: LiveRunnerConfig) -> dict[str, Any] | None:
    found = {"id": cfg.gpu_id, "name": cfg.gpu_name, "vram_mb": cfg.gpu_vram_mb}
    kept = {k: v for k, v in found.items() if v}
    return kept or None


def metadata(cfg: LiveRunnerConfig, extra: Mapping[str, Any] | None = None) -> str:
    """The public metadata string: the configured text, else a small JSON document of public
    facts: pack, version, model id, the workflow, the picture (``width``/``height``/``fps``
    when configured), the live parameters (``params``: name → ``[type, default, min, max]``)
    and where the full schema is (``/schema`` under a session's ``app_url``). Kept within go-livepeer's 1024 bytes by dropping
    detail in that order: parameter bounds and defaults (names stay), then the rest of
    ``extra``; the full list is always at ``GET {prefix}/schema``."""
    if cfg.metadata:
        return cfg.metadata
    facts: dict[str, Any] = {
        "pack": "trickle-live",
        "version": cfg.version,
        "model_id": cfg.model_id,
        "schema": "/schema",  # GET {app_url}/schema: the full parameter list
    }
    for key, value in (("width", cfg.width), ("height", cfg.height), ("fps", cfg.fps)):
        if value:
            facts[key] = int(value) if float(value).is_integer() else value
    rest = {k: v for k, v in (extra or {}).items() if v not in (None, "") and k != "params"}
    params = list((extra or {}).get("params") or [])
    full = {
        p["name"]: [p.get("type"), p.get("default"), p.get("min"), p.get("max")] for p in params
    }
    for shown_params in (full, sorted(full)):
        candidate = {**facts, **rest}
        if shown_params:
            candidate["params"] = shown_params
        text = _compact(candidate)
        if len(text.encode()) <= METADATA_MAX_BYTES:
            return text
    while rest:
        rest.popitem()
        text = _compact({**facts, **rest})
        if len(text.encode()) <= METADATA_MAX_BYTES:
            return text
    return _compact(facts)


def _compact(facts: Mapping[str, Any]) -> str:
    return dumps(facts, sort_keys=True)


def _common(
    cfg: LiveRunnerConfig, runner_url: str, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "runner_url": runner_url,
        "app": cfg.app,
        "version": cfg.version,
        "metadata": metadata(cfg, extra),
        "mode": "persistent",
        "capacity": cfg.capacity,
    }
    if (g := gpu(cfg)) is not None:
        body["gpu"] = g
    if (p := price_info(cfg)) is not None:
        body["price_info"] = p
    return body


def static_entry(
    cfg: LiveRunnerConfig, runner_url: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One ``runners[]`` entry of a static configuration (``-liveRunnerConfig`` file)."""
    entry: dict[str, Any] = {"label": cfg.label, "routing": "label"}
    entry.update(_common(cfg, runner_url, extra))
    entry["health_url"] = runner_url.rstrip("/") + "/health"
    entry["healthy_status_code"] = 200
    return entry


def static_config(
    cfg: LiveRunnerConfig, runner_url: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The whole ``runners.json`` document."""
    return {"runners": [static_entry(cfg, runner_url, extra)]}


def register_command(
    cfg: LiveRunnerConfig, runner_url: str, extra: Mapping[str, Any] | None = None
) -> str:
    """The ``curl`` command that upserts this runner on the O's CLI port (no auth there: loopback)."""
    document = dumps(static_config(cfg, runner_url, extra))
    target = cfg.cli_url.rstrip("/") + "/registerLiveRunners"
    return (
        f"curl -sS -X POST {shlex.quote(target)} -H 'Content-Type: application/json' "
        f"--data-binary {shlex.quote(document)}"
    )


def heartbeat_body(
    cfg: LiveRunnerConfig,
    runner_url: str,
    *,
    status: str,
    session_ids: Sequence[str],
    runner_id: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``LiveRunnerHeartbeatRequest``: the bootstrap and every later heartbeat."""
    body = _common(cfg, runner_url, extra)
    body["status"] = status.strip().lower()
    body["label"] = cfg.label
    if runner_id:
        body["runner_id"] = runner_id
    if session_ids:
        body["session_ids"] = list(session_ids)
    return body


def registration_info(
    cfg: LiveRunnerConfig, runner_url: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the status API and editor panel show: the entry, the command, how to run the O."""
    return {
        "app": cfg.app,
        "runner_url": runner_url,
        "runners_json": static_config(cfg, runner_url, extra),
        "register_command": register_command(cfg, runner_url, extra),
        "orchestrator_flags": "-orchestrator -useLiveRunners -orchSecret <secret> "
        "-serviceAddr <public host:port> -liveRunnerAddr <URL runners reach the O at>",
        "pricing": "price_info is required and positive on-chain (USD per hour, per 720p, or "
        "fixed); offchain it is ignored",
    }
