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
