"""The ComfyUI-independent core of trickle-live: trickle protocol, media, sessions, runner API.

Nothing in this package imports torch, ComfyUI, ``nodes/`` or ``routes/`` (DESIGN §2).
"""

__version__ = "0.1.0"
