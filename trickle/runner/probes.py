"""The orchestrator's startup probes, and what it will therefore advertise (verify without the
public dashboard; docs/operators.md).

A go-livepeer orchestrator with an aiModels ``url`` entry calls ``GET /health`` (every 0.5 s until
it answers non-ERROR JSON, for up to 2 min, else the whole node aborts its start-up), then
``/hardware/info`` and ``/version``, each with ``Authorization: Bearer <token>`` when the entry has a
``token``. From the answers it advertises ``live-video-to-video`` / the ``model_id`` *of the
hardware answer* (so the dashboard shows the runner's model id) with the ``/version`` version.
:class:`ProbeLog` records every probe (when, from where, which client, whether the token matched,
what was answered) and :meth:`ProbeLog.advertised` says what follows from them.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from aiohttp import web

PIPELINE = "live-video-to-video"
KINDS = ("health", "version", "hardware/info", "hardware/stats")
GO_CLIENT = "Go-http-client"  # go-livepeer's user agent


def kind_of(path: str) -> str | None:
    """``/trickle/runner/hardware/info`` → ``hardware/info``; None for other paths."""
    for kind in KINDS:
        if path == "/" + kind or path.endswith("/" + kind):
            return kind
    return None


def token_state(request: web.Request, token: str) -> str:
    """``none`` (no Authorization), ``ok``, ``wrong``, or ``not required`` (no token set)."""
    header = request.headers.get("Authorization", "")
    if not token:
        return "not required" if not header else "sent, not required"
    scheme, _, given = header.partition(" ")
    if not header:
        return "none"
    ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return "ok" if ok else "wrong"


def from_orchestrator(user_agent: str) -> bool:
    """go-livepeer probes with Go's default HTTP client; a ``curl`` or a browser is not an
    orchestrator, and must not make the status say the orchestrator's health gate passed."""
    return user_agent.startswith(GO_CLIENT)


class ProbeLog:
    """Probes by path (the last of each), and by kind: the orchestrator's (Go's HTTP client)
    apart from everyone else's (``curl``, a browser, a monitor), each with counts."""

    def __init__(self) -> None:
        self.by_path: dict[str, dict[str, Any]] = {}
        self.by_kind: dict[str, dict[str, Any]] = {}  # the orchestrator's probes only
        self.counts: dict[str, int] = {}
        self.others: dict[str, dict[str, Any]] = {}  # other callers' probes, by kind
        self.other_counts: dict[str, int] = {}

    def record(self, request: web.Request, answer: Any, token: str = "") -> dict[str, Any]:
        """Record a probe and ``answer``: exactly the body that was sent."""
        entry = {
            "time": int(time.time() * 1000),
            "path": request.path,
            "remote": request.remote,
            "user_agent": request.headers.get("User-Agent", ""),
            "token": token_state(request, token),
            "answer": answer,
        }
        self.by_path[request.path] = entry
        kind = kind_of(request.path)
        if kind is not None:
            if from_orchestrator(entry["user_agent"]):
                self.by_kind[kind] = entry
                self.counts[kind] = self.counts.get(kind, 0) + 1
            else:
                self.others[kind] = entry
                self.other_counts[kind] = self.other_counts.get(kind, 0) + 1
        return entry

    def advertised(self, model_id: str, version: str, token_set: bool) -> dict[str, Any]:
        """What an orchestrator that made these probes advertises, and what to check."""
        health = self.by_kind.get("health")
        hardware = self.by_kind.get("hardware/info")
        ver = self.by_kind.get("version")
        status = (health or {}).get("answer", {}).get("status") if health else None
        gate = "not seen" if health is None else ("failed" if status == "ERROR" else "passed")
        hw_model = (hardware or {}).get("answer", {}).get("model_id") if hardware else None
        seen_model = hw_model or model_id
        return {
            "health_gate": gate,
            "capability": f"{PIPELINE}/{seen_model}",
            "model_id": seen_model,
            "runner_version": (ver or {}).get("answer", {}).get("version") if ver else None,
            "orchestrator": _caller(health or hardware or ver),
            "probes_seen": dict(self.counts),
            "other_callers": {
                kind: {**_caller(entry), "count": self.other_counts[kind]}  # type: ignore[dict-item]
                for kind, entry in self.others.items()
            },
            "checks": _checks(gate, health, hardware, ver, token_set, model_id, version)
            + _other_checks(health, self.others),
        }


def _caller(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "remote": entry["remote"],
        "user_agent": entry["user_agent"],
        "go_livepeer": entry["user_agent"].startswith(GO_CLIENT),
        "last_seen": entry["time"],
    }


def _checks(
    gate: str,
    health: dict[str, Any] | None,
    hardware: dict[str, Any] | None,
    ver: dict[str, Any] | None,
    token_set: bool,
    model_id: str,
    version: str,
) -> list[str]:
    """Plain sentences an operator can act on."""
    out: list[str] = []
    if health is None:
        out.append(
            "No /health probe yet: the orchestrator has not started against this runner. Start it"
            " with -orchestrator -aiWorker -aiModels <file> and this URL in the entry's url."
        )
    elif gate == "failed":
        out.append("/health answered ERROR: an orchestrator starting now aborts its start-up.")
    for entry in (health, hardware, ver):
        if entry is not None and entry["token"] == "wrong":
            out.append(f"{entry['path']} carried a token that does not match this runner's token.")
        if entry is not None and entry["token"] == "none" and token_set:
            out.append(
                f"{entry['path']} came without a token, but this runner requires one: add "
                '"token" to the aiModels.json entry or starts will be refused with 401.'
            )
    if health is not None and hardware is None:
        out.append("No /hardware/info probe yet (the orchestrator calls it after /health).")
    if hardware is not None:
        out.append(
            f"The orchestrator reports live-video-to-video/{model_id}; gateways ask for that"
            " model_id. The aiModels.json entry's model_id should be the same."
        )
    if ver is not None:
        out.append(
            f"Runner version {version}: gateways with -aiMinRunnerVersion above it skip this node."
        )
    return out


def _other_checks(health: dict[str, Any] | None, others: dict[str, dict[str, Any]]) -> list[str]:
    other = others.get("health")
    if health is not None or other is None:
        return []
    agent = other["user_agent"] or "no user agent"
    return [
        f"/health was called by {agent} from {other['remote']}, which is not an orchestrator "
        "(go-livepeer probes as Go-http-client): the orchestrator's health gate is still unseen."
    ]
