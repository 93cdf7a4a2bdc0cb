"""What ComfyUI gets from ``nodes/``: the V3 node list, and where the pack keeps live workflows.

Imported by the root ``comfy_entrypoint()`` only inside ComfyUI (it imports ``comfy_api``); the
root entry also registers the HTTP routes (``routes/``), so nodes never import routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .store import WorkflowStore


def user_store() -> WorkflowStore:
    """Saved live workflows in ComfyUI's user directory (kept when the pack is updated)."""
    import folder_paths

    return WorkflowStore(
        Path(folder_paths.get_user_directory()) / "default" / "trickle-live" / "workflows"
    )


def node_extension() -> Any:
    """The pack's ``ComfyExtension``: its V3 nodes."""
    from comfy_api.latest import ComfyExtension, io

    from .io_nodes import NODES as IO_NODES
    from .param_nodes import NODES as PARAM_NODES

    class TrickleLiveExtension(ComfyExtension):
        async def get_node_list(self) -> list[type[io.ComfyNode]]:
            return [*IO_NODES, *PARAM_NODES]

    return TrickleLiveExtension()
