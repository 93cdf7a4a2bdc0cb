"""What ComfyUI calls: the V3 node list, plus the pack's routes on ``PromptServer.instance``.

Imported by the root ``comfy_entrypoint()`` only inside ComfyUI (it imports ``comfy_api``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .store import WorkflowStore

log = logging.getLogger(__name__)


def user_store() -> WorkflowStore:
    """Saved live workflows in ComfyUI's user directory (kept when the pack is updated)."""
    import folder_paths

    return WorkflowStore(
        Path(folder_paths.get_user_directory()) / "default" / "trickle-live" / "workflows"
    )


async def entrypoint() -> Any:
    from comfy_api.latest import ComfyExtension, io

    from .io_nodes import NODES as IO_NODES
    from .param_nodes import NODES as PARAM_NODES

    class TrickleLiveExtension(ComfyExtension):
        async def get_node_list(self) -> list[type[io.ComfyNode]]:
            return [*IO_NODES, *PARAM_NODES]

    try:
        from ..routes.comfy import register_in_comfyui

        register_in_comfyui(user_store())
    except Exception:  # a route problem must not cost the user the nodes
        log.exception("trickle-live: registering the HTTP routes failed; nodes are still available")
    return TrickleLiveExtension()
