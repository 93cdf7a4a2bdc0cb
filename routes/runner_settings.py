"""Runner settings a user sets in the editor panel, kept in ComfyUI's user directory.

``<user dir>/default/trickle-live/settings.json`` holds the values saved from the panel; they
override the environment (``TRICKLE_*``) and the defaults. Each change is applied at once to the
running runner API and stream manager: it takes effect for the next start request (a running
stream keeps the values it started with). The BYOC and log settings are read only at start-up and
shown read-only (environment only; restart ComfyUI to change them).

| method | path | does |
| --- | --- | --- |
| GET | /trickle/settings | saved values (token masked), effective config, where each value came from |
| POST | /trickle/settings | body ``{"<key>": value or null, ...}``: save (null removes) and apply; |
| | | when a token is set, only with it (``Authorization: Bearer``), else 401 |
| GET | /trickle/setup | the ``aiModels.json`` entry for this machine and the effective config |
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiohttp import web

from ..trickle.config import RunnerConfig
from ..trickle.errors import ValidationError
from ..trickle.runner.csrf import has_token
from ..trickle.runner.http import ApiError, Handler, guarded, json_ok, read_json, validation_error
from ..trickle.validation import boolean, integer, number, string, string_list

log = logging.getLogger(__name__)

# What the panel may change; all of them apply to the next stream without a restart.
EDITABLE: dict[str, type] = {
    "token": str,
    "model_id": str,
    "capacity": int,
    "stale_timeout": float,
    "input_timeout": float,
    "verify_tls": bool,
    "allowed_hosts": tuple,
}
SECRETS = ("token",)
MAX_BODY = 64 * 1024
RUNNER_PATH = "/trickle/runner"


def _coerce(key: str, value: Any) -> Any:
    kind = EDITABLE[key]
    if kind is bool:
        return boolean(key, value)
    if kind is tuple:
        return string_list(key, value, "a list of host names (or a comma-separated string)")
    if kind is str:
        return string(key, value, "a string of at most 256 characters", max_len=256).strip()
    amount = number(key, value)
    if kind is int:
        return integer(key, value, whole_floats=True)
    return amount


class RunnerSettings:
    """The saved settings, the effective configuration, and the live runner they apply to."""

    def __init__(
        self, path: Path, env: dict[str, str] | None = None, base: RunnerConfig | None = None
    ) -> None:
        self.path = Path(path)
        self.env = env
        self.base = base  # the environment's configuration, read once (on first use if None)
        self.targets: list[Any] = []  # objects with a ``config`` attribute (RunnerAPI, manager)

    def environment(self) -> RunnerConfig:
        """The configuration from the environment and the defaults, read once."""
        if self.base is None:
            self.base = RunnerConfig.from_env(self.env)
        return self.base

    def saved(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("trickle-live: ignoring unreadable settings %s: %s", self.path, exc)
            return {}
        values: dict[str, Any] = {}
        for key, value in (data if isinstance(data, dict) else {}).items():
            if key in EDITABLE:
                try:
                    values[key] = _coerce(key, value)
                except ValidationError as exc:
                    log.warning("trickle-live: ignoring setting %s: %s", key, exc)
        return values

    def effective(self) -> RunnerConfig:
        """Environment and defaults, overridden by the saved settings."""
        base = self.environment()
        try:
            return base.with_overrides(**self.saved())
        except ValidationError as exc:
            log.warning("trickle-live: saved settings rejected (%s); using the environment", exc)
            return base

    def attach(self, *targets: Any) -> None:
        """Objects whose ``config`` is replaced on every change (the RunnerAPI, its manager)."""
        self.targets.extend(targets)

    def update(self, changes: dict[str, Any]) -> RunnerConfig:
        """Validate, save and apply ``changes`` (a None value removes the saved key)."""
        values = self.saved()
        for key, value in changes.items():
            if key not in EDITABLE:
                raise ValidationError(key, "one of " + ", ".join(EDITABLE), "an unknown key")
            if value is None:
                values.pop(key, None)
            else:
                values[key] = _coerce(key, value)
        config = self.environment().with_overrides(**values)  # validates
        self._write(values)
        for target in self.targets:
            target.config = config
        log.info("trickle-live: runner settings changed: %s", ", ".join(sorted(changes)) or "-")
        return config

    def sources(self) -> dict[str, str]:
        saved = self.saved()
        env = os.environ if self.env is None else self.env
        result = {}
        for item in fields(RunnerConfig):
            if item.name in saved:
                result[item.name] = "settings"
            elif f"TRICKLE_{item.name.upper()}" in env:
                result[item.name] = "environment"
            else:
                result[item.name] = "default"
        return result

    def _write(self, values: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def ai_models_entry(base_url: str, config: RunnerConfig) -> dict[str, Any]:
    """The orchestrator's ``aiModels.json`` entry pointing at this runner."""
    entry: dict[str, Any] = {
        "pipeline": "live-video-to-video",
        "model_id": config.model_id,
        "url": base_url,
        "warm": True,
        "price_per_unit": 0,
    }
    if config.token:
        entry["token"] = "<the runner token you set>"
    return entry


class SettingsRoutes:
    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings

    def _view(self, config: RunnerConfig) -> dict[str, Any]:
        saved = self.settings.saved()
        for key in SECRETS:
            if key in saved:
                saved[key] = "(set)" if saved[key] else ""
        if "allowed_hosts" in saved:
            saved["allowed_hosts"] = list(saved["allowed_hosts"])
        return {
            "saved": saved,
            "effective": config.public(),
            "sources": self.settings.sources(),
            "editable": list(EDITABLE),
            "restart_required": [f.name for f in fields(RunnerConfig) if f.name not in EDITABLE],
            "path": str(self.settings.path),
        }

    async def get(self, request: web.Request) -> web.Response:
        return json_ok(self._view(self.settings.effective()))

    async def post(self, request: web.Request) -> web.Response:
        token = self.settings.effective().token
        if token and not has_token(request, token):  # whoever reaches the port must not reset it
            raise ApiError(
                401,
                "a runner token is set: changing runner settings needs it (Authorization: Bearer "
                '<token>; the panel asks for it). If it is lost, remove "token" from '
                f"{self.settings.path} (or change TRICKLE_TOKEN) and restart ComfyUI",
                field="Authorization",
                expected="Bearer <the runner token>",
                received="a wrong token" if request.headers.get("Authorization") else "none",
            )
        if request.content_type != "application/json":  # no CORS-simple (form) posts
            raise ApiError(400, "Content-Type: expected application/json")
        body = await read_json(request, MAX_BODY)
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object of settings")
        try:
            config = self.settings.update(body)
        except ValidationError as exc:
            raise validation_error(exc, 422) from None
        return json_ok(self._view(config))

    async def setup(self, request: web.Request) -> web.Response:
        config = self.settings.effective()
        host = request.url.host or "127.0.0.1"
        if host in ("localhost", "::1"):
            host = "127.0.0.1"
        port = request.url.port
        base = f"http://{host}:{port}" if port else f"http://{host}"
        return json_ok(
            {
                "ai_models_entry": ai_models_entry(base, config),
                "alternative_url": base + RUNNER_PATH,
                "config": config.public(),
            }
        )

    def specs(self, prefix: str = "/trickle") -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{prefix}/settings", guarded(self.get)),
            ("POST", f"{prefix}/settings", guarded(self.post)),
            ("GET", f"{prefix}/setup", guarded(self.setup)),
        ]
