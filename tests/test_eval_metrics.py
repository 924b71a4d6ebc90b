"""Metrics with known answers (hand-computed), invariances and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lipauth.errors import InputError
from lipauth.eval.metrics import (
    apcer_bpcer,
    bootstrap_ci,
    bpcer_at_apcer,
    eer,
    error_curve,
    far_frr,
    frr_at_far,
    roc_auc,
)


def test_separable_scores() -> None:
    genuine, impostor = [0.8, 0.9, 1.0], [0.1, 0.2, 0.3]
    assert roc_auc(genuine, impostor) == 1.0
    rate, threshold = eer(genuine, impostor)
    assert rate == 0.0 and 0.3 < threshold <= 0.8
    assert frr_at_far(genuine, impostor, 0.0)[0] == 0.0


def test_hand_computed_rates() -> None:
    genuine = [0.2, 0.6, 0.7, 0.9]
    impostor = [0.1, 0.3, 0.65, 0.8]
    assert far_frr(genuine, impostor, 0.65) == (0.5, 0.5)
    # pairs where genuine > impostor: 0.2 beats 1, 0.6 beats 2, 0.7 beats 3, 0.9 beats 4
    assert roc_auc(genuine, impostor) == pytest.approx(10 / 16)
    # t=0.65: FAR 2/4 (0.65, 0.8), FRR 2/4 (0.2, 0.6): the rates are equal there
    rate, threshold = eer(genuine, impostor)
    assert (rate, threshold) == (0.5, 0.65)
    assert frr_at_far(genuine, impostor, 0.25) == (0.5, 0.7)


def test_ties_count_half_in_auc() -> None:
    assert roc_auc([0.5, 0.5], [0.5, 0.5]) == 0.5


def test_error_curve_is_monotone() -> None:
    rng = np.random.default_rng(1)
    curve = error_curve(rng.normal(1, 1, 200), rng.normal(0, 1, 300))
    assert np.all(np.diff(curve.far) <= 0) and np.all(np.diff(curve.frr) >= 0)
    assert curve.far[0] == 1.0 and curve.frr[-1] == 1.0 and curve.far[-1] == 0.0


def test_auc_is_invariant_to_monotone_transforms() -> None:
    rng = np.random.default_rng(2)
    g, i = rng.normal(1, 1, 100), rng.normal(0, 1, 100)
    assert roc_auc(g, i) == pytest.approx(roc_auc(np.exp(g), np.exp(i)))


def test_apcer_per_type_and_worst() -> None:
    per_type, worst, bpcer = apcer_bpcer(
        [0.9, 0.8, 0.4, 0.95], {"replay": [0.1, 0.6, 0.2, 0.3], "photo": [0.0, 0.1]}, threshold=0.5
    )
    assert per_type == {"replay": 0.25, "photo": 0.0} and worst == 0.25 and bpcer == 0.25


def test_bpcer_at_apcer_uses_the_worst_type() -> None:
    bona = np.linspace(0.5, 1.0, 11)
    attacks = {"easy": [0.0, 0.1], "hard": [0.55, 0.6, 0.1, 0.2]}
    bpcer, threshold = bpcer_at_apcer(bona, attacks, apcer=0.0)
    assert threshold > 0.6
    _, worst, b = apcer_bpcer(bona, attacks, threshold)
    assert worst == 0.0 and b == bpcer == pytest.approx(3 / 11)


def test_bootstrap_interval_contains_the_value() -> None:
    rng = np.random.default_rng(3)
    g, i = rng.normal(1.5, 1, 80), rng.normal(0, 1, 80)
    value, low, high = bootstrap_ci(roc_auc, g, i, n_resamples=200)
    assert low <= value <= high and high - low < 0.2


@pytest.mark.parametrize(
    ("genuine", "impostor", "match"),
    [([], [0.1], "genuine scores: no scores"), ([0.1, float("nan")], [0.2], "NaN or infinite")],
)
def test_bad_scores(genuine: list, impostor: list, match: str) -> None:
    with pytest.raises(InputError, match=match):
        eer(genuine, impostor)


def test_bad_parameters() -> None:
    with pytest.raises(InputError, match="far=2"):
        frr_at_far([1.0], [0.0], 2)
    with pytest.raises(InputError, match="no attack type"):
        apcer_bpcer([1.0], {}, 0.5)
    with pytest.raises(InputError, match="confidence"):
        bootstrap_ci(roc_auc, [1.0], [0.0], confidence=1.0)


def test_det_and_histogram_plots(tmp_path) -> None:  # noqa: ANN001
    from lipauth.eval.plots import plot_det, plot_score_histograms

    rng = np.random.default_rng(4)
    g, i = rng.normal(2, 1, 300), rng.normal(0, 1, 300)
    det = plot_det({"a": (g, i), "b": (g, i + 1)}, tmp_path / "det.png")
    hist = plot_score_histograms({"bona fide": g, "replay": i}, tmp_path / "h.png", threshold=1.0)
    assert det.read_bytes()[:4] == hist.read_bytes()[:4] == b"\x89PNG"
