"""Runner configuration: one frozen, typed object, read from the environment or built in code.

Every ``TRICKLE_*`` setting of the pack is a field here (the live runner's ``TRICKLE_LR_*`` are
``liverunner/config.py``'s), with a documented default that serves the documented flow with zero
configuration (docs/runner.md, README "Configuration"). ``RunnerConfig.from_env()`` reads the
variables once at start (and, as fallbacks, the names users know from ai-runner and comfystream);
the standalone runner and the pack inside ComfyUI pass the object on from there; tests build
``RunnerConfig(...)`` directly with shortened timers. An invalid value raises
:class:`ValidationError` naming the variable, what was expected and what was received: the
standalone runner exits 2, ComfyUI logs one ERROR line and the pack serves no stream. Unknown
``TRICKLE_*`` variables are logged as a warning (a typo is not silent).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .channel_url import DEFAULT_CHANNEL_PATHS, ChannelUrlPolicy
from .errors import ValidationError
from .validation import choice, from_text, in_range, require

log = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EXECUTORS = ("private", "queue")  # how ComfyUI runs each frame (docs/comfyui.md)
MAX_OUTPUT_DIGESTS = 100_000
MAX_BATCH = 64  # TRICKLE_BATCH: the most frames run as one IMAGE batch
OTHER_OWNERS = ("TRICKLE_LR_",)  # variables of another configuration object (liverunner/config.py)
TOOLING = ("TRICKLE_CHECKPOINT_CACHE", "TRICKLE_SCREENSHOTS", "TRICKLE_THUMBNAILS")  # tests' own


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
    # inside ComfyUI only (the standalone runner checks them and has no use for them)
    executor: str = "private"  # private (a lease prompt, a private executor per stream) | queue
    frame_plan: bool = True  # private executor: run only the frame-dependent nodes per frame
    output_digests: int = 0  # sha1s of the last N published pictures per stream in the status
    batch: int = 1  # frame plans: the most waiting frames run as one IMAGE batch (1 = off)

    def __post_init__(self) -> None:
        require(self.capacity >= 1, "capacity", "an integer >= 1", self.capacity)
        choice("executor", self.executor, EXECUTORS, " or ".join(EXECUTORS))
        expected = f"an integer from 0 to {MAX_OUTPUT_DIGESTS}"
        in_range("output_digests", self.output_digests, 0, MAX_OUTPUT_DIGESTS, expected)
        in_range("batch", self.batch, 1, MAX_BATCH, f"off or a number 1..{MAX_BATCH}")
        for name in ("stale_timeout", "input_timeout", "status_interval", "byoc_register_interval"):
            value = getattr(self, name)
            require(value > 0, name, "a number of seconds > 0", value)
        require(
            self.max_body_bytes >= 1024, "max_body_bytes", "an integer >= 1024", self.max_body_bytes
        )
        require(self.byoc_price >= 0, "byoc_price", "an integer >= 0", self.byoc_price)
        require(
            self.byoc_price_scaling >= 1,
            "byoc_price_scaling",
            "an integer >= 1",
            self.byoc_price_scaling,
        )
        require(
            bool(self.channel_paths)
            and all(p == "*" or p.startswith("/") for p in self.channel_paths),
            "channel_paths",
            "path prefixes starting with / (or *)",
            list(self.channel_paths),
        )
        require(
            self.log_level.upper() in LOG_LEVELS, "log_level", "|".join(LOG_LEVELS), self.log_level
        )
        if self.byoc_orch_url:
            require(
                self.byoc_orch_url.startswith(("http://", "https://")),
                "byoc_orch_url",
                "an http(s) URL",
                self.byoc_orch_url,
            )
            require(bool(self.byoc_orch_secret), "byoc_orch_secret", "the orchestrator secret", "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> RunnerConfig:
        """Read the environment (``os.environ`` by default); keyword overrides win.

        An invalid value raises :class:`ValidationError` whose field is the variable read
        (``TRICKLE_CAPACITY``, or the fallback name that was set); a keyword override keeps
        the field's name. Unknown ``TRICKLE_*`` variables are logged as a warning."""
        source = os.environ if env is None else env
        defaults = cls()
        values: dict[str, Any] = {}
        read: dict[str, str] = {}  # field -> the variable its value came from
        for item in fields(cls):
            found = _lookup(source, item.name)
            if found is not None:
                read[item.name], raw = found
                values[item.name] = _convert(item.name, read[item.name], raw, defaults)
        known = {f"TRICKLE_{f.name.upper()}" for f in fields(cls)}
        unknown = sorted(
            k for k in source if k.startswith("TRICKLE_") and k not in known
            and k not in TOOLING and not k.startswith(OTHER_OWNERS)
        )  # fmt: skip
        if unknown:
            log.warning(
                "trickle-live: unknown settings ignored: %s (see README, Configuration)",
                ", ".join(unknown),
            )
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            names = {f.name for f in fields(cls)}
            if exc.field not in names or exc.field in overrides:
                raise
            variable = read.get(exc.field, f"TRICKLE_{exc.field.upper()}")
            raise ValidationError(variable, exc.expected, exc.received) from None

    def with_overrides(self, **changes: Any) -> RunnerConfig:
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """The effective values for status pages: secrets replaced by whether they are set."""
        shown = asdict(self)
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


def _lookup(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, stripped text) of the first of the field's names that is set, or None."""
    for key in (f"TRICKLE_{name.upper()}", *_ALIASES.get(name, ())):
        value = env.get(key)
        if value is not None and value.strip() != "":
            return key, value.strip()
    return None


def _convert(name: str, variable: str, raw: str, defaults: RunnerConfig) -> Any:
    if name == "executor":
        return raw.lower()  # the choice itself is checked with the others (__post_init__)
    if name == "batch":  # off (or 0, 1): one frame at a time
        if raw.lower() in ("off", "false", "no", "0"):
            return 1
        return from_text(variable, raw, 1)
    return from_text(variable, raw, getattr(defaults, name))
