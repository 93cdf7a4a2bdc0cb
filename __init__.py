"""trickle-live: a ComfyUI custom-node pack that makes ComfyUI a Livepeer live-video-to-video runner.

Import-safe without ComfyUI: nothing here touches ``server``, ``folder_paths`` or ``comfy_api``
at import time. ComfyUI calls :func:`comfy_entrypoint` after importing the pack.
"""

from __future__ import annotations

from typing import Any

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]


async def comfy_entrypoint() -> Any:
    """Return the pack's ``ComfyExtension`` (V3 node registration); registers the HTTP routes."""
    from .nodes.extension import entrypoint

    return await entrypoint()
