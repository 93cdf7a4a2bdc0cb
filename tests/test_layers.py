"""The import direction of docs/architecture.md holds, no module imports itself through others,
and the root package is import-safe without ComfyUI.

Every import counts: at module level, under ``if TYPE_CHECKING:`` and inside functions."""

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


# docs/architecture.md, "Layers": what each place may import besides itself. ``trickle`` is the
# core modules at the top of trickle/ (errors, config, redaction, ...).
TRICKLE_CORE = {"trickle"}
MAY_IMPORT: dict[str, set[str]] = {
    "trickle": set(),
    "trickle.protocol": TRICKLE_CORE,
    "trickle.media": TRICKLE_CORE,
    "trickle.session": TRICKLE_CORE | {"trickle.protocol", "trickle.media"},
    "trickle.runner": TRICKLE_CORE | {"trickle.protocol", "trickle.media", "trickle.session"},
    "trickle.liverunner": TRICKLE_CORE
    | {"trickle.protocol", "trickle.media", "trickle.session", "trickle.runner"},
}
ALL_TRICKLE = set(MAY_IMPORT) | {"trickle.cli"}
MAY_IMPORT["trickle.cli"] = ALL_TRICKLE
MAY_IMPORT["nodes"] = ALL_TRICKLE
MAY_IMPORT["routes"] = ALL_TRICKLE | {"nodes"}
MAY_IMPORT["root"] = ALL_TRICKLE | {"nodes", "routes"}


def _pack_modules() -> dict[str, Path]:
    """Dotted name (relative to the pack) → file, for the root ``__init__.py`` (named ``""``)
    and every module of trickle/, nodes/ and routes/ (a package by its folder's name)."""
    modules = {"": ROOT / "__init__.py"}
    for folder in ("trickle", "nodes", "routes"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Module → the pack modules it imports: ``from .a import b`` points at ``a.b`` when that is
    a module, else at ``a``. Absolute imports are never the pack's own (checked below: a bare
    ``nodes`` is ComfyUI's)."""
    modules = _pack_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if name else []
        package = here if path.name == "__init__.py" else here[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = package[: len(package) - node.level + 1]
                base += node.module.split(".") if node.module else []
                for alias in node.names:
                    child = ".".join([*base, alias.name])
                    targets.add(child if child in modules else ".".join(base))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    if not module:
        return "root"
    if parts[0] != "trickle":
        return parts[0]
    if len(parts) > 1 and f"trickle.{parts[1]}" in MAY_IMPORT:
        return f"trickle.{parts[1]}"
    return "trickle.cli" if parts[1:] == ["__main__"] else "trickle"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path) per strongly connected group of modules that import one another."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_in_the_pack() -> None:
    assert _cycles(_import_graph()) == []


def test_benchmarks_import_each_other_without_cycles() -> None:
    scripts = {p.stem: p for p in (ROOT / "benchmarks").glob("*.py")}
    graph = {
        name: {m.split(".")[0] for _, m, level in _imports(path) if level == 0}
        & set(scripts) - {name}
        for name, path in scripts.items()
    }
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_two_module_cycle() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set()}
    assert _cycles(graph) == [["a", "b"]]


def test_imports_go_down_the_layers() -> None:
    """No arrow from a lower layer up: e.g. nodes/ never imports routes/, session/ never runner/."""
    graph = _import_graph()
    assert set(map(_layer, graph)) <= set(MAY_IMPORT)
    bad = sorted(
        f"{module or '__init__'} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) != _layer(module) and _layer(target) not in MAY_IMPORT[_layer(module)]
    )
    assert bad == []


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


def test_no_product_module_is_named_like_a_test() -> None:
    """pytest, coverage and readers take ``test_*.py`` / ``*_test.py`` for tests."""
    named = sorted(
        str(p.relative_to(ROOT))
        for folder in ("trickle", "nodes", "routes")
        for p in (ROOT / folder).rglob("*.py")
        if p.stem.startswith("test_") or p.stem.endswith("_test")
    )
    assert named == []
