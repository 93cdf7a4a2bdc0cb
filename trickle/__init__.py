"""The ComfyUI-independent core of trickle-live: trickle protocol, media, sessions, runner API.

Nothing in this package imports torch, ComfyUI, ``nodes/`` or ``routes/`` (docs/architecture.md).
"""

__version__ = "0.1.0"
