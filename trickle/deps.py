"""The oldest dependency versions trickle-live works with, and the check made once at load.

``FLOORS`` is the truth that ``requirements.txt`` and ``pyproject.toml`` state (a test keeps them
equal) and that CI tests: ``scripts/setup.sh --dev`` builds ``.venv-avmin`` with exactly these
versions and ``tests/test_dependency_floor.py`` runs the media, protocol and HTTP-error tests in
it. Inside ComfyUI the pack shares ComfyUI's environment, where an older package may have been
kept; then :func:`problems` names it, the runner logs one ERROR line and ``/trickle/status``
shows it under ``dependencies``, and stream starts are refused with a 500 naming it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib import metadata

log = logging.getLogger(__name__)

# The oldest versions the suite passes on (av 14.2.0, aiohttp 3.10.7, numpy 1.24.0 together):
# - av: ComfyUI's own floor; the media code falls back from PyAV 17's add_mux_stream
#   (media/avcompat.py); av 13.1 fails the encoder tests (PictureType);
# - aiohttp: 3.10.6 and older build request.url from a host:port that current yarl refuses
#   (the /trickle/setup route fails), 3.9.0 also fails the 100-cycle leak test;
# - numpy: the floor claimed before, tested; older ones were not tried.
FLOORS: dict[str, str] = {"aiohttp": "3.10.7", "av": "14.2.0", "numpy": "1.24.0"}


def version_tuple(version: str) -> tuple[int, ...]:
    """``"14.2.0"`` → ``(14, 2, 0)``; a non-numeric tail (``"18.0.0rc1"``, ``"2.0.0+cpu"``) ends it."""
    parts: list[int] = []
    for piece in version.split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def installed() -> dict[str, str | None]:
    """The installed version of each package in ``FLOORS`` (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in FLOORS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def check(found: Mapping[str, str | None]) -> list[str]:
    """One sentence per package older than its floor (or missing)."""
    out: list[str] = []
    for name, floor in FLOORS.items():
        have = found.get(name)
        if have is None:
            out.append(f"{name} is not installed (trickle-live needs {name}>={floor})")
        elif version_tuple(have) < version_tuple(floor):
            out.append(
                f"{name} {have} is too old: trickle-live needs {name}>={floor} "
                f"(pip install '{name}>={floor}' in this environment)"
            )
    return out


@functools.cache
def problems() -> tuple[str, ...]:
    """:func:`check` of what is installed, computed and logged (one ERROR line) once."""
    found = check(installed())
    if found:
        log.error("trickle-live cannot stream: %s", "; ".join(found))
    return tuple(found)
