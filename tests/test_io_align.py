"""Word alignment files (GRID .align): parsing, speech intervals and masks, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from lipauth.errors import CorruptMediaError, EmptyMediaError, MediaNotFoundError
from lipauth.io import load_align


def test_parse_intervals_and_mask(tmp_path: Path) -> None:
    path = tmp_path / "x.align"
    path.write_text("0 23750 sil\n23750 29500 bin\n29500 34000 blue\n34000 40000 sp\n40000 50000 now\n50000 74500 sil\n")
    align = load_align(path)
    assert align.words[1] == (0.95, 1.18, "bin")
    assert align.speech_intervals_s == [(0.95, 1.36), (1.6, 2.0)]
    mask = align.speech_mask(np.array([0.5, 0.95, 1.3, 1.4, 1.7, 2.5]))
    assert mask.tolist() == [False, True, True, False, True, False]


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [(None, MediaNotFoundError, "no such alignment file"), ("", EmptyMediaError, "is empty"),
     ("0 100 sil\nzero 5 bin\n", CorruptMediaError, "line 2")],
)
def test_bad_align_files(tmp_path: Path, content: str | None, error: type, match: str) -> None:
    path = tmp_path / "bad.align"
    if content is not None:
        path.write_text(content)
    with pytest.raises(error, match=match):
        load_align(path)


@pytest.mark.realdata
def test_every_grid_align_file_parses() -> None:
    paths = sorted(shared_path("grid_s1", "align").glob("*.align"))
    assert len(paths) == 100
    for path in paths:
        align = load_align(path)
        assert align.words[0][2] == "sil" and align.words[-1][2] == "sil"
        runs = align.speech_intervals_s  # GRID: one run of six words, a few with a short pause
        assert 1 <= len(runs) <= 2
        assert 0.0 < runs[0][0] < runs[-1][1] < 3.05
