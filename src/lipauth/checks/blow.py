"""Blow-at-the-screen challenge: audio blow segments and pursed lips on the prompted schedule.

:func:`mouth_states` labels each frame ``neutral`` / ``blow`` (pursed: narrower and rounder
than the person's own neutral mouth, small opening) / ``open`` (speaking), calibrated on
the neutral frames before the first prompt. :func:`check_blow` measures how well the blow
heard in the audio (:mod:`lipauth.features.breath`) and the blowing mouth cover each
prompted window and stay away from the rest of the clip.

Score: ``min over windows of (min(audio coverage, mouth coverage) - mouth edge error)
- 2 * max(audio blow share outside, mouth blow share outside)``.
Coverage is measured in each window's core (from ``lag_s`` after its start to its end: the
person reacts late); the edge error (seconds) is how far the answering pursed-lips run starts or
stops outside :data:`ONSET_RANGE_S` / :data:`OFFSET_RANGE_S` of the window, so an answer to
another schedule that merely overlaps the window fails; "outside" excludes 0.15 s before
and 0.45 s after every window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lipauth.challenge import Challenge
from lipauth.errors import InputError, NoAudioStreamError
from lipauth.features.breath import blow_probability, breath_frames
from lipauth.types import Audio, CheckResult, LipFeatures

__all__ = ["MOUTH_BLOW", "MOUTH_NEUTRAL", "MOUTH_OPEN", "BlowResult", "check_blow", "mouth_states", "window_masks"]

MOUTH_NEUTRAL, MOUTH_BLOW, MOUTH_OPEN = 0, 1, 2
#: default score threshold; tuned on synthetic sessions (synth face, real exhale bursts
#: from the held-out breathing files, several loudness levels, fan noise), see
#: benchmarks/accuracy_liveness.py
BLOW_THRESHOLD = 0.5
_MIN_COVERAGE = 0.5
#: allowed onset - start and offset - end of the answer to a window, seconds (human lag,
#: detector smoothing); tuned on the synthetic sessions (lag 0.1-0.3 s)
ONSET_RANGE_S = (-0.15, 0.6)
OFFSET_RANGE_S = (-0.3, 0.55)


def _cover(mask: np.ndarray, masks: list[np.ndarray]) -> list[float]:
    return [float(mask[m].mean()) if m.any() else 0.0 for m in masks]


def _edge_error(t: np.ndarray, on: np.ndarray, start_s: float, end_s: float) -> float:
    """How far (seconds) the run of ``on`` answering a window starts/stops outside the allowed ranges.

    The answering run is the one overlapping ``[start_s, end_s)`` most, searched within
    ``[start_s - 1, end_s + 1]``; 0 when both edges are in range, 1 when no run overlaps.
    """
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.04
    near = (t >= start_s - 1.0) & (t < end_s + 1.0)
    idx = np.flatnonzero(on & near)
    if idx.size == 0:
        return 1.0
    splits = np.flatnonzero(np.diff(idx) > 1) + 1
    best, best_overlap = None, 0.0
    for run in np.split(idx, splits):
        lo, hi = float(t[run[0]]), float(t[run[-1]] + step)
        overlap = max(0.0, min(hi, end_s) - max(lo, start_s))
        if overlap > best_overlap:
            best, best_overlap = (lo, hi), overlap
    if best is None:
        return 1.0
    d_on, d_off = best[0] - start_s, best[1] - end_s
    err = max(0.0, ONSET_RANGE_S[0] - d_on, d_on - ONSET_RANGE_S[1])
    return err + max(0.0, OFFSET_RANGE_S[0] - d_off, d_off - OFFSET_RANGE_S[1])
_MAX_OUTSIDE = 0.1


@dataclass(frozen=True, eq=False)
class BlowResult(CheckResult):
    """:class:`CheckResult` of :func:`check_blow` (or the timed-speech check) with the per-frame signals.

    Attributes
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,), float64]
    audio_activity : np.ndarray [shape=(n_frames,), float64]
        Blow probability (speech check: voice activity 0/1) per frame.
    mouth_state : np.ndarray [shape=(n_frames,), int8]
        ``MOUTH_NEUTRAL`` 0, ``MOUTH_BLOW`` 1, ``MOUTH_OPEN`` 2 (speech check: 2 = lips moving).
    windows : tuple of (start_s, end_s, prompt)
        The challenge's prompt windows.
    """

    timestamps_s: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"dtype": "float64"})
    audio_activity: np.ndarray = field(default_factory=lambda: np.zeros(0), metadata={"dtype": "float64"})
    mouth_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), metadata={"dtype": "int8"})
    windows: tuple[tuple[float, float, str], ...] = ()


def _calibration_mask(t: np.ndarray, valid: np.ndarray, first_prompt_s: float | None, min_frames: int = 8) -> np.ndarray:
    end = (first_prompt_s - 0.1) if first_prompt_s is not None else float(t[0]) + 1.0
    mask = valid & (t < end)
    if mask.sum() < min_frames:
        mask = np.zeros_like(valid)
        mask[np.flatnonzero(valid)[:min_frames]] = True
    return mask


def mouth_states(
    features: LipFeatures,
    *,
    calibration_end_s: float | None = None,
    min_narrowing: float = 0.06,
    min_roundness_rise: float = 0.12,
    max_blow_opening: float = 0.2,
    min_open: float = 0.12,
) -> tuple[np.ndarray, dict[str, float]]:
    """Per-frame mouth state relative to the person's own neutral mouth.

    The neutral reference is the median shape of the valid frames before
    ``calibration_end_s - 0.1`` (default: the first second; at least the first 8 valid
    frames). With ``w0``, ``r0``, ``o0`` the neutral width, roundness and opening:

    - blow: ``width / w0 <= 1 - min_narrowing`` and ``roundness - r0 >= min_roundness_rise``
      and ``(opening - o0) / w0 < max_blow_opening``;
    - open: otherwise ``(opening - o0) / w0 >= min_open``;
    - neutral: the rest (and invalid frames).

    Defaults tuned on the synth face (lipauth.synth, pursed ``width=-1``: narrowing 0.15,
    roundness +0.26, opening 0.08 w0) at half those changes, so a weaker real pursing passes.

    Returns
    -------
    states : np.ndarray [shape=(n_frames,), int8]
    reference : dict
        ``width``, ``roundness``, ``opening`` of the neutral mouth (face units) and the
        number of calibration frames.
    """
    t = features.timestamps_s
    valid = features.valid
    if not valid.any():
        raise InputError("features have no valid frame (no face); record with the face in view")
    cal = _calibration_mask(t, valid, calibration_end_s)
    width, rnd, opening = (features.column(c).astype(np.float64) for c in ("width", "roundness", "opening"))
    w0, r0, o0 = (float(np.median(c[cal])) for c in (width, rnd, opening))
    narrowing = 1.0 - width / max(w0, 1e-6)
    open_rel = (opening - o0) / max(w0, 1e-6)
    blow = (narrowing >= min_narrowing) & (rnd - r0 >= min_roundness_rise) & (open_rel < max_blow_opening)
    opened = ~blow & (open_rel >= min_open)
    states = np.full(t.shape, MOUTH_NEUTRAL, dtype=np.int8)
    states[blow] = MOUTH_BLOW
    states[opened] = MOUTH_OPEN
    states[~valid] = MOUTH_NEUTRAL
    return states, {"width": w0, "roundness": r0, "opening": o0, "calibration_frames": int(cal.sum())}


def window_masks(
    t: np.ndarray, windows: list[tuple[float, float]], *, lag_s: float, margin_before_s: float, margin_after_s: float
) -> tuple[list[np.ndarray], np.ndarray]:
    """Core mask of each window (``[start + lag_s, end)``) and the mask of frames outside all windows and margins."""
    cores = [(t >= a + lag_s) & (t < b) for a, b in windows]
    near = np.zeros(t.shape, dtype=bool)
    for a, b in windows:
        near |= (t >= a - margin_before_s) & (t < b + margin_after_s)
    return cores, ~near


def _expired(challenge: Challenge, now_s: float | None) -> bool:
    return (time.time() if now_s is None else float(now_s)) > challenge.expires_at


def _clip_end(features: LipFeatures) -> float:
    t = features.timestamps_s
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return float(t[-1] + step) if t.size else 0.0


def _unavailable(check: str, reason: str, threshold: float, challenge: Challenge, **details: Any) -> BlowResult:
    return BlowResult(
        check=check, score=float("nan"), threshold=threshold, accepted=False, reasons=(reason,),
        available=True, details=details, windows=challenge.windows,
    )


def check_blow(
    features: LipFeatures,
    audio: Audio | None,
    challenge: Challenge,
    *,
    now_s: float | None = None,
    threshold: float = BLOW_THRESHOLD,
    lag_s: float = 0.35,
    min_valid: float = 0.8,
) -> BlowResult:
    """Did the person blow, with pursed lips, in the prompted windows and only there?

    Parameters
    ----------
    features : LipFeatures
        Lip features of the response clip (``t = 0`` at its first frame, the schedule's origin).
    audio : Audio
        The clip's audio on the same time axis.
    challenge : Challenge
        A verified blow challenge (:func:`lipauth.challenge.verify_challenge`).
    now_s : float, optional
        Current Unix time for the expiry check (default: now).
    threshold : float
        Accept when the score reaches it. Default 0.5, tuned on synthetic sessions
        (``benchmarks/accuracy_liveness.py``: genuine median 0.92; blow sound with a still
        mouth, pursing without sound, speech and photo attacks <= 0).
    lag_s : float
        Reaction time excluded at the start of each window (seconds).
    min_valid : float
        Minimum share of frames with a face.

    Returns
    -------
    BlowResult
        Reasons: ``CHALLENGE_EXPIRED``, ``CLIP_TOO_SHORT``, ``NO_FACE``, ``NO_BLOW_HEARD``,
        ``MOUTH_NOT_BLOWING``, ``MOUTH_OFF_SCHEDULE`` (pursing starts or stops too far from
        a window's edges), ``BLOW_OUTSIDE_PROMPT``, ``MOUTH_BLOW_OUTSIDE_PROMPT``.

    Raises
    ------
    NoAudioStreamError
        ``audio`` is None.
    """
    if audio is None:
        raise NoAudioStreamError("the blow check needs the clip's audio; record with a microphone")
    windows = challenge.prompt_windows("blow")
    if challenge.kind != "blow" or not windows:
        raise InputError(f"challenge kind={challenge.kind!r} has no blow windows; pass a blow challenge to check_blow")
    if _expired(challenge, now_s):
        return _unavailable("blow", "CHALLENGE_EXPIRED", threshold, challenge, expires_at=challenge.expires_at)
    end = min(_clip_end(features), audio.end_s)
    if end < challenge.duration_s - 0.2:
        return _unavailable(
            "blow", "CLIP_TOO_SHORT", threshold, challenge, clip_s=end, schedule_s=challenge.duration_s
        )
    t = features.timestamps_s
    if features.valid.mean() < min_valid:
        return _unavailable("blow", "NO_FACE", threshold, challenge, valid_share=float(features.valid.mean()))
    bf = breath_frames(audio)
    _, prob = blow_probability(audio, timestamps_s=t, frames=bf)
    heard = prob >= 0.5
    states, ref = mouth_states(features, calibration_end_s=windows[0][0])
    pursed = states == MOUTH_BLOW
    cores, outside = window_masks(t, windows, lag_s=lag_s, margin_before_s=0.15, margin_after_s=0.45)
    audio_cov, mouth_cov = _cover(heard, cores), _cover(pursed, cores)
    # the pursing that answers a window must start and stop with it (a human lag allowed);
    # timed on the mouth: its edges are sharp, a breath's quiet start and end are not
    mouth_err = [_edge_error(t, pursed, a, b) for a, b in windows]
    out_audio = float(heard[outside].mean()) if outside.any() else 0.0
    out_mouth = float(pursed[outside].mean()) if outside.any() else 0.0
    both = heard | pursed
    agreement = float((heard & pursed).sum() / both.sum()) if both.any() else 0.0
    mouth_ok = [e == 0.0 for e in mouth_err]
    per_window = [min(ac, mc) - me for ac, mc, me in zip(audio_cov, mouth_cov, mouth_err)]
    score = min(per_window) - 2.0 * max(out_audio, out_mouth)
    reasons = []
    if min(audio_cov) < _MIN_COVERAGE:
        reasons.append("NO_BLOW_HEARD")
    if min(mouth_cov) < _MIN_COVERAGE:
        reasons.append("MOUTH_NOT_BLOWING")
    elif not all(mouth_ok):
        reasons.append("MOUTH_OFF_SCHEDULE")
    if out_audio > _MAX_OUTSIDE:
        reasons.append("BLOW_OUTSIDE_PROMPT")
    if out_mouth > _MAX_OUTSIDE:
        reasons.append("MOUTH_BLOW_OUTSIDE_PROMPT")
    details = {
        "audio_coverage": audio_cov, "mouth_coverage": mouth_cov, "mouth_edge_error_s": mouth_err, "audio_outside": out_audio,
        "mouth_outside": out_mouth, "agreement": agreement, "neutral_mouth": ref, "nonce": challenge.nonce,
    }
    return BlowResult(
        check="blow", score=float(score), threshold=float(threshold),
        accepted=bool(score >= threshold and not reasons), reasons=tuple(reasons), available=True,
        details=details, timestamps_s=t, audio_activity=prob, mouth_state=states, windows=challenge.windows,
    )
