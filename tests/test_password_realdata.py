"""Lip password on real media (skipped when ../shared/data is absent).

MIRACL-VC1 F01: the learned metric and threshold were tuned on phrases 01-03; these tests
enrol phrases 04-06 only (same protocol as ``benchmarks/accuracy_password.py``).
GRID s1: a password enrolled from one sentence rejects the other sentences.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from password_realdata import (
    REPORT_PHRASES,
    eer,
    grid_paths,
    miracl_takes,
    resampled,
    split_scores,
    take,
)

from lipauth.checks.password import check_password, enrol_password

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def miracl() -> dict[int, list]:
    shared_path("miracl_f01", "F01_phrase01_rep01.mp4")
    return miracl_takes(range(1, 7))


def test_miracl_held_out_phrases_eer(miracl: dict[int, list]) -> None:
    gen, imp, fte = split_scores(miracl, REPORT_PHRASES)
    e, frr_at_far1, _ = eer([r.score for r in gen], [r.score for r in imp])
    assert fte == 0
    assert e <= 0.03, f"EER {e:.3f} (target 0.05; measured 0.012 with the cohort, 0.042 without)"
    assert frr_at_far1 <= 0.06, f"FRR at FAR 1% {frr_at_far1:.3f} (measured 0.012; 0.167 without the cohort)"
    far = np.mean([r.accepted for r in imp])
    frr = np.mean([not r.accepted for r in gen])
    assert far <= 0.02 and frr <= 0.15, (far, frr)  # measured 0.002 / 0.100 at the default threshold


def test_miracl_genuine_scores_above_other_phrase(miracl: dict[int, list]) -> None:
    tpl = enrol_password(miracl[4][:3])
    genuine = [check_password(tpl, t).score for t in miracl[4][3:]]
    other = [check_password(tpl, t).score for t in miracl[6]]
    assert np.median(genuine) > np.median(other) + 0.1


def test_grid_other_sentences_rejected() -> None:
    shared_path("grid_s1", "video")
    paths = grid_paths(16)
    takes = [take(str(p)) for p in paths]
    accepted = above = total = 0
    for i, t in enumerate(takes):
        tpl = enrol_password([resampled(t, s) for s in (0.9, 1.0, 1.1)])
        assert check_password(tpl, resampled(t, 0.95)).accepted  # the sentence itself matches
        others = [check_password(tpl, o) for j, o in enumerate(takes) if j != i]
        accepted += sum(r.accepted for r in others)
        above += sum(r.score >= r.threshold for r in others)
        total += len(others)
    assert accepted / total <= 0.01, f"GRID FAR {accepted}/{total}"
    # the score alone (without the enrolment-spread gate), thanks to the cohort's GRID corpus
    # (clips 40-49): 40 clips measured 5.0 % (91 % without the cohort)
    assert above / total <= 0.15, f"GRID score-alone FAR {above}/{total}"
