"""Timed speech challenge: speak in the prompted windows, rest between them.

Voice activity (:func:`lipauth.features.audio.voice_activity`) and lip motion (the
movement segments of :class:`~lipauth.types.LipFeatures`) must both cover each ``speak``
window and stay low outside; the audio-visual sync check
(:func:`lipauth.checks.sync.check_sync`) is folded in: when it rejects, ``AV_DESYNC`` is
added and the score is capped by its margin.
"""

from __future__ import annotations

import numpy as np

from lipauth.challenge import Challenge
from lipauth.checks.blow import (
    MOUTH_NEUTRAL,
    MOUTH_OPEN,
    BlowResult,
    _clip_end,
    _expired,
    _unavailable,
    answer_masks,
    heard_share,
    schedule_timing,
)
from lipauth.errors import InputError, NoAudioStreamError
from lipauth.types import Audio, LipFeatures

__all__ = ["check_speech_challenge", "SPEECH_THRESHOLD"]

#: default threshold; tuned on synthetic sessions (synth face speaking voiced syllables on
#: schedule vs the schedule of another challenge), benchmarks/accuracy_liveness.py
SPEECH_THRESHOLD = 0.5
_MIN_COVERAGE = 0.25  # speech has pauses: a quarter of the window's core is enough
_FULL_COVERAGE = 0.5  # coverage counted as complete
_MAX_OUTSIDE = 0.08
#: largest spread (max - min) of the 2n edge delays of the lip-motion runs answering the
#: windows, seconds. Speech starts and stops less sharply than pursing: synthetic speech
#: sessions (benchmarks/accuracy_liveness.py, tune seeds 0-5) spread 0.34-0.58 s, so this
#: limit alone does not separate another schedule's answer (off by >= 0.5 s in one
#: interval); coverage and the outside-the-windows limits do most of that work here
SPEECH_MAX_EDGE_SPREAD_S = 0.6
#: pauses inside one answer bridged when finding its lip-motion run, seconds
SPEECH_MERGE_GAP_S = 0.35


def _lip_moving(features: LipFeatures) -> np.ndarray:
    t = features.timestamps_s
    moving = np.zeros(t.shape, dtype=bool)
    for a, b, _label, _peak in features.segments:
        moving |= (t >= a) & (t < b)
    return moving & features.valid


def check_speech_challenge(
    features: LipFeatures,
    audio: Audio | None,
    challenge: Challenge,
    *,
    now_s: float | None = None,
    threshold: float = SPEECH_THRESHOLD,
    lag_s: float = 0.35,
    min_valid: float = 0.8,
    use_sync: bool = True,
) -> BlowResult:
    """Did the person speak, visibly and audibly, in the prompted windows and only there?

    Score: ``min(min over windows of min(1, min(voice coverage, lip-motion coverage) / 0.5),
    timing) - 2 * max(voice share outside, lip-motion share outside)`` (speech has pauses, so
    half a window's core counts as full; resting outside the windows matters most). The
    edge timing of the lip-motion runs (:func:`lipauth.checks.blow.schedule_timing`, pauses
    up to ``SPEECH_MERGE_GAP_S`` bridged) is reported in ``details["lip_timing"]`` only:
    on synthetic syllables its spread (0.46-1.02 s) rejected half the genuine answers; with
    ``use_sync`` a rejecting sync check adds ``AV_DESYNC``. Default threshold 0.5 and the
    reason limits (coverage >= 0.25, outside <= 0.08) were tuned on synthetic speech
    sessions (synth face, voiced syllables in the windows) against other challenges' schedules.

    Returns
    -------
    BlowResult
        ``audio_activity`` is voice activity (0/1), ``mouth_state`` 2 where the lips move.
        Reasons: ``CHALLENGE_EXPIRED``, ``CLIP_TOO_SHORT``, ``NO_FACE``, ``NO_SPEECH_HEARD``,
        ``LIPS_NOT_MOVING``, ``SPEECH_OUTSIDE_PROMPT``, ``LIPS_MOVE_OUTSIDE_PROMPT``, ``AV_DESYNC``.
    """
    from lipauth.features.audio import voice_activity

    if audio is None:
        raise NoAudioStreamError("the timed speech check needs the clip's audio; record with a microphone")
    windows = challenge.prompt_windows("speak")
    if challenge.kind != "speech" or not windows:
        raise InputError(f"challenge kind={challenge.kind!r} has no speak windows; pass a speech challenge")
    if _expired(challenge, now_s):
        return _unavailable("speech", "CHALLENGE_EXPIRED", threshold, challenge, expires_at=challenge.expires_at)
    end = min(_clip_end(features), audio.end_s)
    if end < challenge.duration_s - 0.2:
        return _unavailable("speech", "CLIP_TOO_SHORT", threshold, challenge, clip_s=end, schedule_s=challenge.duration_s)
    if features.valid.mean() < min_valid:
        return _unavailable("speech", "NO_FACE", threshold, challenge, valid_share=float(features.valid.mean()))
    t = features.timestamps_s
    voice = np.asarray(voice_activity(audio, timestamps_s=t), dtype=bool)
    lips = _lip_moving(features)
    # each window answered by its own run of lip motion (pauses bridged) whose onset and
    # offset follow one reaction lag; the voice must be heard from the window's start to
    # 0.5 s past its end and stay quiet elsewhere
    timing = schedule_timing(t, lips, windows, merge_gap_s=SPEECH_MERGE_GAP_S, min_run_s=0.2)
    cores, outside = answer_masks(t, windows, timing, lag_s=lag_s, margin_before_s=0.2, margin_after_s=0.5)
    voice_cov = heard_share(t, voice, windows, after_s=0.5)
    lip_cov = [float(lips[m].mean()) if m.any() else 0.0 for m in cores]
    out_voice = float(voice[outside].mean()) if outside.any() else 0.0
    out_lips = float(lips[outside].mean()) if outside.any() else 0.0
    full = [min(1.0, min(a, b) / _FULL_COVERAGE) for a, b in zip(voice_cov, lip_cov)]
    score = min(full) - 2.0 * max(out_voice, out_lips)
    reasons = []
    if min(voice_cov) < _MIN_COVERAGE:
        reasons.append("NO_SPEECH_HEARD")
    if min(lip_cov) < _MIN_COVERAGE:
        reasons.append("LIPS_NOT_MOVING")
    if out_voice > _MAX_OUTSIDE:
        reasons.append("SPEECH_OUTSIDE_PROMPT")
    if out_lips > _MAX_OUTSIDE:
        reasons.append("LIPS_MOVE_OUTSIDE_PROMPT")
    details: dict = {"voice_coverage": voice_cov, "lip_coverage": lip_cov, "voice_outside": out_voice,
                     "lips_outside": out_lips, "lip_timing": timing.to_dict(), "nonce": challenge.nonce}
    if use_sync:
        from lipauth.checks.sync import check_sync

        sync = check_sync(features, audio)
        details["sync"] = {"score": sync.score, "threshold": sync.threshold, "accepted": sync.accepted,
                           "reasons": list(sync.reasons), "available": sync.available}
        if sync.available and not sync.accepted:
            reasons.append("AV_DESYNC")
    states = np.where(lips, MOUTH_OPEN, MOUTH_NEUTRAL).astype(np.int8)
    return BlowResult(
        check="speech", score=float(score), threshold=float(threshold),
        accepted=bool(score >= threshold and not reasons), reasons=tuple(reasons), available=True,
        details=details, timestamps_s=t, audio_activity=voice.astype(np.float64), mouth_state=states,
        windows=challenge.windows,
    )
