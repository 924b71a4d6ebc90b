"""Blow-at-the-screen challenge: audio blow segments and pursed lips on the prompted schedule.

:func:`mouth_states` labels each frame ``neutral`` / ``blow`` (pursed: narrower and rounder
than the person's own neutral mouth, small opening) / ``open`` (speaking), calibrated on
the neutral frames before the first prompt. :func:`check_blow` measures how well the blow
heard in the audio (:mod:`lipauth.features.breath`) and the blowing mouth cover each
prompted window and stay away from the rest of the clip.

Score: ``min(min over windows of min(audio coverage, mouth coverage), timing) - 2 * max(audio
blow share outside, mouth blow share outside)`` with ``timing = 1 - 0.5 * spread /
MAX_EDGE_SPREAD_S`` (0.5, the threshold, at the limit). Coverage is measured in each
window's core (from ``lag_s`` after its start to its end: the person reacts late).
Window-level timing (:func:`schedule_timing`): each window must be answered by its own run of
pursed lips; the onset and offset delays of those runs (run start - window start, run end -
window end) must agree with one common reaction lag within :data:`REACTION_LAG_S`: their
spread (max - min over all 2n edges) at most :data:`MAX_EDGE_SPREAD_S`. An answer to another
schedule differs from this one by >= 0.45 s in some interval (the schedule levels of
:mod:`lipauth.challenge`), so at least one of its edges is off by that much. "Outside"
excludes 0.15 s before and 0.45 s after every window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from lipauth.challenge import Challenge
from lipauth.errors import InputError, NoAudioStreamError
from lipauth.features.breath import blow_probability, breath_frames
from lipauth.types import Audio, ChallengeResult, LipFeatures

__all__ = [
    "MOUTH_BLOW", "MOUTH_NEUTRAL", "MOUTH_OPEN", "BlowResult", "ScheduleTiming", "check_blow", "clip_too_short", "mouth_states",
    "schedule_timing", "window_masks",
]

MOUTH_NEUTRAL, MOUTH_BLOW, MOUTH_OPEN = 0, 1, 2
#: default score threshold; tuned on synthetic sessions (synth face, real exhale bursts
#: from the held-out breathing files, several loudness levels, fan noise), see
#: benchmarks/accuracy_liveness.py
BLOW_THRESHOLD = 0.5
_MIN_COVERAGE = 0.5
#: allowed common reaction lag (run edge - window edge, seconds): a person answers a prompt
#: late, a detector's smoothing shifts edges a little either way
REACTION_LAG_S = (-0.15, 0.7)
#: largest spread (max - min) of the 2n edge delays of one answer, seconds. Tuned on
#: synthetic sessions (benchmarks/accuracy_liveness.py, tune seeds: spread 0.12-0.14 s); an
#: answer to another schedule is off by >= 0.45 s (lipauth.challenge.WINDOW_LEVELS_S)
#: minus its own spread
MAX_EDGE_SPREAD_S = 0.28


def _cover(mask: np.ndarray, masks: list[np.ndarray]) -> list[float]:
    return [float(mask[m].mean()) if m.any() else 0.0 for m in masks]


@dataclass(frozen=True)
class ScheduleTiming:
    """How the runs of an activity (pursed lips, speech) line up with a schedule's windows.

    Attributes
    ----------
    onset_delay_s, offset_delay_s : tuple of float
        Per window: start of its answering run - window start, end of that run - window
        end (NaN when no run overlaps the window).
    lag_s : float
        Common reaction lag (mid-range of all delays; NaN when a window is unanswered).
    spread_s : float
        Max - min of all delays (inf when a window is unanswered or two windows share a run).
    stray_runs : int
        Runs that overlap no window (activity outside the prompts).
    """

    onset_delay_s: tuple[float, ...]
    offset_delay_s: tuple[float, ...]
    lag_s: float
    spread_s: float
    stray_runs: int

    def on_schedule(self, *, max_spread_s: float, lag_range_s: tuple[float, float]) -> bool:
        return bool(self.spread_s <= max_spread_s and lag_range_s[0] <= self.lag_s <= lag_range_s[1])

    def score(self, *, max_spread_s: float, lag_range_s: tuple[float, float]) -> float:
        """``1 - 0.5 * spread / max_spread`` minus how far (s) the lag leaves its range; 0.5 at the limits."""
        if not np.isfinite(self.spread_s):
            return 0.0
        out_of_range = max(0.0, lag_range_s[0] - self.lag_s, self.lag_s - lag_range_s[1])
        return 1.0 - 0.5 * self.spread_s / max_spread_s - out_of_range

    def to_dict(self) -> dict[str, Any]:
        return {"onset_delay_s": list(self.onset_delay_s), "offset_delay_s": list(self.offset_delay_s),
                "lag_s": self.lag_s, "spread_s": self.spread_s, "stray_runs": self.stray_runs}


def _runs(t: np.ndarray, on: np.ndarray, *, merge_gap_s: float, min_run_s: float) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` runs of ``on``, gaps up to ``merge_gap_s`` bridged, runs under ``min_run_s`` dropped."""
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.04
    idx = np.flatnonzero(on)
    if idx.size == 0:
        return []
    runs: list[list[float]] = []
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        lo, hi = float(t[run[0]]), float(t[run[-1]] + step)
        if runs and lo - runs[-1][1] <= merge_gap_s + 1e-9:
            runs[-1][1] = hi
        else:
            runs.append([lo, hi])
    return [(lo, hi) for lo, hi in runs if hi - lo >= min_run_s - 1e-9]


def schedule_timing(
    t: np.ndarray,
    on: np.ndarray,
    windows: list[tuple[float, float]],
    *,
    merge_gap_s: float = 0.12,
    min_run_s: float = 0.2,
    join_gap_s: float = 0.0,
) -> ScheduleTiming:
    """Match runs of ``on`` to ``windows`` (the run overlapping each window most) and time their edges.

    Parameters
    ----------
    t : np.ndarray [shape=(n_frames,), float64]
        Frame times, seconds.
    on : np.ndarray [shape=(n_frames,), bool]
        Activity per frame (pursed lips, voice, lip motion).
    windows : list of (start_s, end_s)
    merge_gap_s, min_run_s : float
        Runs separated by at most ``merge_gap_s`` are joined; shorter than ``min_run_s`` dropped.
    join_gap_s : float
        Within one window, the run overlapping it most is also joined with its neighbours that
        overlap the same window when the pause between them is under ``join_gap_s`` (a person
        who pauses inside an answer: the answer runs from its first onset to its last offset).
        A run may answer one window only. 0 = off (one run per window).
    """
    runs = _runs(t, np.asarray(on, dtype=bool), merge_gap_s=merge_gap_s, min_run_s=min_run_s)
    used: list[int] = []
    on_d, off_d = [], []
    for a, b in windows:
        overlaps = [max(0.0, min(hi, b) - max(lo, a)) for lo, hi in runs]
        if not overlaps or max(overlaps) <= 0.0:
            on_d.append(float("nan"))
            off_d.append(float("nan"))
            continue
        k = int(np.argmax(overlaps))
        first = last = k
        while first > 0 and overlaps[first - 1] > 0.0 and runs[first][0] - runs[first - 1][1] < join_gap_s:
            first -= 1
        while last + 1 < len(runs) and overlaps[last + 1] > 0.0 and runs[last + 1][0] - runs[last][1] < join_gap_s:
            last += 1
        used.extend(range(first, last + 1))
        on_d.append(runs[first][0] - a)
        off_d.append(runs[last][1] - b)
    d = np.array(on_d + off_d)
    if np.all(np.isfinite(d)) and len(set(used)) == len(used):
        lag, spread = float((d.max() + d.min()) / 2), float(d.max() - d.min())
    else:
        lag, spread = float("nan"), float("inf")
    stray = sum(1 for lo, hi in runs if not any(min(hi, b) > max(lo, a) for a, b in windows))
    return ScheduleTiming(tuple(on_d), tuple(off_d), lag, spread, stray)


_MAX_OUTSIDE = 0.1


@dataclass(frozen=True, eq=False)
class BlowResult(ChallengeResult):
    """:class:`~lipauth.types.ChallengeResult` of :func:`check_blow`: ``audio_activity`` is
    the blow probability, ``mouth_state`` ``MOUTH_NEUTRAL`` 0, ``MOUTH_BLOW`` 1 or
    ``MOUTH_OPEN`` 2 per frame (the timed-speech check has its own
    :class:`lipauth.checks.speech.SpeechResult`).
    """

    check: str = "blow"


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


def heard_share(t: np.ndarray, heard: np.ndarray, windows: list[tuple[float, float]], *, after_s: float) -> list[float]:
    """Per window: frames heard in ``[start, end + after_s)`` / frames in ``end - start - 0.3`` s, capped at 1.

    The sound of an answer starts and ends late and softly (a breath fades in), so it is
    counted anywhere from the window's start to ``after_s`` past its end; the timing of
    the answer is judged on the mouth (:func:`schedule_timing`).
    """
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.04
    out = []
    for a, b in windows:
        n = int(heard[(t >= a) & (t < b + after_s)].sum())
        out.append(min(1.0, n * step / max(b - a - 0.3, 2 * step)))
    return out


def answer_masks(
    t: np.ndarray, windows: list[tuple[float, float]], timing: ScheduleTiming, *, lag_s: float, margin_before_s: float,
    margin_after_s: float, trim_s: float = 0.1, follow_lag_from_s: float | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Core of each window as answered and the mask outside all windows and margins.

    With a reaction lag ``L`` inside :data:`REACTION_LAG_S` (``timing.lag_s``), a window's
    core is ``[start + L + trim_s, end + L - trim_s)`` (at least 2 frames); otherwise
    ``[start + lag_s, end)`` (:func:`window_masks`). With ``follow_lag_from_s``, the margins
    around the windows move with an answer later than that: by ``L - follow_lag_from_s``
    (a person who reacts late also stops late, and the lips close after the voice).
    """
    lag = timing.lag_s
    if not (np.isfinite(lag) and REACTION_LAG_S[0] <= lag <= REACTION_LAG_S[1]):
        return window_masks(t, windows, lag_s=lag_s, margin_before_s=margin_before_s, margin_after_s=margin_after_s)
    late = 0.0 if follow_lag_from_s is None else max(0.0, lag - follow_lag_from_s)
    _, outside = window_masks(t, [(a + late, b + late) for a, b in windows], lag_s=lag_s, margin_before_s=margin_before_s,
                              margin_after_s=margin_after_s)
    cores = []
    for a, b in windows:
        lo, hi = a + lag + trim_s, b + lag - trim_s
        m = (t >= lo) & (t < hi)
        if m.sum() < 2:
            m = (t >= a + lag) & (t < b + lag)
        cores.append(m)
    return cores, outside


def _expired(challenge: Challenge, now_s: float | None) -> bool:
    return (time.time() if now_s is None else float(now_s)) > challenge.expires_at


def _clip_end(timestamps_s: np.ndarray) -> float:
    t = timestamps_s
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return float(t[-1] + step) if t.size else 0.0


_R = TypeVar("_R", bound=ChallengeResult)


def _unavailable(result_type: type[_R], reason: str, threshold: float, challenge: Challenge, **details: Any) -> _R:
    return result_type(
        score=float("nan"), threshold=threshold, accepted=False, reasons=(reason,),
        available=True, details=details, windows=challenge.windows,
    )


def clip_too_short(result_type: type[_R], timestamps_s: np.ndarray, audio: Audio, challenge: Challenge,
                   threshold: float) -> _R | None:
    """The ``CLIP_TOO_SHORT`` result (a ``result_type``: :class:`BlowResult` or
    :class:`~lipauth.checks.speech.SpeechResult`) when the clip (the shorter of its frames and its audio)
    ends more than 0.2 s before the challenge's schedule, else None.

    Needs only the frame times, not the lips: :func:`lipauth.auth.check_liveness` calls it
    on the decoded video before tracking, so a too-short answer is refused cheaply; the
    blow and speech checks call it on their features' times (the same times).
    """
    end = min(_clip_end(np.asarray(timestamps_s, dtype=np.float64)), audio.end_s)
    if end < challenge.duration_s - 0.2:
        return _unavailable(result_type, "CLIP_TOO_SHORT", threshold, challenge, clip_s=end, schedule_s=challenge.duration_s)
    return None


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
        ``MOUTH_NOT_BLOWING``, ``MOUTH_OFF_SCHEDULE`` (the pursed-lips runs do not start and
        stop with the windows at one reaction lag, see :func:`schedule_timing`), ``BLOW_OUTSIDE_PROMPT``, ``MOUTH_BLOW_OUTSIDE_PROMPT``.

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
        return _unavailable(BlowResult, "CHALLENGE_EXPIRED", threshold, challenge, expires_at=challenge.expires_at)
    short = clip_too_short(BlowResult, features.timestamps_s, audio, challenge, threshold)
    if short is not None:
        return short
    t = features.timestamps_s
    if features.valid.mean() < min_valid:
        return _unavailable(BlowResult, "NO_FACE", threshold, challenge, valid_share=float(features.valid.mean()))
    bf = breath_frames(audio)
    _, prob = blow_probability(audio, timestamps_s=t, frames=bf)
    heard = prob >= 0.5
    states, ref = mouth_states(features, calibration_end_s=windows[0][0])
    pursed = states == MOUTH_BLOW
    # each window answered by its own pursed-lips run whose edges follow one reaction lag;
    # timed on the mouth: its edges are sharp, a breath's quiet start and end are not
    timing = schedule_timing(t, pursed, windows)
    timing_score = timing.score(max_spread_s=MAX_EDGE_SPREAD_S, lag_range_s=REACTION_LAG_S)
    cores, outside = answer_masks(t, windows, timing, lag_s=lag_s, margin_before_s=0.15, margin_after_s=0.45)
    mouth_cov = _cover(pursed, cores)
    audio_cov = heard_share(t, heard, windows, after_s=0.45)
    out_audio = float(heard[outside].mean()) if outside.any() else 0.0
    out_mouth = float(pursed[outside].mean()) if outside.any() else 0.0
    both = heard | pursed
    agreement = float((heard & pursed).sum() / both.sum()) if both.any() else 0.0
    per_window = [min(ac, mc) for ac, mc in zip(audio_cov, mouth_cov)]
    score = min(min(per_window), timing_score) - 2.0 * max(out_audio, out_mouth)
    reasons = []
    if min(audio_cov) < _MIN_COVERAGE:
        reasons.append("NO_BLOW_HEARD")
    if min(mouth_cov) < _MIN_COVERAGE:
        reasons.append("MOUTH_NOT_BLOWING")
    elif not timing.on_schedule(max_spread_s=MAX_EDGE_SPREAD_S, lag_range_s=REACTION_LAG_S):
        reasons.append("MOUTH_OFF_SCHEDULE")
    if out_audio > _MAX_OUTSIDE:
        reasons.append("BLOW_OUTSIDE_PROMPT")
    if out_mouth > _MAX_OUTSIDE or timing.stray_runs:
        reasons.append("MOUTH_BLOW_OUTSIDE_PROMPT")
    details = {
        "audio_coverage": audio_cov, "mouth_coverage": mouth_cov, "mouth_timing": timing.to_dict(), "audio_outside": out_audio,
        "mouth_outside": out_mouth, "agreement": agreement, "neutral_mouth": ref, "nonce": challenge.nonce,
    }
    return BlowResult(
        check="blow", score=float(score), threshold=float(threshold),
        accepted=bool(score >= threshold and not reasons), reasons=tuple(reasons), available=True,
        details=details, timestamps_s=t, audio_activity=prob, mouth_state=states, windows=challenge.windows,
    )
