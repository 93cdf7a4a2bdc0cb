"""ComfyUI nodes and the per-frame workflow driver. ComfyUI is imported only inside functions."""
