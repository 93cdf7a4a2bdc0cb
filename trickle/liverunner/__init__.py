"""go-livepeer live runner (v0.9+): the app API on its own port, session callbacks, the guard for
ComfyUI's port, static registration and our own heartbeat client. aiohttp + stdlib + the session
layer; no ComfyUI. See docs/liverunner.md.
"""

from .config import LiveRunnerConfig
from .guard import proxied_request_guard

__all__ = ["LiveRunnerConfig", "proxied_request_guard"]
