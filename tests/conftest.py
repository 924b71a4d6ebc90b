"""Shared fixtures. Real media lives in ../shared/data (beside the project) and is
never copied into the repository; tests that need it skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__import__("os").environ.get("LIPAUTH_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test with a clear reason when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test media not present: {path} (clone the project beside ../shared to run this)")
    return path


@pytest.fixture
def shared_data() -> Path:
    return shared_path()
