"""Word alignments (ground truth of when speech occurs), e.g. GRID ``.align`` files.

A GRID ``.align`` file has one ``start end word`` line per word, times in units of
1/25000 s, ``sil`` (and ``sp``) marking silence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from lipauth.errors import CorruptMediaError, EmptyMediaError, MediaNotFoundError

__all__ = ["WordAlignment", "load_align"]

GRID_UNITS_PER_S = 25000.0
SILENCE_WORDS = frozenset({"sil", "sp"})


@dataclass(frozen=True)
class WordAlignment:
    """Timed words of one clip.

    Attributes
    ----------
    words : tuple of (start_s, end_s, word)
        Every entry of the file, silences included, in file order.
    """

    words: tuple[tuple[float, float, str], ...]

    @property
    def speech_intervals_s(self) -> list[tuple[float, float]]:
        """``(start_s, end_s)`` of the spoken words (silences left out), merged when adjacent."""
        out: list[tuple[float, float]] = []
        for start, end, word in self.words:
            if word in SILENCE_WORDS:
                continue
            if out and start <= out[-1][1] + 1e-9:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def speech_mask(self, times_s: np.ndarray) -> np.ndarray:
        """Whether each time falls inside a spoken word [shape=times_s.shape, bool]."""
        times_s = np.asarray(times_s, dtype=np.float64)
        mask = np.zeros(times_s.shape, dtype=bool)
        for start, end in self.speech_intervals_s:
            mask |= (times_s >= start) & (times_s < end)
        return mask


def load_align(path: str | os.PathLike[str], *, units_per_s: float = GRID_UNITS_PER_S) -> WordAlignment:
    """Read a ``start end word`` alignment file (GRID ``.align`` by default).

    Raises
    ------
    MediaNotFoundError, EmptyMediaError, CorruptMediaError
        Missing file, empty file, or a line that is not ``start end word``.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise MediaNotFoundError(f"{name}: no such alignment file; pass the path of a .align file")
    text = open(name, encoding="utf-8", errors="replace").read()
    if not text.strip():
        raise EmptyMediaError(f"{name}: alignment file is empty; expected lines of 'start end word'")
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end, word = int(parts[0]), int(parts[1]), parts[2]
        except (IndexError, ValueError):
            raise CorruptMediaError(
                f"{name}: line {number} is {line.strip()!r}, not 'start end word' with integer times"
            ) from None
        words.append((start / units_per_s, end / units_per_s, word))
    return WordAlignment(tuple(words))
