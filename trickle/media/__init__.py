"""Media layer: MPEG-TS / H.264 decode and encode for trickle segments (PyAV, numpy; no aiohttp)."""
