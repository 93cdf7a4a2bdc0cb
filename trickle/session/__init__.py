"""Stream sessions: one live job from start request to cleanup (protocol + media, no aiohttp server)."""
