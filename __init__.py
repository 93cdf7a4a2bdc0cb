"""trickle-live: a ComfyUI custom-node pack that makes ComfyUI a Livepeer live-video-to-video runner.

Import-safe without ComfyUI: nothing here touches ``server``, ``folder_paths`` or ``comfy_api``
at import time. ComfyUI calls :func:`comfy_entrypoint` after importing the pack; it is the one
place where ``nodes/`` and ``routes/`` are wired together (docs/architecture.md, Layers).
"""

from __future__ import annotations

import logging
from typing import Any

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]

log = logging.getLogger(__name__)


async def comfy_entrypoint() -> Any:
    """Return the pack's ``ComfyExtension`` (V3 node registration); registers the HTTP routes on
    ``PromptServer.instance`` with the live workflows of the user directory. A route problem is
    logged and must not cost the user the nodes."""
    from .nodes.extension import node_extension, user_store

    extension = node_extension()
    try:
        from .routes.comfy import register_in_comfyui

        register_in_comfyui(user_store())
    except Exception:
        log.exception("trickle-live: registering the HTTP routes failed; nodes are still available")
    return extension
