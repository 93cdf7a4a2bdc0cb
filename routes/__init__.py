"""The pack's HTTP surface inside ComfyUI's PromptServer (and on any bare aiohttp app for tests)."""
