"""The session callbacks of a live runner: channels and self-release through ``Livepeer-Session-Control``.

An orchestrator proxies each app request with four headers (reference livepeer-docs-and-live-runners
§5): ``Livepeer-Runner-Route``, ``Livepeer-Session-Id``, ``Livepeer-Session-Token`` and
``Livepeer-Session-Control`` (``{liveRunnerAddr}/runner/{route}/session/{sid}``). With the token the
runner may ``POST``/``DELETE {control}/channels`` and ``POST {control}/stop`` (204). We only create
channels and release: the release closes every channel of the session at the O (see
:mod:`.sessions`). Tokens and URLs here are bearer secrets: they are kept out of ``repr`` and logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..errors import ProtocolError, ValidationError
from .redact import redact_url

log = logging.getLogger(__name__)

ROUTE_HEADER = "Livepeer-Runner-Route"
SESSION_ID_HEADER = "Livepeer-Session-Id"
TOKEN_HEADER = "Livepeer-Session-Token"
CONTROL_HEADER = "Livepeer-Session-Control"
MAX_CHANNELS_PER_CALL = 25


@dataclass(frozen=True)
class SessionHeaders:
    """What the orchestrator told us about the session this request belongs to."""

    session_id: str
    runner_route: str = ""
    token: str = field(default="", repr=False)
    control_url: str = field(default="", repr=False)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> SessionHeaders:
        """Read the four headers; the session id, token and control URL are required."""
        session_id = (headers.get(SESSION_ID_HEADER) or "").strip()
        token = (headers.get(TOKEN_HEADER) or "").strip()
        control = (headers.get(CONTROL_HEADER) or "").strip()
        if not session_id:
            raise ValidationError(
                SESSION_ID_HEADER, "the session id header of a reserved session", ""
            )
        if not token:
            raise ValidationError(TOKEN_HEADER, "the session token header", "")
        parts = urlsplit(control)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                CONTROL_HEADER, "an http(s) session-control URL", redact_url(control)
            )
        return cls(
            session_id=session_id,
            runner_route=(headers.get(ROUTE_HEADER) or "").strip(),
            token=token,
            control_url=control.rstrip("/"),
        )


@dataclass(frozen=True)
class Channel:
    """One session trickle channel as the orchestrator describes it."""

    name: str
    url: str = field(repr=False)  # public: what the client uses
    internal_url: str = field(default="", repr=False)  # runner-facing, when the O has one
    mime_type: str = ""

    @property
    def runner_url(self) -> str:
        """The URL the runner itself uses: ``internal_url`` when present."""
        return self.internal_url or self.url

    @classmethod
    def from_json(cls, value: Any) -> Channel:
        if not isinstance(value, Mapping):
            raise ValidationError("channels[]", "a channel object", value)
        name, url = value.get("name"), value.get("url")
        if not isinstance(name, str) or not name or not isinstance(url, str) or not url:
            raise ValidationError("channels[]", "an object with name and url", sorted(value))
        return cls(
            name=name,
            url=url,
            internal_url=str(value.get("internal_url") or ""),
            mime_type=str(value.get("mime_type") or ""),
        )


class SessionControl:
    """Calls back the orchestrator for one session (channel create/delete, self-release)."""

    def __init__(
        self, headers: SessionHeaders, http: aiohttp.ClientSession, *, timeout: float = 10.0
    ) -> None:
        self.headers = headers
        self.http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def create_channels(self, specs: Sequence[tuple[str, str]]) -> dict[str, Channel]:
        """Create (idempotently) named channels; ``specs`` is ``[(name, mime_type), ...]``."""
        if not 0 < len(specs) <= MAX_CHANNELS_PER_CALL:
            raise ValidationError("channels", f"1..{MAX_CHANNELS_PER_CALL} channels", len(specs))
        body = {"channels": [{"name": n, "mime_type": m} for n, m in specs]}
        data = await self._call("POST", "/channels", body)
        items = data.get("channels") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise ValidationError("channels", "a list of channel descriptors", type(items).__name__)
        channels = {c.name: c for c in (Channel.from_json(item) for item in items)}
        missing = [n for n, _ in specs if n not in channels]
        if missing:
            raise ValidationError("channels", f"descriptors for {[n for n, _ in specs]}", missing)
        return channels

    async def stop(self) -> bool:
        """Release the session at the orchestrator; False when it was already gone (404)."""
        try:
            await self._call("POST", "/stop", None)
        except ProtocolError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def _call(self, method: str, suffix: str, body: Any) -> Any:
        url = self.headers.control_url + suffix
        shown = redact_url(url)
        headers = {TOKEN_HEADER: self.headers.token}
        try:
            async with self.http.request(
                method,
                url,
                json=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,  # the token goes to the URL the O named, nowhere else
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise ProtocolError(shown, resp.status, text[:300])
                if resp.content_type == "application/json" and text.strip():
                    return await resp.json(content_type=None)
                return None
        except aiohttp.ClientError as exc:
            raise ProtocolError(shown, 0, type(exc).__name__) from None  # str(exc) may hold the URL
        except TimeoutError:
            raise ProtocolError(shown, 0, "timed out") from None
