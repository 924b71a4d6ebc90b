"""Timed speech challenge: speak in the prompted windows, rest between them.

The answer is timed on the VOICE: voice activity (:func:`lipauth.features.audio.voice_activity`,
10-ms WebRTC frames) starts and stops far more sharply than lip motion, which starts and
stops unevenly within syllables. Each ``speak`` window must be answered by its own run of
voice (pauses between words bridged, :func:`lipauth.checks.blow.schedule_timing`) with no
voice outside the windows; the runs must START at one common reaction lag (onset spread
<= 0.3 s) and each may END from 0.25 s before to 0.5 s after its window end + that lag
(:func:`answer_timing`): a real speaker finishes the word in progress. A replayed answer is
consistent audio and video, but its voice edges follow the schedule it was recorded for:
another schedule differs by >= 0.75 s in some window length or >= 0.4 s in some rest
(:mod:`lipauth.challenge`). The lips are the liveness part: they must move while the voice
is on (coverage of each answered window) and rest outside; the audio-visual sync check
(:func:`lipauth.checks.sync.check_sync`, on the whole clip) is folded in: when it rejects,
its reasons are added in the speech check's words (:data:`SYNC_REASONS`: ``AV_DESYNC`` only
for a voice that follows the lips at another offset, ``AV_MISMATCH`` for a weak match).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from lipauth.challenge import Challenge
from lipauth.checks.blow import (
    MOUTH_NEUTRAL,
    MOUTH_OPEN,
    REACTION_LAG_S,
    ScheduleTiming,
    _expired,
    _unavailable,
    answer_masks,
    clip_too_short,
    heard_share,
    schedule_timing,
)
from lipauth.checks.sync import STILL_LIP_RANGE
from lipauth.errors import InputError, NoAudioStreamError
from lipauth.types import Audio, ChallengeResult, LipFeatures

__all__ = ["AnswerTiming", "SpeechResult", "answer_timing", "check_speech_challenge", "voice_runs_timing", "SPEECH_THRESHOLD", "SYNC_REASONS",
           "sync_refused"]

#: default threshold; tuned on synthetic sessions (synth face speaking voiced syllables on
#: schedule vs the schedule of another challenge), benchmarks/accuracy_liveness.py
SPEECH_THRESHOLD = 0.5
_MIN_COVERAGE = 0.25  # speech has pauses: a quarter of the window's core is enough
_FULL_COVERAGE = 0.5  # coverage counted as complete
_MAX_OUTSIDE = 0.08

#: the speech check's reason for each reason of a rejecting sync check: only a voice that
#: follows the lips at another offset is ``AV_DESYNC`` (a replay or a dub); a weak match is
#: ``AV_MISMATCH``; the sync gates keep their meaning in the speech check's words
SYNC_REASONS = {"AV_DESYNC": "AV_DESYNC", "LOW_CONFIDENCE": "AV_MISMATCH", "STILL_FACE_WITH_VOICE": "STILL_FACE_WITH_VOICE",
                "NO_LIP_MOTION": "LIPS_NOT_MOVING", "NO_SPEECH": "NO_SPEECH_HEARD", "LOOPED_LIPS": "LOOPED_LIPS"}


@dataclass(frozen=True, eq=False)
class SpeechResult(ChallengeResult):
    """:class:`~lipauth.types.ChallengeResult` of :func:`check_speech_challenge`:
    ``audio_activity`` is voice activity (0/1), ``mouth_state`` 2 where the lips move, 0
    elsewhere; ``details`` carries the coverage, timing and (with ``use_sync``) the folded-in
    sync check. Same ``to_dict()`` keys as :class:`~lipauth.checks.blow.BlowResult`.
    """

    check: str = "speech"


def sync_refused(result: SpeechResult) -> bool:
    """Whether the sync check folded into a speech result (``use_sync=True``) rejected the clip."""
    sync = result.details.get("sync")
    return bool(sync and sync["available"] and not sync["accepted"])
#: the answer is timed by its ONSETS: the voice runs answering the windows must start at one
#: reaction lag (the mid-range of the 3 onset delays, inside
#: lipauth.checks.blow.REACTION_LAG_S) within this spread (max - min), seconds. Onsets are
#: sharp: real people (benchmarks/accuracy_liveness.py --real --split tune, 12 tune people)
#: start within 0.21 s of each other (99 %: 0.14 s)
SPEECH_MAX_ONSET_SPREAD_S = 0.3
#: ... and each run must END between this much before and SPEECH_OFFSET_LATE_S after its
#: window's end + that lag, seconds. Real speakers stop at the end of the word in progress:
#: offsets - onset lag span -0.16..+0.46 s on the tune people (the voice activity's hangover
#: makes them late more than early), where one spread limit over all 6 edges (0.30 s, before)
#: rejected 29/96 of their answers. An answer to another schedule differs from this one by
#: >= 0.75 s in some window length (its offset lands outside -0.25..+0.5 s, since
#: 0.25 + 0.5 = the step) or by >= 0.4 s in some rest (the onsets after it move by that much,
#: past the 0.3-s onset spread unless the answer's own onsets scatter the other way):
#: lipauth.challenge.WINDOW_LEVELS_S / REST_LEVELS_S
SPEECH_OFFSET_EARLY_S = 0.25
SPEECH_OFFSET_LATE_S = 0.5
#: pauses between words inside one answer bridged when finding its voice run, seconds
SPEECH_MERGE_GAP_S = 0.3
#: ... and inside one speak window, runs with pauses under this between them are one answer
#: (lipauth.checks.blow.schedule_timing's join_gap_s): people pause inside an answer
SPEECH_JOIN_GAP_S = 0.6
#: the margins around the speak windows (where voice and lip motion are not "outside") move
#: with an answer whose reaction lag is over this, seconds: a person who starts late also
#: stops late (REACTION_LAG_S allows up to 0.7 s). Natural answers (GRID s1 clips 50-74, one
#: continuous take: rest, sentence, rest) reacting 0.6 s late were refused 24 times in 25 without it
SPEECH_FOLLOW_LAG_FROM_S = 0.2
#: lip motion this long before the voice that answers a window, and this long after it, is
#: part of the answer, seconds: the mouth opens before the voice and closes after it. One
#: continuous take (rest, sentence, rest) of GRID s1 clips 50-74: the lips start 0.44 s before
#: the voice in the median (90 %: 0.78 s, at most 0.82 s; other people in the data, after
#: their pauses: median 0.16 s, at most 0.81 s) and stop 0.12 s after it (at most 0.30 s; 0.35 s
#: on clips 75-99): after the voice the lips get the voice's own 0.5 s, which also absorbs a
#: camera whose picture lags its sound by 0.1-0.2 s (a take through the page failed at 0.3 s)
SPEECH_LIP_LEAD_S = 0.8
SPEECH_LIP_TRAIL_S = 0.5
#: voice activity frame, seconds (sharper edges than the 40-ms video frames)
_VAD_FRAME_S = 0.01
#: WebRTC voice-activity mode (0 lenient to 3 strict) for every voice measure of the check.
#: 3, tuned on real people (benchmarks/accuracy_liveness.py --real --split tune): at mode 2
#: the room noise of GRID s1's silences (-31 to -38 dBFS) makes 70-ms voice blips in the
#: rest, bridged into stray runs, and voice edges blur; mode 3 took tune-people BPCER from
#: 35 to 27 of 96 at spread 0.3 (GRID s1 6 -> 1 of 8), no replayed answer accepted (0 of 960)
SPEECH_VAD_AGGRESSIVENESS = 3
#: a voice run outside every window is stray (``SPEECH_OUTSIDE_PROMPT``) only when it holds
#: at least this much voiced time, seconds (0: any run of >= 0.2 s after bridging pauses)
SPEECH_MIN_STRAY_VOICED_S = 0.0


@dataclass(frozen=True)
class AnswerTiming:
    """Onset-led timing of a speech answer (:func:`answer_timing`).

    Attributes
    ----------
    lag_s : float
        Reaction lag: mid-range of the onset delays (NaN when a window is unanswered).
    onset_spread_s : float
        Max - min of the onset delays (inf when a window is unanswered or two share a run).
    early_s, late_s : float
        How far the earliest-ending run stops before its window end + lag, and the latest
        after it (seconds; positive = beyond the lag in that direction).
    """

    lag_s: float
    onset_spread_s: float
    early_s: float
    late_s: float

    def on_schedule(self) -> bool:
        return bool(self.onset_spread_s <= SPEECH_MAX_ONSET_SPREAD_S + 1e-9 and self.early_s <= SPEECH_OFFSET_EARLY_S + 1e-9
                    and self.late_s <= SPEECH_OFFSET_LATE_S + 1e-9
                    and REACTION_LAG_S[0] <= self.lag_s <= REACTION_LAG_S[1])

    def score(self) -> float:
        """``1 - 0.5 * (worst edge / its limit)`` minus how far (s) the lag leaves its range; 0.5 at a limit."""
        if not np.isfinite(self.onset_spread_s):
            return 0.0
        worst = max(self.onset_spread_s / SPEECH_MAX_ONSET_SPREAD_S, self.early_s / SPEECH_OFFSET_EARLY_S,
                    self.late_s / SPEECH_OFFSET_LATE_S)
        out_of_range = max(0.0, REACTION_LAG_S[0] - self.lag_s, self.lag_s - REACTION_LAG_S[1])
        return 1.0 - 0.5 * worst - out_of_range

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def answer_timing(timing: ScheduleTiming) -> AnswerTiming:
    """Onset lag, onset spread and how early / late the runs end, from the runs' edge delays."""
    on = np.asarray(timing.onset_delay_s, dtype=np.float64)
    off = np.asarray(timing.offset_delay_s, dtype=np.float64)
    if not np.isfinite(timing.spread_s) or not np.all(np.isfinite(on)) or not np.all(np.isfinite(off)):
        return AnswerTiming(float("nan"), float("inf"), float("inf"), float("inf"))
    lag = float((on.max() + on.min()) / 2)
    return AnswerTiming(lag, float(on.max() - on.min()), float(max(0.0, lag - off.min())), float(max(0.0, off.max() - lag)))


def _lip_moving(features: LipFeatures) -> np.ndarray:
    t = features.timestamps_s
    moving = np.zeros(t.shape, dtype=bool)
    for a, b, _label, _peak in features.segments:
        moving |= (t >= a) & (t < b)
    return moving & features.valid


def voice_runs_timing(audio: Audio, windows: list[tuple[float, float]]) -> ScheduleTiming:
    """Edge timing of the voice runs answering ``windows`` (10-ms WebRTC voice activity).

    Pauses up to :data:`SPEECH_MERGE_GAP_S` are bridged, runs under 0.2 s dropped
    (:func:`lipauth.checks.blow.schedule_timing`).
    """
    tv, vad = _voice_grid(audio)
    return schedule_timing(tv, vad, windows, merge_gap_s=SPEECH_MERGE_GAP_S, min_run_s=0.2, join_gap_s=SPEECH_JOIN_GAP_S)


def _voice_grid(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Times and voice activity of the 10-ms WebRTC frames."""
    from lipauth.features.audio import voice_activity

    vad = np.asarray(voice_activity(audio, frame_s=_VAD_FRAME_S, aggressiveness=SPEECH_VAD_AGGRESSIVENESS), dtype=bool)
    return audio.start_s + _VAD_FRAME_S * np.arange(vad.size), vad


def _stray_voice(tv: np.ndarray, vad: np.ndarray, windows: list[tuple[float, float]]) -> int:
    """Voice runs (pauses bridged) outside every window holding >= SPEECH_MIN_STRAY_VOICED_S of voice."""
    from lipauth.checks.blow import _runs

    out = 0
    for lo, hi in _runs(tv, vad, merge_gap_s=SPEECH_MERGE_GAP_S, min_run_s=0.2):
        if any(min(hi, b) > max(lo, a) for a, b in windows):
            continue
        voiced = _VAD_FRAME_S * float(vad[(tv >= lo) & (tv < hi)].sum())
        out += int(voiced >= SPEECH_MIN_STRAY_VOICED_S - 1e-9)
    return out


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
) -> SpeechResult:
    """Did the person speak, visibly and audibly, in the prompted windows and only there, on time?

    Score: ``min(min over windows of min(1, min(voice coverage, lip-motion coverage) / 0.5),
    voice timing) - 2 * max(voice share outside, lip-motion share outside)`` with ``voice
    timing`` = :meth:`AnswerTiming.score` of the voice runs (:func:`voice_runs_timing`,
    :func:`answer_timing`; 0.5, the threshold, when the onset spread or an early / late end
    reaches its limit). Speech has pauses, so half a window's core
    counts as full. Lip coverage is measured in each window's core shifted by the voice's
    reaction lag; the lips' own edge timing (``details["lip_timing"]``) is reported only:
    lips start and stop unevenly within syllables. With ``use_sync`` a rejecting sync check
    adds its reasons mapped by :data:`SYNC_REASONS` (:func:`sync_refused` tells). Default threshold 0.5, the timing limits and the reason limits
    (coverage >= 0.25, outside <= 0.08) were tuned on synthetic speech sessions (synth
    face, fluent voiced syllables in the windows, tune seeds) against other challenges'
    schedules (benchmarks/accuracy_liveness.py); the voice-activity mode
    (:data:`SPEECH_VAD_AGGRESSIVENESS`) and the onset / offset limits were then tuned on real
    people's answers built from their own clips (``--real --split tune``), reported on other
    people (docs/challenges.md#accuracy).

    Returns
    -------
    SpeechResult
        ``audio_activity`` is voice activity (0/1), ``mouth_state`` 2 where the lips move.
        Reasons: ``CHALLENGE_EXPIRED``, ``CLIP_TOO_SHORT``, ``NO_FACE``, ``NO_SPEECH_HEARD``,
        ``VOICE_OFF_SCHEDULE`` (the voice runs do not start with the windows at one reaction
        lag, or one ends more than 0.25 s early / 0.5 s late), ``LIPS_NOT_MOVING``, ``SPEECH_OUTSIDE_PROMPT`` (voice outside the
        windows, or a voice run that answers no window), ``LIPS_MOVE_OUTSIDE_PROMPT``,
        ``AV_DESYNC``, ``AV_MISMATCH``, ``STILL_FACE_WITH_VOICE``, ``LOOPED_LIPS`` (sync folded in).
    """
    from lipauth.features.audio import voice_activity

    if audio is None:
        raise NoAudioStreamError("the timed speech check needs the clip's audio; record with a microphone")
    windows = challenge.prompt_windows("speak")
    if challenge.kind != "speech" or not windows:
        raise InputError(f"challenge kind={challenge.kind!r} has no speak windows; pass a speech challenge")
    if _expired(challenge, now_s):
        return _unavailable(SpeechResult, "CHALLENGE_EXPIRED", threshold, challenge, expires_at=challenge.expires_at)
    short = clip_too_short(SpeechResult, features.timestamps_s, audio, challenge, threshold)
    if short is not None:
        return short
    if features.valid.mean() < min_valid:
        return _unavailable(SpeechResult, "NO_FACE", threshold, challenge, valid_share=float(features.valid.mean()))
    t = features.timestamps_s
    voice = np.asarray(voice_activity(audio, timestamps_s=t, aggressiveness=SPEECH_VAD_AGGRESSIVENESS), dtype=bool)
    lips = _lip_moving(features)
    # timed on the voice: each window answered by its own voice run whose onset and offset
    # follow one reaction lag; the lips must move in each window so answered
    tv, vad = _voice_grid(audio)
    timing = schedule_timing(tv, vad, windows, merge_gap_s=SPEECH_MERGE_GAP_S, min_run_s=0.2, join_gap_s=SPEECH_JOIN_GAP_S)
    stray = _stray_voice(tv, vad, windows)
    answer = answer_timing(timing)
    timing_score = answer.score()
    lip_timing = schedule_timing(t, lips, windows, merge_gap_s=SPEECH_MERGE_GAP_S, min_run_s=0.2)
    answered = dataclasses.replace(timing, lag_s=answer.lag_s)
    cores, outside = answer_masks(t, windows, answered, lag_s=lag_s, margin_before_s=0.2, margin_after_s=0.5,
                                  follow_lag_from_s=SPEECH_FOLLOW_LAG_FROM_S)
    lips_outside_mask = outside.copy()
    for (a, b), on_d, off_d in zip(windows, timing.onset_delay_s, timing.offset_delay_s):
        if np.isfinite(on_d) and np.isfinite(off_d):  # the voice answering the window, and the lips around it
            lips_outside_mask &= ~((t >= a + on_d - SPEECH_LIP_LEAD_S) & (t < b + off_d + SPEECH_LIP_TRAIL_S))
    voice_cov = heard_share(t, voice, windows, after_s=0.5)
    lip_cov = [float(lips[m].mean()) if m.any() else 0.0 for m in cores]
    out_voice = float(voice[outside].mean()) if outside.any() else 0.0
    out_lips = float(lips[lips_outside_mask].mean()) if lips_outside_mask.any() else 0.0
    full = [min(1.0, min(a, b) / _FULL_COVERAGE) for a, b in zip(voice_cov, lip_cov)]
    score = min(min(full), timing_score) - 2.0 * max(out_voice, out_lips)
    reasons = []
    if min(voice_cov) < _MIN_COVERAGE:
        reasons.append("NO_SPEECH_HEARD")
    elif not answer.on_schedule():
        reasons.append("VOICE_OFF_SCHEDULE")
    if min(lip_cov) < _MIN_COVERAGE:
        reasons.append("LIPS_NOT_MOVING")
    if out_voice > _MAX_OUTSIDE or stray:
        reasons.append("SPEECH_OUTSIDE_PROMPT")
    if out_lips > _MAX_OUTSIDE and max(lip_cov) >= _MIN_COVERAGE and features.opening_range() >= STILL_LIP_RANGE:
        # lips that moved in no window, or never opened and closed at all (the sync check's
        # still-face rule), get LIPS_NOT_MOVING alone: tracker jitter on a still face must
        # not also read as moving outside the prompts
        reasons.append("LIPS_MOVE_OUTSIDE_PROMPT")
    details: dict = {"voice_coverage": voice_cov, "lip_coverage": lip_cov, "voice_outside": out_voice,
                     "lips_outside": out_lips, "voice_timing": {**timing.to_dict(), **answer.to_dict()}, "lip_timing": lip_timing.to_dict(),
                     "nonce": challenge.nonce}
    if use_sync:
        from lipauth.checks.sync import check_sync

        sync = check_sync(features, audio)
        details["sync"] = {"score": sync.score, "threshold": sync.threshold, "accepted": sync.accepted,
                           "reasons": list(sync.reasons), "available": sync.available}
        if sync.available and not sync.accepted:
            mapped = [SYNC_REASONS[r] for r in sync.reasons if r in SYNC_REASONS] or ["AV_MISMATCH"]
            reasons += [r for r in dict.fromkeys(mapped) if r not in reasons]
    states = np.where(lips, MOUTH_OPEN, MOUTH_NEUTRAL).astype(np.int8)
    return SpeechResult(
        score=float(score), threshold=float(threshold),
        accepted=bool(score >= threshold and not reasons), reasons=tuple(reasons), available=True,
        details=details, timestamps_s=t, audio_activity=voice.astype(np.float64), mouth_state=states,
        windows=challenge.windows,
    )
