"""Movement segmentation: the intervals where the lips move, adaptive to each clip's noise.

1. :func:`motion_energy` fuses channels of lip motion into one signal per frame: the
   speed of the shape (L2 norm of the velocities of the length features: opening, width,
   lip thicknesses, face units per second) and, when a video was given, appearance
   channels (``1 - cosine similarity`` of consecutive labial crops, optical-flow
   magnitude), brought to the shape channel's scale by the ratio of their quiet levels.
   Thresholds are multiples of the clip's own noise floor (:func:`noise_floor`), so they
   adapt to each clip's camera noise, resolution and tracker jitter, with an absolute
   lower bound so that a perfectly still face does not turn its noise tails into motion.
2. :func:`segment_motion` thresholds the fused energy with hysteresis (a segment needs a
   frame above the high threshold and extends while above the low one), merges segments
   separated by less than ``min_gap_s`` and drops those shorter than ``min_duration_s``.
3. Each segment is labelled by its articulation amplitude on an absolute, face-normalised
   scale: the robust range of the inner-lip opening within it, in face units (the
   outer-eye-corner distance). ``normal`` (speech-like) from ``normal_amplitude`` up,
   ``micro`` below. Width and lip-thickness changes still make a segment (they are lip
   movement) but do not make it speech-like: they also follow expressions and pose error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lipauth.features.lip import LENGTH_FEATURES, SHAPE_FEATURES

__all__ = [
    "MotionSegment",
    "noise_floor",
    "shape_speed",
    "motion_energy",
    "segment_motion",
    "articulation_amplitude",
    "phrase_span",
]

_LENGTH_IDX = [SHAPE_FEATURES.index(n) for n in LENGTH_FEATURES]
_OPENING_IDX = SHAPE_FEATURES.index("opening")


class MotionSegment(NamedTuple):
    """One interval of lip movement.

    Attributes
    ----------
    start_s, end_s : float
        Time of the first moving frame and the end of the last one (seconds).
    label : str
        ``"normal"`` or ``"micro"``.
    peak : float
        Articulation amplitude (:func:`articulation_amplitude`): the robust range of
        the inner-lip opening within the segment, face units.
    """

    start_s: float
    end_s: float
    label: str
    peak: float


def noise_floor(x: np.ndarray, valid: np.ndarray | None = None, *, percentile: float = 10.0) -> float:
    """Robust quiet level of a non-negative motion signal that may be mostly motion.

    The ``percentile``-th percentile over valid frames: even a clip that is 90 % speech
    has its pauses and closures there, and on a still face it is the noise level itself.
    Order statistics are insensitive to the tails that a mean or a standard deviation
    would follow.
    """
    x = np.asarray(x, dtype=np.float64)
    if valid is not None:
        x = x[np.asarray(valid, dtype=bool)]
    if x.size == 0:
        return 0.0
    return float(np.percentile(x, percentile))


def shape_speed(velocity: np.ndarray) -> np.ndarray:
    """Speed of the lip shape [shape=(n_frames,)], face units per second.

    L2 norm over the velocities of :data:`lipauth.features.lip.LENGTH_FEATURES`.
    """
    v = np.asarray(velocity, dtype=np.float64)[:, _LENGTH_IDX]
    return np.sqrt(np.sum(v * v, axis=1))


def _smooth_energy(x: np.ndarray, timestamps_s: np.ndarray, window_s: float) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    t = np.asarray(timestamps_s, dtype=np.float64)
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    win = max(1, int(round(window_s / dt)) | 1) if dt > 0 else 1
    return uniform_filter1d(np.asarray(x, dtype=np.float64), win, mode="nearest")


def motion_energy(
    velocity: np.ndarray,
    valid: np.ndarray,
    timestamps_s: np.ndarray,
    *,
    appearance: Sequence[np.ndarray] = (),
    window_s: float = 0.17,
) -> np.ndarray:
    """Fused lip-motion energy per frame, in face units per second.

    The shape channel is :func:`shape_speed`. Each appearance channel (non-negative, e.g.
    ``1 - cosine similarity`` or flow magnitude, in its own units) is brought to the
    shape channel's scale by the ratio of the two channels' quiet levels (10th
    percentiles over valid frames), so that at rest every channel sits at the same level
    and a channel that rises k-fold above its own noise counts as a k-fold rise. The fused
    signal is the larger of the shape channel and the mean of the appearance channels
    (shape alone without video): a mean would dilute slight movements that only the
    landmarks resolve (measured on synthetic clips at 0.1 amplitude); it is averaged over ``window_s`` (a moving mean: lip
    movements last 0.1 s or more while tracker jitter is frame to frame, so averaging
    raises the signal-to-noise ratio of slight movements).

    Parameters
    ----------
    velocity : np.ndarray [shape=(n_frames, len(SHAPE_FEATURES))]
        Shape velocities (face units per second).
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        Invalid frames get energy 0.
    timestamps_s : np.ndarray [shape=(n_frames,)]
    appearance : sequence of np.ndarray [shape=(n_frames,)]
        Optional appearance motion channels; NaN/inf are treated as 0.
    window_s : float
        Moving-mean window.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float64]
        Face units per second, 0 at invalid frames.
    """
    valid = np.asarray(valid, dtype=bool)
    speed = shape_speed(velocity)
    fused = speed
    if len(appearance) and valid.any():
        ref = max(float(np.percentile(speed[valid], 10.0)), 1e-6)
        scaled = []
        for ch in appearance:
            ch = np.nan_to_num(np.asarray(ch, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            ch = np.maximum(ch, 0.0)
            floor = float(np.percentile(ch[valid], 10.0))
            if floor > 0:
                scaled.append(ch * (ref / floor))
        if scaled:
            fused = np.maximum(speed, np.mean(scaled, axis=0))
    fused = np.where(valid, fused, 0.0)
    return np.where(valid, _smooth_energy(fused, timestamps_s, window_s), 0.0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of the True runs of ``mask``."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def articulation_amplitude(shape: np.ndarray, valid: np.ndarray) -> float:
    """Articulation amplitude of a stretch of frames, face units.

    The robust range (95th minus 5th percentile) of the inner-lip opening over the valid
    frames. Opening is what speech moves; mouth width and lip thickness also follow
    expressions and head-pose estimation error (on ``spoof/phone_replay.mp4``, a hand-held
    phone replaying a selfie video, width moved by up to 0.17 face units while the opening
    range stayed at most 0.026; GRID s1 speech segments range 0.079-0.17). Percentiles
    rather than the extremes, so a one- or two-frame tracking glitch does not count.
    """
    opening = np.asarray(shape, dtype=np.float64)[:, _OPENING_IDX][np.asarray(valid, dtype=bool)]
    if opening.size == 0:
        return 0.0
    lo, hi = np.percentile(opening, (5.0, 95.0))
    return float(hi - lo)


def segment_motion(
    energy: np.ndarray,
    timestamps_s: np.ndarray,
    shape: np.ndarray,
    valid: np.ndarray,
    *,
    k_high: float,
    k_low: float,
    min_high: float,
    min_low: float,
    min_duration_s: float,
    min_gap_s: float,
    normal_amplitude: float,
) -> list[MotionSegment]:
    """Intervals of lip movement by hysteresis on the (noise-standardised) energy.

    Parameters
    ----------
    energy : np.ndarray [shape=(n_frames,)]
        Motion energy (:func:`motion_energy`, face units per second).
    timestamps_s : np.ndarray [shape=(n_frames,)]
    shape : np.ndarray [shape=(n_frames, len(SHAPE_FEATURES))]
        Smoothed shape features (for each segment's amplitude).
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
    k_high, k_low : float
        Thresholds relative to the clip's noise floor (:func:`noise_floor`, the 10th percentile
        of the energy): a segment needs a frame above
        ``max(k_high * floor, min_high)`` and spans the frames above
        ``max(k_low * floor, min_low)``.
    min_high, min_low : float
        Absolute lower bounds of the thresholds (units of ``energy``), so that a perfectly
        still face, whose noise floor is tiny, does not turn noise tails into movement.
    min_duration_s, min_gap_s : float
        Segments closer than ``min_gap_s`` are merged; then shorter than
        ``min_duration_s`` are dropped.
    normal_amplitude : float
        Face units; segments whose amplitude reaches it are ``normal``, others ``micro``.

    Returns
    -------
    list of MotionSegment, in time order
    """
    e = np.where(np.asarray(valid, dtype=bool), np.asarray(energy, dtype=np.float64), 0.0)
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.size == 0:
        return []
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    floor = noise_floor(e, valid)
    high = max(k_high * floor, min_high)
    low = min(max(k_low * floor, min_low), high)
    runs = [(a, b) for a, b in _runs(e > low) if e[a : b + 1].max() > high]
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and t[a] - (t[merged[-1][1]] + dt) < min_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out: list[MotionSegment] = []
    for a, b in merged:
        start_s, end_s = float(t[a]), float(t[b] + dt)
        if end_s - start_s < min_duration_s:
            continue
        amp = articulation_amplitude(shape[a : b + 1], np.asarray(valid[a : b + 1], dtype=bool))
        label = "normal" if amp >= normal_amplitude else "micro"
        out.append(MotionSegment(start_s, end_s, label, amp))
    return out


def phrase_span(
    energy: np.ndarray,
    valid: np.ndarray,
    timestamps_s: np.ndarray,
    *,
    k_rest: float = 3.0,
    rest_min: float = 0.1,
    rest_max: float = 0.15,
    gap_s: float = 0.5,
    min_share: float = 0.25,
    speech_s: tuple[float, float] | None = None,
) -> tuple[int, int]:
    """The frames of the phrase inside a take: rest before and after it left out.

    A take recorded by a page or an app is the phrase with still face around it (0.5-2 s
    each side), a breath, a blink. The rest level is the take's own: ``k_rest`` times its
    quiet level (10th percentile of the motion energy over valid frames), kept within
    ``[rest_min, rest_max]`` face units per second (a take that is phrase from end to end,
    as a tightly cut corpus take, has no quiet frames: its 10th percentile is speech, and
    the cap keeps all of it). Frames above the rest level form runs; the run group with
    the most energy above the rest level is the phrase, joined by groups within ``gap_s``
    that hold at least ``min_share`` of its energy (a pause inside the phrase; a blink or
    the tracker settling on the first frames stays out).

    Parameters
    ----------
    energy : np.ndarray [shape=(n_frames,)]
        :func:`motion_energy` (``LipFeatures.motion_energy``).
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
    timestamps_s : np.ndarray [shape=(n_frames,)]
    k_rest, rest_min, rest_max : float
        Rest level (see above).
    gap_s, min_share : float
        Joining of movement groups (see above).
    speech_s : (float, float), optional
        Where the take's audio has voice (seconds): the phrase is looked for within it
        (widened by ``gap_s``) when it holds movement.

    Returns
    -------
    (first, last) : (int, int)
        Inclusive frame indices; the first and last valid frames when nothing moves.
    """
    e = np.where(np.asarray(valid, dtype=bool), np.nan_to_num(np.asarray(energy, dtype=np.float64)), 0.0)
    t = np.asarray(timestamps_s, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    if not ok.any():
        return 0, max(len(e) - 1, 0)
    idx_valid = np.flatnonzero(ok)
    whole = int(idx_valid[0]), int(idx_valid[-1])
    rest = float(np.clip(k_rest * noise_floor(e, ok), rest_min, rest_max))
    active = (e > rest) & ok
    if speech_s is not None:
        window = (t >= speech_s[0] - gap_s) & (t <= speech_s[1] + gap_s)
        if (active & window).any():
            active &= window
    runs = _runs(active)
    if not runs:
        return whole
    groups: list[list[int]] = []
    for a, b in runs:
        if groups and t[a] - t[groups[-1][1]] <= gap_s / 2:
            groups[-1][1] = b
        else:
            groups.append([a, b])
    mass = [float(np.sum(e[a : b + 1] - rest)) for a, b in groups]
    k = int(np.argmax(mass))
    first, last = groups[k]
    for j in range(k - 1, -1, -1):  # earlier groups, nearest first
        if t[first] - t[groups[j][1]] <= gap_s and mass[j] >= min_share * mass[k]:
            first = groups[j][0]
        else:
            break
    for j in range(k + 1, len(groups)):
        if t[groups[j][0]] - t[last] <= gap_s and mass[j] >= min_share * mass[k]:
            last = groups[j][1]
        else:
            break
    return int(first), int(last)
