"""Data flows one way: a stage imports only from the stages before it.

Parses every module under src/lipauth and checks its ``lipauth.*`` imports against the
layer order below (edges such as the CLI may import everything).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "lipauth"

# lower number = earlier stage; a module may import from its own or a lower layer
LAYERS: dict[str, int] = {
    "errors": 0,
    "types": 1,
    "config": 1,
    "io": 2,
    "tracking": 3,
    "synth": 3,  # builds clips with io; must not peek at the tracker it is used to test
    "features": 4,
    "viz": 4,
    "checks": 5,
    "challenge": 5,
    "decision": 6,
    "store": 7,
    "auth": 7,  # the one-call Authenticator composes checks, decision and store
    "eval": 8,
    "batch": 8,
    "service": 9,
    "cli": 10,
    "__main__": 11,  # python -m lipauth: runs the CLI
}
# pairs on the same layer that must not import each other
FORBIDDEN = {("synth", "tracking"), ("tracking", "synth")}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _lipauth_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("lipauth."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("lipauth."):
                names.add(node.module)
            elif node.module == "lipauth":
                names.update(f"lipauth.{a.name}" for a in node.names)
    return {n.split(".")[1] for n in names}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py" or p.parent != PKG)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_flow_one_way(path: Path) -> None:
    top = _top(path)
    assert top in LAYERS, f"{top} is not placed in a layer; add it to LAYERS in this test"
    for target in _lipauth_imports(path):
        if target == "__version__":
            continue
        assert target in LAYERS, f"{path.name} imports unknown lipauth.{target}"
        assert LAYERS[target] <= LAYERS[top], f"{top} (layer {LAYERS[top]}) imports later stage {target}"
        assert (top, target) not in FORBIDDEN, f"{top} must not import {target}"


def test_import_is_light() -> None:
    """``import lipauth`` must not load PyAV, MediaPipe, OpenCV or matplotlib."""
    code = (
        "import sys, lipauth, lipauth.types, lipauth.errors, lipauth.cli;"
        "heavy = [m for m in ('av', 'mediapipe', 'cv2', 'matplotlib', 'scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"heavy modules loaded at import time: {out}"


# --------------------------------------------------------------------------------------
# no import circles between modules of src/lipauth


def _module_name(path: Path, pkg: Path = PKG) -> str:
    parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the files of ``pkg``.

    Every ``import``/``from ... import`` counts wherever it stands: module level, inside a
    function, under ``if TYPE_CHECKING:``. ``from lipauth.a import b`` is an edge to the
    module ``lipauth.a.b`` when that file exists, else to ``lipauth.a``; relative imports are
    resolved. The implicit import of a parent package's ``__init__`` is not an edge.
    """
    files = {_module_name(p, pkg): p for p in pkg.rglob("*.py")}

    def existing(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(existing(a.name) for a in node.names if a.name.split(".")[0] == "lipauth")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                if source.split(".")[0] != "lipauth":
                    continue
                for a in node.names:
                    full = f"{source}.{a.name}"
                    deps.add(full if full in files else existing(source))
        graph[mod] = {d for d in deps if d is not None and d != mod}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (``[a, b, ..., a]``) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    circles = []
    for group in groups:  # a shortest circle through the group's first module, for the message
        start = min(group)
        prev: dict[str, str] = {}
        queue, seen = [start], {start}
        while queue:
            v = queue.pop(0)
            if start in graph[v]:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                circles.append([*reversed(path), start])
                break
            for w in sorted(graph[v] & group):
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    queue.append(w)
    return sorted(circles)


def test_import_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert import_circles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert import_circles({"a": {"b"}, "b": set()}) == []


def test_import_graph_sees_function_level_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "lipauth.eval.report" in graph["lipauth.eval.runner"]  # imported inside run_evaluation
    assert "lipauth.checks.sync" in graph["lipauth.eval.runner"]  # inside _sync_record
    assert "lipauth.auth" in graph["lipauth"]  # under TYPE_CHECKING in lipauth/__init__.py


def test_no_import_circles() -> None:
    """No two modules of src/lipauth import each other, directly or through others."""
    circles = import_circles(import_graph())
    assert not circles, "import circles (make the dependency one-way):\n" + "\n".join(" -> ".join(c) for c in circles)


# --------------------------------------------------------------------------------------
# lint


def test_ruff_check_is_clean() -> None:
    """``ruff check`` (rules in pyproject.toml [tool.ruff]) finds nothing in the whole tree."""
    import importlib.util

    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]' (make test does)")
    root = PKG.parents[1]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(root)],
                          cwd=root, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, f"ruff check found problems (fix them, or see [tool.ruff] in pyproject.toml):\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    """``mypy`` (settings in pyproject.toml [tool.mypy]: strict on the contract modules) finds nothing."""
    import importlib.util
    import tempfile

    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed: pip install -e '.[test]' (make test does)")
    root = PKG.parents[1]
    cache = Path(tempfile.gettempdir()) / "lipauth-mypy-cache"  # outside the repository
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)],
                          cwd=root, capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, f"mypy found problems (fix them, or see [tool.mypy] in pyproject.toml):\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"


def test_no_long_functions_in_checks() -> None:
    """Checks are split at their seams: no function body in lipauth/checks over 80 lines (docstring aside)."""
    long = []
    for path in sorted((PKG / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
                start = body[1].lineno if doc else body[0].lineno
                if node.end_lineno - start + 1 > 80:
                    long.append(f"{path.name}:{node.name} ({node.end_lineno - start + 1} lines)")
    assert not long, long
