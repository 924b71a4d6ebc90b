"""The timed-speech answer's timing rule (lipauth.checks.speech.answer_timing): onsets at one
reaction lag, each run ending 0.25 s early to 0.5 s late (a real speaker finishes the word)."""

from __future__ import annotations

import numpy as np
import pytest

from lipauth.checks.blow import ScheduleTiming
from lipauth.checks.speech import (
    SPEECH_MAX_ONSET_SPREAD_S,
    SPEECH_OFFSET_EARLY_S,
    SPEECH_OFFSET_LATE_S,
    answer_timing,
)


def _timing(on, off) -> ScheduleTiming:
    d = np.r_[on, off]
    return ScheduleTiming(tuple(on), tuple(off), float((d.max() + d.min()) / 2), float(d.max() - d.min()), 0)


def test_word_end_stops_accepted() -> None:
    # onsets 0.2 s late; one run stops 0.45 s after the window end + lag (finishing a word), one 0.2 s before
    t = answer_timing(_timing([0.2, 0.22, 0.18], [0.65, 0.0, 0.3]))
    assert t.lag_s == pytest.approx(0.2) and t.onset_spread_s == pytest.approx(0.04)
    assert t.late_s == pytest.approx(0.45) and t.early_s == pytest.approx(0.2)
    assert t.on_schedule() and t.score() > 0.5
    # the old rule (one 0.3-s spread over all 6 edges) refused it: spread 0.65
    assert _timing([0.2, 0.22, 0.18], [0.65, 0.0, 0.3]).spread_s > 0.6


@pytest.mark.parametrize(
    ("on", "off", "why"),
    [
        ([0.2, 0.2, 0.2], [0.2, 0.2 - 0.75, 0.2], "a window 0.75 s longer than answered: ends 0.75 s early"),
        ([0.2, 0.2, 0.2], [0.2, 0.2 + 0.75, 0.2], "a window 0.75 s shorter than answered: ends 0.75 s late"),
        ([0.2, 0.7, 0.7], [0.2, 0.7, 0.7], "a rest 0.5 s shorter than answered: onsets 0.5 s apart"),
        ([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], "reaction lag 0.9 s, outside -0.15..0.7"),
        ([0.2, float("nan"), 0.2], [0.2, float("nan"), 0.2], "a window unanswered"),
    ],
)
def test_replayed_timing_refused(on, off, why) -> None:
    t = answer_timing(_timing(on, off))
    assert not t.on_schedule(), why
    if "lag" not in why:  # a lag out of range lowers the score by its excess only; VOICE_OFF_SCHEDULE refuses it
        assert t.score() < 0.5, why


def test_limits_fit_the_schedule_levels() -> None:
    from lipauth.challenge import REST_LEVELS_S, WINDOW_LEVELS_S

    assert SPEECH_OFFSET_EARLY_S + SPEECH_OFFSET_LATE_S <= min(np.diff(WINDOW_LEVELS_S["speech"])) + 1e-9
    assert SPEECH_MAX_ONSET_SPREAD_S < min(np.diff(REST_LEVELS_S["speech"]))


# --------------------------------------------------------------------------------------
# found by real answers through the page (tests/test_browser_speech_realdata.py): one take,
# rest - sentence - rest, with pauses inside the answer and a slow reaction


def _runs_signal(t: np.ndarray, runs: list[tuple[float, float]]) -> np.ndarray:
    return np.any([(t >= a) & (t < b) for a, b in runs], axis=0)


def test_a_pause_inside_an_answer_keeps_it_one_answer() -> None:
    """A 0.45-s pause inside a speak window ("set ... blue at f two now") split the answer in two
    runs; the window was timed on the longer one and the answer refused (VOICE_OFF_SCHEDULE)."""
    from lipauth.checks.blow import schedule_timing
    from lipauth.checks.speech import SPEECH_JOIN_GAP_S, SPEECH_MERGE_GAP_S

    t = np.arange(0, 8, 0.01)
    windows = [(1.0, 2.75), (4.0, 5.0)]
    voice = _runs_signal(t, [(1.3, 1.7), (2.15, 3.05), (4.3, 5.3)])  # first answer: 0.45-s pause after 0.4 s
    split = schedule_timing(t, voice, windows, merge_gap_s=SPEECH_MERGE_GAP_S)
    assert split.onset_delay_s[0] == pytest.approx(1.15, abs=0.011)  # timed on the second part only
    joined = schedule_timing(t, voice, windows, merge_gap_s=SPEECH_MERGE_GAP_S, join_gap_s=SPEECH_JOIN_GAP_S)
    assert joined.onset_delay_s == pytest.approx((0.3, 0.3), abs=0.011)
    assert joined.offset_delay_s == pytest.approx((0.3, 0.3), abs=0.011)
    assert answer_timing(joined).on_schedule() and joined.stray_runs == 0


def test_a_run_answers_one_window_only_even_when_joined() -> None:
    """Joining runs inside a window must not let one run answer two windows (speaking through a rest)."""
    from lipauth.checks.blow import schedule_timing

    t = np.arange(0, 6, 0.01)
    voice = _runs_signal(t, [(1.2, 1.9), (2.2, 3.6)])  # the second run overlaps both windows
    timing = schedule_timing(t, voice, [(1.0, 2.5), (3.2, 4.2)], merge_gap_s=0.3, join_gap_s=0.6)
    assert not answer_timing(timing).on_schedule()


def test_a_slow_reaction_moves_the_rest_margins_with_it() -> None:
    """With a reaction lag of 0.6 s (REACTION_LAG_S allows 0.7) the voice runs on 0.6 s past the
    window's end: the margins where it is not "outside" follow the answer's lag (they stayed put,
    and 24 of 25 natural GRID answers at that lag were refused SPEECH_OUTSIDE_PROMPT /
    LIPS_MOVE_OUTSIDE_PROMPT)."""
    from lipauth.checks.blow import answer_masks
    from lipauth.checks.speech import SPEECH_FOLLOW_LAG_FROM_S

    t = np.arange(0, 6, 0.04)
    windows = [(1.0, 2.0)]
    timing = _timing([0.6], [0.6])
    voice = _runs_signal(t, [(1.6, 2.6)])
    _, fixed = answer_masks(t, windows, timing, lag_s=0.35, margin_before_s=0.2, margin_after_s=0.5)
    _, moved = answer_masks(t, windows, timing, lag_s=0.35, margin_before_s=0.2, margin_after_s=0.5,
                            follow_lag_from_s=SPEECH_FOLLOW_LAG_FROM_S)
    assert voice[fixed].any() and not voice[moved].any()
    # an answer at a 0.2-s lag keeps the margins it was tuned with
    _, same = answer_masks(t, windows, _timing([0.2], [0.2]), lag_s=0.35, margin_before_s=0.2, margin_after_s=0.5,
                           follow_lag_from_s=SPEECH_FOLLOW_LAG_FROM_S)
    _, base = answer_masks(t, windows, _timing([0.2], [0.2]), lag_s=0.35, margin_before_s=0.2, margin_after_s=0.5)
    assert np.array_equal(same, base)
