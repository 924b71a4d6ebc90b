"""Control signals: random syllable schedules and the mouth opening / width they imply.

A schedule is a list of syllables grouped into speech intervals ("words") separated by
rests. Each syllable opens the mouth with a raised-cosine bump that starts and ends
closed, so consecutive syllables in a word are separated by a brief closure (like the
consonant between them). Everything is deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipauth.errors import ConfigError

__all__ = [
    "VOWELS",
    "Syllable",
    "SyllableSchedule",
    "random_syllable_schedule",
    "blow_schedule",
    "intervals_from_signal",
]

#: Vowels a syllable can carry: formant frequencies F1, F2, F3 in Hz (adult female-ish
#: averages), the peak opening scale and the mouth width (-1 pursed .. +1 spread).
VOWELS: dict[str, tuple[tuple[float, float, float], float, float]] = {
    "a": ((850.0, 1220.0, 2810.0), 1.0, 0.1),
    "e": ((610.0, 2330.0, 2990.0), 0.7, 0.5),
    "i": ((310.0, 2790.0, 3310.0), 0.45, 0.9),
    "o": ((560.0, 920.0, 2830.0), 0.75, -0.6),
    "u": ((370.0, 950.0, 2670.0), 0.5, -0.9),
}


@dataclass(frozen=True)
class Syllable:
    """One syllable: ``start_s`` to ``end_s``, peak ``opening`` (0..1), ``width``
    (-1..1), ``vowel`` (a key of :data:`VOWELS`) and fundamental ``f0_hz``."""

    start_s: float
    end_s: float
    opening: float
    width: float
    vowel: str
    f0_hz: float


@dataclass(frozen=True)
class SyllableSchedule:
    """A syllable schedule over ``[0, duration_s)``.

    Attributes
    ----------
    duration_s : float
    syllables : tuple of Syllable
        In time order, non-overlapping.
    speech_intervals_s : tuple of (float, float)
        ``(start_s, end_s)`` of each run of syllables (a "word"), in time order.
    """

    duration_s: float
    syllables: tuple[Syllable, ...]
    speech_intervals_s: tuple[tuple[float, float], ...]

    def opening_at(self, times_s: np.ndarray) -> np.ndarray:
        """Mouth opening at ``times_s`` [shape=(n,), float64, 0..1].

        Each syllable is a ``sin^2`` bump from its start to its end, scaled by its peak.
        """
        t = np.asarray(times_s, dtype=np.float64)
        out = np.zeros(t.shape, dtype=np.float64)
        for s in self.syllables:
            inside = (t > s.start_s) & (t < s.end_s)
            if inside.any():
                phase = (t[inside] - s.start_s) / (s.end_s - s.start_s)
                out[inside] = np.maximum(out[inside], s.opening * np.sin(np.pi * phase) ** 2)
        return out

    def width_at(self, times_s: np.ndarray) -> np.ndarray:
        """Mouth width at ``times_s`` [shape=(n,), float64, -1..1].

        Follows each syllable's vowel width with the same bump as the opening (0 at rest).
        """
        t = np.asarray(times_s, dtype=np.float64)
        out = np.zeros(t.shape, dtype=np.float64)
        for s in self.syllables:
            inside = (t > s.start_s) & (t < s.end_s)
            if inside.any():
                phase = (t[inside] - s.start_s) / (s.end_s - s.start_s)
                out[inside] = s.width * np.sin(np.pi * phase) ** 2
        return out

    def without(self, windows_s: list[tuple[float, float]], *, margin_s: float = 0.1) -> SyllableSchedule:
        """The schedule with every syllable within ``margin_s`` of a window dropped; speech
        intervals shrink to the syllables left (empty ones disappear)."""
        windows = _check_windows("windows_s", windows_s)
        keep = tuple(
            s for s in self.syllables if all(s.end_s + margin_s <= a or s.start_s - margin_s >= b for a, b in windows)
        )
        words = []
        for a, b in self.speech_intervals_s:
            inside = [s for s in keep if a <= s.start_s < b]
            if inside:
                words.append((inside[0].start_s, inside[-1].end_s))
        return SyllableSchedule(self.duration_s, keep, tuple(words))

    def speech_mask(self, times_s: np.ndarray) -> np.ndarray:
        """True where ``times_s`` falls inside a speech interval [shape=(n,), bool]."""
        t = np.asarray(times_s, dtype=np.float64)
        mask = np.zeros(t.shape, dtype=bool)
        for a, b in self.speech_intervals_s:
            mask |= (t >= a) & (t < b)
        return mask


def _check_range(name: str, value: tuple[float, float], *, low: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a (min, max) pair of seconds; pass e.g. (0.15, 0.3)") from None
    if not (low <= a <= b and np.isfinite(b)):
        raise ConfigError(f"{name}={value!r} must satisfy {low} <= min <= max; pass e.g. (0.15, 0.3)")
    return a, b


def random_syllable_schedule(
    duration_s: float,
    *,
    seed: int = 0,
    syllable_s: tuple[float, float] = (0.15, 0.30),
    syllables_per_word: tuple[int, int] = (1, 4),
    rest_s: tuple[float, float] = (0.2, 0.6),
    lead_in_s: float = 0.3,
    tail_s: float = 0.2,
    f0_hz: tuple[float, float] = (120.0, 220.0),
    vowels: str = "aeiou",
) -> SyllableSchedule:
    """Random speech: words of 1-4 syllables (150-300 ms each) separated by rests.

    Parameters
    ----------
    duration_s : float
        Length of the schedule in seconds (> 0).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same schedule.
    syllable_s : (float, float)
        Range of syllable durations in seconds.
    syllables_per_word : (int, int)
        Range (inclusive) of syllables per speech interval.
    rest_s : (float, float)
        Range of the rests between speech intervals in seconds.
    lead_in_s, tail_s : float
        Silence at the start and at the end, seconds.
    f0_hz : (float, float)
        Range of the speaker's fundamental frequency; one base F0 per schedule, each
        syllable varies it by up to +-8 %.
    vowels : str
        Letters from :data:`VOWELS` to draw syllable vowels from.

    Returns
    -------
    SyllableSchedule
    """
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(f"duration_s={duration_s!r} must be a positive number of seconds")
    syl_lo, syl_hi = _check_range("syllable_s", syllable_s, low=0.02)
    rest_lo, rest_hi = _check_range("rest_s", rest_s, low=0.0)
    f0_lo, f0_hi = _check_range("f0_hz", f0_hz, low=40.0)
    n_lo, n_hi = (int(v) for v in syllables_per_word)
    if not 1 <= n_lo <= n_hi:
        raise ConfigError(f"syllables_per_word={syllables_per_word!r} must satisfy 1 <= min <= max; pass e.g. (1, 4)")
    bad = [v for v in vowels if v not in VOWELS]
    if bad or not vowels:
        raise ConfigError(f"vowels={vowels!r}: use letters from {''.join(VOWELS)!r}")
    rng = np.random.default_rng(seed)
    base_f0 = float(rng.uniform(f0_lo, f0_hi))
    syllables: list[Syllable] = []
    intervals: list[tuple[float, float]] = []
    t = float(lead_in_s)
    end = float(duration_s) - float(tail_s)
    while True:
        n = int(rng.integers(n_lo, n_hi + 1))
        word: list[Syllable] = []
        for _ in range(n):
            d = float(rng.uniform(syl_lo, syl_hi))
            if t + d > end:
                break
            v = vowels[int(rng.integers(len(vowels)))]
            _, scale, width = VOWELS[v]
            opening = float(np.clip(scale * rng.uniform(0.75, 1.0), 0.0, 1.0))
            f0 = base_f0 * float(rng.uniform(0.92, 1.08))
            word.append(Syllable(t, t + d, opening, width, v, f0))
            t += d
        if word:
            syllables.extend(word)
            intervals.append((word[0].start_s, word[-1].end_s))
        if len(word) < n:
            break
        t += float(rng.uniform(rest_lo, rest_hi))
        if t >= end:
            break
    return SyllableSchedule(float(duration_s), tuple(syllables), tuple(intervals))


def blow_schedule(
    windows_s: list[tuple[float, float]] | tuple[tuple[float, float], ...],
    timestamps_s: np.ndarray,
    *,
    opening: float = 0.15,
    ramp_s: float = 0.12,
) -> tuple[np.ndarray, np.ndarray]:
    """Mouth shape of blowing in the given windows: pursed lips with a small opening.

    Parameters
    ----------
    windows_s : sequence of (start_s, end_s)
    timestamps_s : np.ndarray [shape=(n,)]
    opening : float
        Opening held while blowing (0..1).
    ramp_s : float
        Time to purse / relax at each edge of a window.

    Returns
    -------
    opening, width : np.ndarray [shape=(n,), float64]
        ``width`` is -1 (pursed) inside the windows, 0 outside, with cosine ramps.
    """
    t = np.asarray(timestamps_s, dtype=np.float64)
    amount = np.zeros(t.shape, dtype=np.float64)
    for a, b in _check_windows("blow_windows_s", windows_s):
        up = np.clip((t - a) / ramp_s + 1.0, 0.0, 1.0) if ramp_s > 0 else (t >= a).astype(float)
        down = np.clip((b - t) / ramp_s + 1.0, 0.0, 1.0) if ramp_s > 0 else (t < b).astype(float)
        amount = np.maximum(amount, np.minimum(0.5 - 0.5 * np.cos(np.pi * up), 0.5 - 0.5 * np.cos(np.pi * down)))
    return opening * amount, -amount


def _check_windows(name: str, windows: object) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    try:
        pairs = [(float(a), float(b)) for a, b in windows]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={windows!r} is not a list of (start_s, end_s) pairs") from None
    for a, b in pairs:
        if not (np.isfinite(a) and np.isfinite(b) and 0 <= a < b):
            raise ConfigError(f"{name}: window ({a}, {b}) must satisfy 0 <= start_s < end_s")
        out.append((a, b))
    return out


def intervals_from_signal(
    opening: np.ndarray, timestamps_s: np.ndarray, *, threshold: float = 0.05, frame_s: float | None = None
) -> tuple[tuple[float, float], ...]:
    """Runs of ``opening > threshold`` as ``(start_s, end_s)`` intervals.

    ``end_s`` is the time of the last frame of a run plus ``frame_s`` (default: the median
    frame interval).
    """
    o = np.asarray(opening, dtype=np.float64)
    t = np.asarray(timestamps_s, dtype=np.float64)
    if o.shape != t.shape:
        raise ConfigError(f"opening has shape {o.shape} but timestamps_s has {t.shape}; pass one value per frame")
    if frame_s is None:
        frame_s = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    on = o > threshold
    out: list[tuple[float, float]] = []
    i = 0
    while i < on.size:
        if on[i]:
            j = i
            while j + 1 < on.size and on[j + 1]:
                j += 1
            out.append((float(t[i]), float(t[j] + frame_s)))
            i = j + 1
        else:
            i += 1
    return tuple(out)
