"""The import direction of docs/architecture.md holds, and the root package is import-safe without ComfyUI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN_IN_TRICKLE = {
    "torch",
    "comfy",
    "comfy_api",
    "server",
    "folder_paths",
    "execution",
    "nodes",
}


def _imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, relative level) for each import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


def test_trickle_imports_no_torch_comfyui_nodes_or_routes() -> None:
    bad = []
    for path in (ROOT / "trickle").rglob("*.py"):
        depth = len(path.relative_to(ROOT / "trickle").parts) - 1
        for line, module, level in _imports(path):
            top = module.split(".")[0]
            if level == 0 and top in FORBIDDEN_IN_TRICKLE:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if level > depth + 1 or (level == depth + 1 and top in {"nodes", "routes"}):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports outside trickle/: {module}")
    assert bad == []


def test_media_does_not_import_aiohttp() -> None:
    bad = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in (ROOT / "trickle" / "media").rglob("*.py")
        for line, module, _ in _imports(p)
        if module.split(".")[0] == "aiohttp"
    ]
    assert bad == []


def test_pack_internal_imports_are_relative() -> None:
    own = {"trickle", "nodes", "routes", "trickle_live"}
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for folder in ("trickle", "nodes", "routes")
        for p in (ROOT / folder).rglob("*.py")
        for line, module, level in _imports(p)
        if level == 0 and module.split(".")[0] in own
    ]
    assert bad == []


def test_root_package_imports_without_comfyui() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', {str(ROOT / '__init__.py')!r},"
        f" submodule_search_locations=[{str(ROOT)!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['pack'] = m; spec.loader.exec_module(m)\n"
        "assert m.WEB_DIRECTORY == './web' and callable(m.comfy_entrypoint)\n"
        "bad = [n for n in ('server', 'folder_paths', 'comfy', 'comfy_api', 'torch') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_no_top_level_modules_that_could_shadow_comfyui_ones() -> None:
    """ComfyUI has top-level ``nodes``, ``server``, ``utils``, ``app``, ...: the pack's only
    top-level module is its ``__init__.py``; its folders are reached through the package only."""
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["__init__.py"]
