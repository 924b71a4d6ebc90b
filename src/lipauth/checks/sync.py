"""Audio-visual sync liveness: do the lips move with the voice recorded at the same time?

Method (a learned lip/voice embedding, scored over candidate lags; the model lives in
:mod:`lipauth.checks.sync_model`):

1. Lips: the 40 face-normalised lip landmarks around each frame, normalised per clip, go
   through the lip tower; the voice (40 log-mel bands around the same instant, normalised
   per clip) through the audio tower: 16 canonical pairs each, weighted by their canonical
   correlations.
2. For each lag ``d`` (audio content late by ``d``; +-``max_offset_ms`` in 10-ms steps) the
   agreement is the normalised cross-correlation of the two embedding sequences over the
   frames the audio covers (``sum l.a / sqrt(sum |l|^2 sum |a|^2)``: frames weigh by the
   size of their embeddings, so silent stretches count little): the lag curve.
3. The estimated offset is the curve's best lag. The agreement ``r_0`` is the best value
   within ``+-tolerance_ms`` of zero lag; the confidence is how far it stands above the
   clip's other lags (``(r_0 - median_d r) / (1.4826 * MAD_d r)``, a robust z-score:
   SyncNet's "median minus min", scale-free), reported, not decided on.
4. The score is ``r_0`` minus the best agreement more than ``far_ms`` (300 ms) from zero:
   the clip is its own reference, a voice in sync agrees with the lips near zero lag
   better than a dub does anywhere else. Accepted when it reaches the threshold (chosen
   on held-out people; it may be slightly negative).

The towers were fitted on 27 people and the threshold chosen on leave-people-out folds
(``scripts/train_sync.py``; ``benchmarks/accuracy_sync.py --by-person`` reports by person).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lipauth.checks.sync_model import SyncModel, fit_sync_model, lag_cosines, load_sync_model, mean_over_frames
from lipauth.errors import ConfigError, InputError, SilentAudioError, TooShortError
from lipauth.types import Audio, CheckResult, LipFeatures

__all__ = [
    "LITTLE_SPEECH_S",
    "MIN_OVERLAP_S",
    "SILENT_PEAK_DBFS",
    "SyncModel",
    "SyncResult",
    "check_sync",
    "fit_sync_model",
    "require_sound",
    "load_sync_model",
    "sync_score",
]

log = logging.getLogger(__name__)

#: shortest audio/video overlap the check accepts, seconds
MIN_OVERLAP_S = 1.0
#: audio whose peak is below this level (dBFS) is treated as silent (no microphone signal)
SILENT_PEAK_DBFS = -60.0
#: lip motion below this (robust 5-95 % range of the inner-lip opening, face units) counts
#: as a still face: the spoof/live photo stills as 3-s clips with camera noise track to
#: 0.0004-0.004 and a repeated GRID frame to 0.0001, while speech in GRID s1 clips 0-49
#: spans at least 0.065 (chosen on those; held-out clips 50-99 are checked by the tests)
STILL_LIP_RANGE = 0.01
#: fewest voiced frames (WebRTC VAD) for the check to say there is speech, seconds
MIN_SPEECH_S = 0.3
#: a rejected clip with less speech than this (seconds, on frames with a face) also gets
#: ``LITTLE_SPEECH``: the verdict had little evidence, and a longer answer is worth asking
#: for. Held-out people's own audio in 1.5-s windows (about 1.2 s of speech) is accepted
#: 77 % of the time at the shipped threshold, in 4-s pieces 98 % (docs/sync.md); the
#: threshold does not loosen for short clips, which an attacker could otherwise choose
LITTLE_SPEECH_S = 2.0
#: lips that come back to the same landmarks after 0.2-2 s, frame after frame, are a loop:
#: the median distance between the lip shape at t and at t + k, for the best k, below this
#: share of the lips' own spread. Looped tracks of GRID s1 give 0 (exact repeats); speech
#: in GRID s1 clips 50-99 and the talking heads stays above 0.3 (benchmarks/accuracy_sync.py)
LOOP_MAX_RATIO = 0.05
#: lags read on fewer than this share of the best-covered lag's frames are left out of the
#: lag curve (on short clips the far lags see few frames, and a noisy far maximum)
LAG_MIN_SHARE = 0.0

# --------------------------------------------------------------------------------------
# result


def _array(dtype: str, doc: str) -> Any:
    return field(default_factory=lambda: np.zeros(0, dtype=dtype), metadata={"dtype": dtype, "doc": doc})


@dataclass(frozen=True, eq=False)
class SyncResult(CheckResult):
    """The outcome of :func:`check_sync`.

    Attributes (beyond :class:`~lipauth.types.CheckResult`)
    ----------
    offset_ms : float
        Estimated lag of the audio behind the lips (positive: the voice comes late).
    confidence : float
        Robust z-score of the best agreement near zero lag against all lags
        (higher = zero lag stands out more; about 3 or more is a clear peak).
    lags_ms : np.ndarray [shape=(n_lags,), float64]
    correlations : np.ndarray [shape=(n_lags,), float32]
        Agreement of the lip and voice embeddings at each lag (normalised cross-correlation,
        or the mean cosine for a model with ``pooling="cosine"``).
    window_times_s : np.ndarray [shape=(n_windows,), float64]
        Centre of each agreement window (video axis).
    window_agreement : np.ndarray [shape=(n_windows,), float32]
        Agreement within each window at the estimated offset (NaN where the window has
        too few usable frames).
    """

    check: str = "sync"
    offset_ms: float = float("nan")
    confidence: float = float("nan")
    lags_ms: np.ndarray = _array("float64", "(n_lags,) ms")
    correlations: np.ndarray = _array("float32", "(n_lags,)")
    window_times_s: np.ndarray = _array("float64", "(n_windows,) seconds")
    window_agreement: np.ndarray = _array("float32", "(n_windows,)")


# --------------------------------------------------------------------------------------
# the check


def _robust_z(r: np.ndarray, value: float) -> float:
    finite = r[np.isfinite(r)]
    med = float(np.median(finite))
    mad = float(np.median(np.abs(finite - med))) * 1.4826
    return (value - med) / max(mad, 1e-6)


def sync_score(
    r: np.ndarray, lags_ms: np.ndarray, tolerance_ms: float, far_ms: float = 300.0
) -> tuple[float, float, float]:
    """``(agreement, confidence, score)`` of a lag curve (NaN when nothing is defined near 0).

    agreement = best ``r`` within ``+-tolerance_ms`` of lag 0; confidence = its robust
    z-score against all lags; score = agreement minus the best ``r`` more than ``far_ms``
    from 0 (the clip is its own reference: a voice in sync agrees with the lips near zero
    lag better than anywhere else). Without a defined lag beyond ``far_ms`` (a short
    search) the best lag outside the tolerance stands in for it.
    """
    near = np.abs(lags_ms) <= tolerance_ms
    if not np.any(np.isfinite(r[near])):
        return float("nan"), float("nan"), float("nan")
    agreement = float(np.nanmax(r[near]))
    confidence = _robust_z(r, agreement)
    far = (np.abs(lags_ms) > far_ms) & np.isfinite(r)
    if not far.any():
        far = ~near & np.isfinite(r)
    score = agreement - float(np.max(r[far])) if far.any() else float("nan")
    return agreement, confidence, score


def _frame_s(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if t.size > 1 else 0.04


def _windows(t: np.ndarray, window_s: float, hop_s: float) -> np.ndarray:
    if t[-1] - t[0] <= window_s:
        return np.array([(t[0] + t[-1]) / 2])
    return np.arange(t[0] + window_s / 2, t[-1] - window_s / 2 + 1e-9, hop_s)


def _check_args(
    features: LipFeatures, audio: Audio, max_offset_ms: float, window_s: float, model: SyncModel, threshold: float | None
) -> float:
    """Validate the arguments; the decision threshold."""
    if not isinstance(features, LipFeatures):
        raise InputError(
            f"features is a {type(features).__name__}; pass LipFeatures from lipauth.features.extract_lip_features"
        )
    if not isinstance(audio, Audio):
        raise InputError(f"audio is a {type(audio).__name__}; pass an Audio from lipauth.io.load_audio")
    if not isinstance(max_offset_ms, (int, float)) or not 40 <= max_offset_ms <= 5000:
        raise ConfigError(f"max_offset_ms={max_offset_ms!r}; pass a number of milliseconds in [40, 5000]")
    if not isinstance(window_s, (int, float)) or not 0.5 <= window_s <= 30:
        raise ConfigError(f"window_s={window_s!r}; pass a window length in seconds in [0.5, 30]")
    thr = model.threshold if threshold is None else threshold
    if not isinstance(thr, (int, float)) or not -2.0 <= thr <= 2.0:
        raise ConfigError(f"threshold={threshold!r}; pass a score threshold in [-2, 2] (a difference of two agreements)")
    return float(thr)


def _check_overlap(features: LipFeatures, audio: Audio) -> float:
    """Seconds of audio/video overlap; raises when there is too little or only silence."""
    if audio.n_samples == 0:
        raise TooShortError(f"{audio.source or 'audio'}: no samples (0 s of audio); pass the clip's recorded audio")
    t = features.timestamps_s
    v_start, v_end = float(t[0]), float(t[-1])
    overlap_s = min(v_end, audio.end_s) - max(v_start, audio.start_s)
    if overlap_s <= 0:
        raise InputError(
            f"{audio.source or 'audio'}: audio ({audio.start_s:.2f}-{audio.end_s:.2f} s) and video "
            f"({v_start:.2f}-{v_end:.2f} s) do not overlap in time; pass the audio recorded with this video"
        )
    if overlap_s < MIN_OVERLAP_S:
        raise TooShortError(
            f"{audio.source or 'audio'}: audio and video overlap for {overlap_s:.2f} s; the sync check needs at "
            f"least {MIN_OVERLAP_S:.1f} s: record a longer clip"
        )
    require_sound(audio)
    return overlap_s


def require_sound(audio: Audio) -> None:
    """:class:`SilentAudioError` when ``audio``'s peak is below :data:`SILENT_PEAK_DBFS` (a muted microphone).

    :func:`check_sync` raises it too; callers that track the video run it first, so a silent
    clip is refused before seconds of tracking.
    """
    if audio.n_samples == 0:  # no samples at all: the overlap check names that (TooShortError)
        return
    peak = float(np.max(np.abs(audio.samples)))
    peak_db = 20 * np.log10(peak) if peak > 0 else float("-inf")
    if peak_db < SILENT_PEAK_DBFS:
        raise SilentAudioError(
            f"{audio.source or 'audio'}: audio is silent (peak {peak_db:.0f} dBFS < {SILENT_PEAK_DBFS:.0f}); "
            "check the microphone or pass the recorded audio"
        )


def _gates(features: LipFeatures, audio: Audio) -> tuple[list[str], dict[str, Any]]:
    """Reasons that end the check before the model runs (still lips, no speech) and the evidence."""
    from lipauth.features.audio import voice_activity

    t = features.timestamps_s
    voiced = voice_activity(audio, timestamps_s=t)
    frame_s = _frame_s(t)
    speech_s = float(voiced[features.valid].sum()) * frame_s
    lip_range = features.opening_range()
    has_speech = speech_s >= MIN_SPEECH_S
    reasons: list[str] = []
    if lip_range < STILL_LIP_RANGE:
        reasons.append("STILL_FACE_WITH_VOICE" if has_speech else "NO_LIP_MOTION")
    loop = _repetition(features, frame_s) if not reasons else float("nan")
    if loop < LOOP_MAX_RATIO:
        reasons.append("LOOPED_LIPS")
    if not has_speech:
        reasons.append("NO_SPEECH")
    details = {
        "speech_s": round(speech_s, 3),
        "lip_motion_s": round(_lip_motion_s(features, frame_s), 3),
        "face_s": round(float(features.valid.sum()) * frame_s, 3),
        "lip_range": lip_range,
        "lip_repetition": loop,
    }
    return reasons, details


def _lip_motion_s(features: LipFeatures, frame_s: float) -> float:
    """Seconds of frames with a face inside the clip's lip-motion segments."""
    t = features.timestamps_s
    moving = np.zeros(t.size, bool)
    for seg in features.segments:
        moving |= (t >= seg[0]) & (t <= seg[1])
    return float(np.sum(moving & features.valid)) * frame_s


def _repetition(features: LipFeatures, frame_s: float) -> float:
    """How exactly the lips repeat themselves after 0.2-2 s (0 = a perfect loop; NaN = unknown).

    Best lag ``k`` of the median over frames of ``|x_t - x_{t+k}|`` (lip landmarks), divided
    by the median distance of the frames from their mean shape.
    """
    lm = np.asarray(features.landmarks, dtype=np.float64)
    if lm.shape[0] != features.n_frames or features.n_frames < 20:
        return float("nan")
    x = lm.reshape(lm.shape[0], -1)
    v = features.valid
    spread = float(np.median(np.linalg.norm(x[v] - x[v].mean(axis=0), axis=1)))
    if spread <= 0:
        return float("nan")
    best = float("inf")
    for k in range(max(1, round(0.2 / frame_s)), min(x.shape[0] // 2, round(2.0 / frame_s)) + 1):
        both = v[:-k] & v[k:]
        if both.sum() >= 10:
            best = min(best, float(np.median(np.linalg.norm(x[:-k][both] - x[k:][both], axis=1))))
    return best / spread if np.isfinite(best) else float("nan")


def _window_agreement(
    t: np.ndarray, cos: np.ndarray, mask: np.ndarray, window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Agreement within each window (hop = half of it), from one lag's per-frame agreements."""
    centres = _windows(t, window_s, window_s / 2)
    inside = np.abs(t[None, :] - centres[:, None]) <= window_s / 2
    agree = mean_over_frames(np.broadcast_to(cos, inside.shape), inside & mask, 10)
    return centres, agree.astype(np.float32)


def check_sync(
    features: LipFeatures,
    audio: Audio,
    *,
    max_offset_ms: float = 1000.0,
    model: SyncModel | None = None,
    threshold: float | None = None,
    window_s: float = 1.5,
) -> SyncResult:
    """Check that the lips move with the voice, and estimate the audio/video offset.

    Parameters
    ----------
    features : LipFeatures
        From :func:`lipauth.features.extract_lip_features` (``landmarks`` and the opening).
    audio : Audio
        The clip's audio on the same time axis (``lipauth.io.load_audio``).
    max_offset_ms : float
        Search lags in ``[-max_offset_ms, max_offset_ms]`` (10-ms steps).
    model : SyncModel, optional
        Defaults to the shipped model (:func:`load_sync_model`).
    threshold : float, optional
        Minimum score to accept; defaults to ``model.threshold`` (chosen on
        leave-people-out folds, see ``scripts/train_sync.py``).
    window_s : float
        Length of the per-window agreement windows, seconds (hop = half of it).

    Returns
    -------
    SyncResult
        ``score`` = agreement near zero lag minus the best agreement far from it
        (:func:`sync_score`);
        ``details`` says how much evidence there was: ``speech_s`` (voiced seconds on
        frames with a face), ``lip_motion_s`` (seconds inside lip-motion segments),
        ``face_s``, ``frames_used``/``seconds_used`` (frames with both a face and audio at
        zero lag; frames without a face are left out, so a face lost for a stretch is
        judged on the rest). Reasons: ``STILL_FACE_WITH_VOICE`` (speech but the lips do not
        move: a photo or frozen video), ``NO_LIP_MOTION`` (lips still, no speech either),
        ``LOOPED_LIPS`` (the lips repeat themselves exactly: a looped recording),
        ``NO_SPEECH`` (no voice activity), ``AV_DESYNC`` (the voice follows the lips, only
        at an offset outside the tolerance), ``LOW_CONFIDENCE`` (the voice does not follow
        the lips well enough at any offset), and with either of those ``LITTLE_SPEECH``
        (less than :data:`LITTLE_SPEECH_S` of speech: little evidence, ask for more).

    Raises
    ------
    InputError
        Wrong types, features without landmarks, or audio and video do not overlap.
    SilentAudioError
        The audio peak is below ``SILENT_PEAK_DBFS``.
    TooShortError
        Audio and video overlap for less than ``MIN_OVERLAP_S``.
    ConfigError
        ``max_offset_ms`` outside [40, 5000] or a bad ``threshold``/``window_s``.
    """
    model = model or load_sync_model()
    thr = _check_args(features, audio, max_offset_ms, window_s, model, threshold)
    overlap_s = _check_overlap(features, audio)
    reasons, details = _gates(features, audio)
    details.update({"overlap_s": round(overlap_s, 3), "tolerance_ms": model.tolerance_ms, "model": model.trained_on})
    if reasons:
        empty = np.zeros(0)
        return SyncResult(
            score=float("nan"), threshold=thr, accepted=False, reasons=tuple(reasons), details=details,
            lags_ms=empty, correlations=empty.astype(np.float32), window_times_s=empty,
            window_agreement=empty.astype(np.float32),
        )
    return _decide(features, audio, model, thr, max_offset_ms, window_s, details)


def _decide(
    features: LipFeatures, audio: Audio, model: SyncModel, thr: float, max_offset_ms: float, window_s: float,
    details: dict[str, Any],
) -> SyncResult:
    """The lag curve, the offset, the confidence and the verdict."""
    lags = np.arange(-max_offset_ms, max_offset_ms + 1e-9, 10.0)
    cos, mask = lag_cosines(features, audio, lags, model)
    r = mean_over_frames(cos, mask, 10, LAG_MIN_SHARE)
    if not np.any(np.isfinite(r)):
        raise TooShortError(f"{audio.source or 'audio'}: too few frames with both a face and audio; record a longer clip")
    best = int(np.nanargmax(r))
    offset_ms = float(lags[best])
    agreement, confidence, score = sync_score(r, lags, model.tolerance_ms, model.far_ms)
    accepted = bool(np.isfinite(score) and score >= thr)
    reasons: list[str] = []
    if not accepted:
        # the voice does follow the lips, only at another offset: a desync, not a mismatch
        desync = (
            abs(offset_ms) > model.tolerance_ms
            and sync_score(r, lags - offset_ms, model.tolerance_ms, model.far_ms)[2] >= thr
        )
        reasons.append("AV_DESYNC" if desync else "LOW_CONFIDENCE")
        if details["speech_s"] < LITTLE_SPEECH_S:
            reasons.append("LITTLE_SPEECH")
    centres, agree = _window_agreement(features.timestamps_s, cos[best], mask[best], window_s)
    zero = int(np.argmin(np.abs(lags)))
    frames_used = int(np.sum(mask[zero]))
    details.update({
        "agreement": agreement,
        "best_correlation": float(r[best]),
        "zero_lag_correlation": float(r[zero]),
        "frames_used": frames_used,
        "seconds_used": round(frames_used * _frame_s(features.timestamps_s), 3),
    })
    return SyncResult(
        score=score, threshold=thr, accepted=accepted, reasons=tuple(reasons), details=details,
        offset_ms=offset_ms, confidence=float(confidence), lags_ms=lags, correlations=r.astype(np.float32),
        window_times_s=centres, window_agreement=agree,
    )
