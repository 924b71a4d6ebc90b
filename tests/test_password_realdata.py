"""Lip password on real media (skipped with the reason when ../shared/data is absent).

MIRACL-VC1 F01, leave-phrase-out as in ``benchmarks/accuracy_password.py`` (fewer enrolments):
each phrase is scored against a cohort without any F01 take (GRID s1 clips 40-49 remain: the
cohort saw neither the phrase nor the person), with takes as recorded and with 0.6-1.4 s of
still face held before and after every take (enrolment and attempt), as a page records them.
Other people (``av_speakers``, GRID s1) never unlock a template. Enrolment refuses a take of
another phrase or person and names it. The floors are the benchmark's numbers with room for
the fewer enrolments (docs/password.md); they fail when the matcher gets clearly worse.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from password_realdata import (
    eer,
    grid_paths,
    miracl_path,
    miracl_takes,
    other_people_takes,
    resampled,
    take,
)

from lipauth.checks.password import PasswordConfig, check_password, enrol_password, load_cohort
from lipauth.errors import EnrolmentError, InconsistentTakesError

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

PHRASES = tuple(range(1, 7))


@pytest.fixture(scope="module")
def miracl() -> dict[bool, dict[int, list]]:
    shared_path("miracl_f01", "F01_phrase01_rep01.mp4")
    return {False: miracl_takes(PHRASES), True: miracl_takes(PHRASES, rest=True)}


@pytest.fixture(scope="module")
def others() -> list:
    shared_path("av_speakers", "speakers.csv")
    shared_path("grid_s1", "video")
    return other_people_takes()


def _leave_person_out(takes: dict[int, list], others: list, n_splits: int):
    """Genuine / wrong-phrase / other-people results and refused enrolments, cohort without F01."""
    cohort = load_cohort().without_groups(PHRASES)
    gen, imp, oth, fte = [], [], [], 0
    for p in PHRASES:
        rng = np.random.default_rng(p)
        for _ in range(n_splits):
            enr = rng.choice(10, 3, replace=False)
            try:
                tpl = enrol_password([takes[p][i] for i in enr], cohort=cohort)
            except EnrolmentError:
                fte += 1
                continue
            gen += [check_password(tpl, takes[p][i], cohort=cohort) for i in range(10) if i not in enr]
            imp += [check_password(tpl, t, cohort=cohort) for q in PHRASES if q != p for t in takes[q]]
            oth += [check_password(tpl, t, cohort=cohort) for t in others]
    return gen, imp, oth, fte


@pytest.mark.parametrize("rest", [False, True], ids=["as-recorded", "with-rest"])
def test_leave_phrase_out_eer_and_other_people(miracl: dict, others: list, rest: bool) -> None:
    gen, imp, oth, fte = _leave_person_out(miracl[rest], others[::3], n_splits=5)
    e, frr_at_far1, _ = eer([r.score for r in gen], [r.score for r in imp])
    # measured (benchmarks/accuracy_password.py, 20 enrolments a phrase): docs/password.md
    assert e <= EER_FLOOR[rest], f"EER {e:.3f}"
    assert frr_at_far1 <= FRR1_FLOOR[rest], f"FRR at FAR 1% {frr_at_far1:.3f}"
    assert fte <= 2
    assert not any(r.accepted for r in oth), max(r.score for r in oth)  # other people: 0 accepted
    assert np.mean([r.accepted for r in imp]) <= 0.10 and np.mean([not r.accepted for r in gen]) <= 0.15


#: floors: the benchmark's leave-phrase-out numbers (20 enrolments a phrase: EER 4.2 / 5.0 %, FRR at
#: FAR 1 % 13.3 / 16.7 %; before the takes were combined per channel 5.2 / 5.9 %, 24.1 / 20.2 %) with
#: room for 5 enrolments (measured here before: EER 5.7 / 6.2 %, FRR 26.7 / 24.3 %)
EER_FLOOR = {False: 0.08, True: 0.09}
FRR1_FLOOR = {False: 0.32, True: 0.34}


def test_grid_other_sentences_of_a_new_person(others: list) -> None:
    """GRID s1 (never in the cohort used here) sentences against a template of another s1 sentence."""
    cohort = load_cohort().without_groups([-1])
    takes = [take(str(p)) for p in grid_paths(8)]
    scores = []
    for i, t in enumerate(takes):
        tpl = enrol_password([resampled(t, s) for s in (0.9, 1.0, 1.1)], config=PasswordConfig(max_inconsistency=100.0),
                             cohort=cohort)
        scores += [check_password(tpl, o, cohort=cohort) for j, o in enumerate(takes) if j != i]
    # benchmark: 68/380 accepted at 0.19 (docs/password.md); a weak spot, the floor has room for 56 attempts
    assert np.mean([r.accepted for r in scores]) <= GRID_FLOOR, np.mean([r.accepted for r in scores])


GRID_FLOOR = 0.25  # measured here 6/56


def test_rest_around_a_take_changes_little(miracl: dict) -> None:
    """The issue's case: rep 07 of phrase 03 against rep 01-03, as recorded and with ~1 s of rest."""
    tpl = enrol_password(miracl[False][3][:3])
    tight = check_password(tpl, miracl[False][3][6])
    held = check_password(tpl, miracl[True][3][6])
    assert abs(tight.score - held.score) < 0.1, (tight.score, held.score)
    assert abs(tight.details["duration_s"] - held.details["duration_s"]) < 0.25  # the phrase, not the rest
    rest_tpl = enrol_password(miracl[True][3][:3])
    assert check_password(rest_tpl, miracl[True][3][6]).score > max(check_password(rest_tpl, t).score for t in miracl[True][5]) - 0.05


def test_enrolment_names_a_take_of_another_phrase_or_person(miracl: dict, others: list) -> None:
    good = miracl[True][4][:2]
    with pytest.raises(InconsistentTakesError, match=r"take 3 \(F01_phrase01_rep01\.mp4\) \(\d\.\d\d\) does not match"):
        enrol_password([*good, miracl[True][1][0]])
    with pytest.raises(InconsistentTakesError, match=r"take 3 .* does not match"):
        enrol_password([*good, others[0]])
    # three phrases of two people (the hardening issue's row 4)
    grid = take(str(shared_path("grid_s1", "video", "bbaf2n.mpg")))
    with pytest.raises(InconsistentTakesError):
        enrol_password([grid, take(str(miracl_path(1, 1))), take(str(miracl_path(4, 1)))])
    assert enrol_password(miracl[True][4][:3]).n_takes == 3
