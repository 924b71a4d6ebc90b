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
