"""Live-runner settings: one frozen, typed object, read from ``TRICKLE_LR_*`` variables.

It composes with the runner's :class:`~..runner.config.RunnerConfig` (token, TLS, timers of the
stream engine live there); this object holds only what the go-livepeer live-runner path adds: its
own port, the app prefix, registration (static and dynamic) and pricing. Invalid values raise
:class:`ValidationError` naming the variable. The orchestrator secret is a secret: ``public()``
shows only whether it is set, and ``repr`` never prints it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..media.resize import MAX_SIDE, MIN_SIDE
from ..session.shape import MAX_FPS
from ..validation import from_text, require

ENV_PREFIX = "TRICKLE_LR_"
PRICE_UNITS = ("hour", "720p", "fixed")
METADATA_MAX_BYTES = 1024


@dataclass(frozen=True)
class LiveRunnerConfig:
    """Settings of the live-runner app (see docs/liverunner.md for the table)."""

    port: int = 0  # its own port; 0 = the live-runner site is off
    host: str = "127.0.0.1"  # bind address of that site (0.0.0.0 if the O is on another host)
    prefix: str = "/trickle-live/lr"  # app routes live under this path
    capacity: int = 1  # concurrent sessions
    model_id: str = "comfyui"  # app = live-video-to-video/<model_id>
    label: str = "trickle-live"  # static registration label (no '/')
    runner_url: str = (
        ""  # our app URL as the orchestrator reaches it; default from host/port/prefix
    )
    version: str = __version__
    metadata: str = ""  # public text; default: a small JSON document of public facts
    price: str = ""  # USD decimal; required (> 0) on-chain, ignored offchain
    price_unit: str = "hour"  # hour | 720p | fixed
    gpu_id: str = ""
    gpu_name: str = ""
    gpu_vram_mb: int = 0
    # the picture sessions get when the client's start asks for none (0 = follow the input);
    # advertised in the metadata and GET schema
    width: int = 0
    height: int = 0
    fps: float = 0.0
    idle_timeout: float = 30.0  # no input this long -> stop and self-release
    start_timeout: float = 10.0  # channel requests to the orchestrator
    verify_tls: bool = False  # certificate checks on orchestrator callbacks
    control_hosts: str = ""  # comma list of hosts Livepeer-Session-Control may name; "" = any
    orch_url: str = ""  # dynamic registration: orchestrator base URL; empty = off
    orch_secret: str = field(default="", repr=False)  # the O's -orchSecret (a secret)
    runner_id: str = ""  # proposed runner id (pinning it delays re-registration ~20 s)
    bootstrap_max_backoff: float = 10.0  # cap of the retry delay while (re)registering
    cli_url: str = "http://127.0.0.1:7935"  # the O's CLI listener, for /registerLiveRunners

    def __post_init__(self) -> None:
        require(0 <= self.port <= 65535, "port", "0..65535", self.port)
        require(self.capacity >= 1, "capacity", "an integer >= 1", self.capacity)
        require(
            self.prefix == "" or (self.prefix.startswith("/") and not self.prefix.endswith("/")),
            "prefix",
            "'' or a path starting with / and not ending with /",
            self.prefix,
        )
        require(bool(self.model_id.strip()), "model_id", "a non-empty model id", self.model_id)
        require(
            bool(self.label) and "/" not in self.label and self.label == self.label.strip(),
            "label",
            "a trimmed label without '/'",
            self.label,
        )
        require(
            self.price_unit in PRICE_UNITS, "price_unit", "|".join(PRICE_UNITS), self.price_unit
        )
        if self.price:
            require(_positive_decimal(self.price), "price", "a positive decimal (USD)", self.price)
        require(
            len(self.metadata.encode()) <= METADATA_MAX_BYTES,
            "metadata",
            f"at most {METADATA_MAX_BYTES} UTF-8 bytes",
            self.metadata,
        )
        for name in ("width", "height"):
            value = getattr(self, name)
            ok = value == 0 or (MIN_SIDE <= value <= MAX_SIDE and value % 2 == 0)
            require(
                ok, name, f"0 (follow the input) or an even integer {MIN_SIDE}..{MAX_SIDE}", value
            )
        ok_fps = self.fps == 0 or 0 < self.fps <= MAX_FPS
        require(ok_fps, "fps", f"0 (follow the input) or a number in (0, {MAX_FPS:g}]", self.fps)
        for name in ("idle_timeout", "start_timeout", "bootstrap_max_backoff"):
            require(getattr(self, name) > 0, name, "a number of seconds > 0", getattr(self, name))
        require(self.gpu_vram_mb >= 0, "gpu_vram_mb", "an integer >= 0", self.gpu_vram_mb)
        for name in ("runner_url", "orch_url", "cli_url"):
            value = getattr(self, name)
            if value:
                require(_http_url(value), name, "an http(s) URL", value)
        if self.orch_url:
            require(bool(self.orch_secret), "orch_secret", "the orchestrator secret", "")

    @property
    def app(self) -> str:
        return f"live-video-to-video/{self.model_id.strip()}"

    def video_defaults(self) -> dict[str, Any]:
        """Start parameters applied when a client asks for none (``width``/``height``/
        ``max_framerate``); empty when sessions follow the input."""
        found: dict[str, Any] = {"width": self.width, "height": self.height}
        found["max_framerate"] = self.fps
        return {k: v for k, v in found.items() if v}

    def control_host_allowed(self, host: str | None) -> bool:
        """Whether a session-control URL may point at ``host`` (callbacks carry the token)."""
        allowed = {h.strip().lower() for h in self.control_hosts.split(",") if h.strip()}
        return not allowed or (host or "").lower() in allowed

    @property
    def dynamic(self) -> bool:
        """Whether our own heartbeat client registers with an orchestrator."""
        return bool(self.orch_url)

    def effective_runner_url(self, bound_port: int | None = None) -> str:
        """The app's URL as the orchestrator reaches it (``runner_url`` or one made from the site)."""
        if self.runner_url:
            return self.runner_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{bound_port or self.port}{self.prefix}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> LiveRunnerConfig:
        """Read ``TRICKLE_LR_<FIELD>`` (``os.environ`` by default); keyword overrides win."""
        source = os.environ if env is None else env
        defaults = cls()
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = source.get(ENV_PREFIX + item.name.upper())
            if raw is not None and raw.strip() != "":
                values[item.name] = _convert(item.name, raw.strip(), getattr(defaults, item.name))
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> LiveRunnerConfig:
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """Effective values for status pages; the secret becomes whether it is set."""
        shown = asdict(self)
        shown["orch_secret"] = "(set)" if self.orch_secret else ""
        shown["app"] = self.app
        return shown


def _positive_decimal(text: str) -> bool:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False
    return value.is_finite() and value > 0


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _convert(name: str, raw: str, default: Any) -> Any:
    return from_text(ENV_PREFIX + name.upper(), raw, default)
