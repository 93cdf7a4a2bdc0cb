"""Runner configuration: one frozen, typed object, read from the environment or built in code.

Every setting has a documented default that serves the documented flow with zero configuration
(docs/runner.md). ``RunnerConfig.from_env()`` reads ``TRICKLE_*`` variables (and, as fallbacks, the
names users know from ai-runner and comfystream); tests build ``RunnerConfig(...)`` directly with
shortened timers. Invalid values raise :class:`ValidationError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .channel_url import DEFAULT_CHANNEL_PATHS, ChannelUrlPolicy
from .envparse import convert_env
from .errors import ValidationError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class RunnerConfig:
    """Settings of the runner API and its stream sessions (see docs/runner.md for the table)."""

    token: str = ""  # Bearer token required on start/BYOC routes when set
    model_id: str = "comfystream"  # reported by /version and /hardware/*
    workflow: str = ""  # default live workflow: a saved/bundled name or an API-format JSON file
    capacity: int = 1  # concurrent streams
    stale_timeout: float = 15.0  # no input this long (or control ended) -> stream may be pre-empted
    input_timeout: float = 60.0  # no input this long -> the stream stops
    status_interval: float = 10.0  # seconds between `status` events
    verify_tls: bool = False  # certificate checks for trickle URLs (orchestrators self-sign)
    allowed_hosts: tuple[str, ...] = ()  # trickle URL hosts accepted; empty = any
    channel_paths: tuple[str, ...] = DEFAULT_CHANNEL_PATHS  # trickle URL path prefixes; "*" = any
    allow_url_userinfo: bool = False  # channel URLs may carry user:password@
    allow_url_query: bool = False  # channel URLs may carry a query string or fragment
    max_body_bytes: int = 4 << 20  # request body limit of every route
    byoc_orch_url: str = ""  # orchestrator to self-register with (BYOC); empty = off
    byoc_orch_secret: str = ""
    byoc_capability: str = "comfystream"
    byoc_capability_url: str = ""  # our URL as the orchestrator reaches it
    byoc_price: int = 0  # price_per_unit
    byoc_price_scaling: int = 1
    byoc_currency: str = "wei"
    byoc_register_interval: float = 60.0
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)  # unknown TRICKLE_* seen (logged)

    def __post_init__(self) -> None:
        _check(self.capacity >= 1, "capacity", "an integer >= 1", self.capacity)
        for name in ("stale_timeout", "input_timeout", "status_interval", "byoc_register_interval"):
            value = getattr(self, name)
            _check(value > 0, name, "a number of seconds > 0", value)
        _check(
            self.max_body_bytes >= 1024, "max_body_bytes", "an integer >= 1024", self.max_body_bytes
        )
        _check(self.byoc_price >= 0, "byoc_price", "an integer >= 0", self.byoc_price)
        _check(
            self.byoc_price_scaling >= 1,
            "byoc_price_scaling",
            "an integer >= 1",
            self.byoc_price_scaling,
        )
        _check(
            bool(self.channel_paths)
            and all(p == "*" or p.startswith("/") for p in self.channel_paths),
            "channel_paths",
            "path prefixes starting with / (or *)",
            list(self.channel_paths),
        )
        _check(
            self.log_level.upper() in LOG_LEVELS, "log_level", "|".join(LOG_LEVELS), self.log_level
        )
        if self.byoc_orch_url:
            _check(
                self.byoc_orch_url.startswith(("http://", "https://")),
                "byoc_orch_url",
                "an http(s) URL",
                self.byoc_orch_url,
            )
            _check(bool(self.byoc_orch_secret), "byoc_orch_secret", "the orchestrator secret", "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> RunnerConfig:
        """Read the environment (``os.environ`` by default); keyword overrides win."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name == "extra":
                continue
            raw = _lookup(source, item.name)
            if raw is not None:
                values[item.name] = _convert(item.name, raw, getattr(cls(), item.name))
        known = {f"TRICKLE_{f.name.upper()}" for f in fields(cls)}
        values["extra"] = {
            k: v for k, v in source.items() if k.startswith("TRICKLE_") and k not in known
        }
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> RunnerConfig:
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """The effective values for status pages: secrets replaced by whether they are set."""
        shown = asdict(self)
        shown.pop("extra", None)
        for secret in ("token", "byoc_orch_secret"):
            shown[secret] = "(set)" if shown[secret] else ""
        shown["allowed_hosts"] = list(self.allowed_hosts)
        shown["channel_paths"] = list(self.channel_paths)
        return shown

    def host_allowed(self, host: str | None) -> bool:
        return self.channel_policy().host_allowed(host)

    def channel_policy(self) -> ChannelUrlPolicy:
        """What a start request's channel URLs may be (``trickle.channel_url``)."""
        return ChannelUrlPolicy(
            paths=self.channel_paths,
            allowed_hosts=self.allowed_hosts,
            allow_userinfo=self.allow_url_userinfo,
            allow_query=self.allow_url_query,
        )


# Fallback names users were told by ai-runner / comfystream / pytrickle docs.
_ALIASES: dict[str, tuple[str, ...]] = {
    "token": ("AUTH_TOKEN",),
    "model_id": ("MODEL_ID",),
    "byoc_orch_url": ("ORCH_URL",),
    "byoc_orch_secret": ("ORCH_SECRET",),
    "byoc_capability": ("CAPABILITY_NAME",),
    "byoc_capability_url": ("CAPABILITY_URL",),
}


def _lookup(env: Mapping[str, str], name: str) -> str | None:
    for key in (f"TRICKLE_{name.upper()}", *_ALIASES.get(name, ())):
        value = env.get(key)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def _convert(name: str, raw: str, default: Any) -> Any:
    return convert_env(f"TRICKLE_{name.upper()}", raw, default)


def _check(ok: bool, name: str, expected: str, received: Any) -> None:
    if not ok:
        raise ValidationError(name, expected, received)
