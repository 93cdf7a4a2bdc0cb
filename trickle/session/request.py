"""The start request of a stream, and its validation (docs/runner.md: runner contract and BYOC).

One shape for every entry point: the runner's ``POST /live-video-to-video``, BYOC's
``POST /stream/start``, the pack's own test stream and the go-livepeer live-runner app. Unknown
fields are ignored, a missing ``params`` is ``{}``; wrong types raise :class:`ValidationError`
naming the field, what was expected and what came. ``width``/``height``/``max_framerate``/``fps``
(``shape.py``) are checked here, so a bad value fails the start request itself; given at the top
level of the body (pytrickle's habit) they are moved into ``params``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..channel_url import ChannelUrlPolicy, check_channel_url, shown_url
from ..errors import ValidationError
from ..redaction import short_name
from .shape import SHAPE_KEYS, parse_shape

URL_FIELDS = ("subscribe_url", "publish_url", "control_url", "events_url", "data_url")
TEXT_FIELDS = ("model_id", "gateway_request_id", "manifest_id", "stream_id")


@dataclass(frozen=True)
class StartRequest:
    subscribe_url: str | None = None  # input (we read)
    publish_url: str | None = None  # output (we write)
    control_url: str | None = None  # parameter updates (we read)
    events_url: str | None = None  # events (we write)
    data_url: str | None = None  # BYOC data channel (unused by video processors)
    model_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    gateway_request_id: str = ""
    manifest_id: str = ""
    stream_id: str = ""
    source: str = "runner"  # runner | byoc | api | live-runner
    # False: the channels belong to whoever closes them (the live runner's orchestrator closes
    # a session's channels when it releases it); the stream then never DELETEs its output/events
    owns_channels: bool = True

    @property
    def key(self) -> str:
        """The id this stream is known by: stream id, else manifest id, else request id."""
        return self.stream_id or self.manifest_id or self.gateway_request_id

    def summary(self) -> dict[str, Any]:
        """What status pages and logs show: the channel URLs redacted (they are capabilities), and
        the manifest id shortened (go-livepeer's channel names are made from it)."""
        return {
            "stream_id": self.key,
            "model_id": self.model_id,
            "gateway_request_id": self.gateway_request_id,
            # go-livepeer names the channels after the manifest id (/ai/trickle/<manifest_id>):
            # shown shortened, like a channel name in a redacted URL
            "manifest_id": short_name(self.manifest_id),
            "source": self.source,
            **{name: shown_url(url) for name in URL_FIELDS if (url := getattr(self, name))},
        }


def parse_start_request(
    body: Any,
    *,
    required: tuple[str, ...] = ("subscribe_url", "publish_url"),
    host_allowed: Callable[[str | None], bool] | None = None,
    policy: ChannelUrlPolicy | None = None,
    source: str = "runner",
    stream_id: str | None = None,
) -> StartRequest:
    """Validate a decoded JSON body into a :class:`StartRequest`.

    ``required`` names URL fields that must be present (the runner needs input and output; a BYOC
    stream may lack either). ``stream_id`` (e.g. BYOC's ``X-Stream-Id``) wins over the body's.
    Every URL must be usable (``trickle.channel_url``); ``policy`` adds what is allowed (userinfo,
    query, path shape, hosts), ``host_allowed`` a host check of its own.
    """
    if not isinstance(body, Mapping):
        raise ValidationError("body", "a JSON object", body)
    values: dict[str, Any] = {}
    for name in URL_FIELDS:
        values[name] = _url(body, name, name in required, host_allowed, policy)
    for name in TEXT_FIELDS:
        values[name] = _text(body, name)
    params = parse_params(body.get("params"), "params")
    for name in SHAPE_KEYS:  # pytrickle-style top-level width/height/fps: the same as in params
        if body.get(name) is not None and name not in params:
            params = {**params, name: body[name]}
    parse_shape(params)  # a bad width/height/frame rate is refused now, naming params.<name>
    values["params"] = params
    if stream_id:
        values["stream_id"] = stream_id
    request = StartRequest(source=source, **values)
    if not request.key:
        request = StartRequest(
            source=source, **{**values, "stream_id": f"stream-{uuid.uuid4().hex[:12]}"}
        )
    return request


def parse_params(value: Any, name: str = "params") -> dict[str, Any]:
    """A params object: a JSON object, a JSON string holding one, or null/absent for ``{}``."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValidationError(name, "a JSON object (or a string holding one)", value) from None
    if not isinstance(value, dict):
        raise ValidationError(name, "a JSON object", value)
    return value


def _url(
    body: Mapping[str, Any],
    name: str,
    required: bool,
    host_allowed: Callable[[str | None], bool] | None,
    policy: ChannelUrlPolicy | None,
) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(name, "an http(s) URL (required)", value)
        return None
    value = check_channel_url(name, value, policy)
    host = urlsplit(value).hostname
    if host_allowed is not None and not host_allowed(host):
        raise ValidationError(name, "a URL on an allowed trickle host", host)
    return value


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(name, "a string", value)
    if len(value) > 512:
        raise ValidationError(name, "a string of at most 512 characters", value)
    return value
