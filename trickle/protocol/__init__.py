"""protocol layer of trickle/ (see docs/internal-api.md)."""
