"""Biometric and presentation-attack-detection metrics (ISO/IEC 30107-3 and 19795-1 style).

Score convention everywhere: **higher = more genuine / more bona fide**, and a sample is
accepted when ``score >= threshold``. NaN scores are refused (a check that could not run
must be counted by the caller as a decision, not silently dropped).

Verification (genuine vs impostor attempts): FAR, FRR, EER, FRR at a fixed FAR.
Presentation attack detection (bona fide vs attacks of several types): APCER per attack
type and the worst type, BPCER, and BPCER at a fixed APCER. ROC AUC. Bootstrap
confidence intervals for any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from lipauth.errors import InputError

__all__ = [
    "ErrorCurve",
    "error_curve",
    "roc_auc",
    "eer",
    "frr_at_far",
    "far_frr",
    "apcer_bpcer",
    "bpcer_at_apcer",
    "bootstrap_ci",
]


def _scores(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise InputError(f"{name}: no scores given; pass at least one score")
    if not np.all(np.isfinite(arr)):
        raise InputError(
            f"{name}: {int((~np.isfinite(arr)).sum())} score(s) are NaN or infinite; "
            "count checks that could not run as rejections (score -inf is not allowed either)"
        )
    return arr


@dataclass(frozen=True)
class ErrorCurve:
    """FAR and FRR at every distinct threshold (ascending thresholds).

    Attributes
    ----------
    thresholds : np.ndarray [shape=(k,)]
        Candidate thresholds: every distinct score, plus one above the largest.
    far : np.ndarray [shape=(k,)]
        Fraction of impostor (attack) scores ``>= threshold`` (falsely accepted).
    frr : np.ndarray [shape=(k,)]
        Fraction of genuine (bona fide) scores ``< threshold`` (falsely rejected).
    """

    thresholds: np.ndarray
    far: np.ndarray
    frr: np.ndarray


def error_curve(genuine: object, impostor: object) -> ErrorCurve:
    """FAR/FRR for every threshold between the observed scores."""
    g = np.sort(_scores("genuine scores", genuine))
    i = np.sort(_scores("impostor scores", impostor))
    thresholds = np.unique(np.concatenate([g, i]))
    thresholds = np.append(thresholds, np.nextafter(thresholds[-1], np.inf))
    far = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    frr = np.searchsorted(g, thresholds, side="left") / g.size
    return ErrorCurve(thresholds, far, frr)


def far_frr(genuine: object, impostor: object, threshold: float) -> tuple[float, float]:
    """``(FAR, FRR)`` at one threshold."""
    g = _scores("genuine scores", genuine)
    i = _scores("impostor scores", impostor)
    return float(np.mean(i >= threshold)), float(np.mean(g < threshold))


def roc_auc(genuine: object, impostor: object) -> float:
    """Probability that a genuine score exceeds an impostor score (ties count half)."""
    from scipy.stats import rankdata

    g = _scores("genuine scores", genuine)
    i = _scores("impostor scores", impostor)
    ranks = rankdata(np.concatenate([g, i]))
    return float((ranks[: g.size].sum() - g.size * (g.size + 1) / 2.0) / (g.size * i.size))


def eer(genuine: object, impostor: object) -> tuple[float, float]:
    """Equal error rate and the threshold where FAR and FRR cross.

    Returns ``(eer, threshold)``; the EER is the mean of FAR and FRR at the threshold
    where they are closest (the usual discrete estimate).
    """
    curve = error_curve(genuine, impostor)
    k = int(np.argmin(np.abs(curve.far - curve.frr)))
    return float((curve.far[k] + curve.frr[k]) / 2.0), float(curve.thresholds[k])


def frr_at_far(genuine: object, impostor: object, far: float = 0.01) -> tuple[float, float]:
    """Lowest FRR with FAR at most ``far``; returns ``(frr, threshold)``."""
    if not 0.0 <= far <= 1.0:
        raise InputError(f"far={far!r} is out of range; allowed 0 to 1")
    curve = error_curve(genuine, impostor)
    ok = np.flatnonzero(curve.far <= far + 1e-12)
    k = int(ok[np.argmin(curve.frr[ok])])
    return float(curve.frr[k]), float(curve.thresholds[k])


def apcer_bpcer(
    bona_fide: object, attacks: Mapping[str, object], threshold: float
) -> tuple[dict[str, float], float, float]:
    """ISO/IEC 30107-3 error rates at one threshold.

    Parameters
    ----------
    bona_fide : array-like
        Scores of bona fide presentations.
    attacks : mapping of attack type -> array-like
        Scores of each attack presentation type.
    threshold : float
        Presentations scoring ``>= threshold`` are classified bona fide.

    Returns
    -------
    apcer_per_type : dict
        Attack presentation classification error rate of each type.
    apcer_worst : float
        The largest of them (the 30107-3 headline APCER).
    bpcer : float
        Bona fide presentation classification error rate.
    """
    if not attacks:
        raise InputError("attacks: no attack type given; pass {type: scores}")
    b = _scores("bona fide scores", bona_fide)
    per_type = {name: float(np.mean(_scores(f"attack scores ({name})", s) >= threshold)) for name, s in attacks.items()}
    return per_type, max(per_type.values()), float(np.mean(b < threshold))


def bpcer_at_apcer(bona_fide: object, attacks: Mapping[str, object], apcer: float = 0.05) -> tuple[float, float]:
    """Lowest BPCER with the worst attack type's APCER at most ``apcer``: ``(bpcer, threshold)``."""
    if not attacks:
        raise InputError("attacks: no attack type given; pass {type: scores}")
    b = _scores("bona fide scores", bona_fide)
    all_attacks = {name: _scores(f"attack scores ({name})", s) for name, s in attacks.items()}
    # the worst type decides, so the threshold must clear each type's quantile
    threshold = -np.inf
    for scores in all_attacks.values():
        curve = error_curve(b, scores)
        ok = curve.far <= apcer + 1e-12
        threshold = max(threshold, float(curve.thresholds[np.flatnonzero(ok)[0]]))
    return float(np.mean(b < threshold)), float(threshold)


def bootstrap_ci(
    metric: Callable[..., float],
    *samples: object,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap of ``metric(*samples)``, each sample resampled independently.

    Returns ``(value, low, high)``: the metric on the data and the ``confidence`` interval.
    """
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence={confidence!r} is out of range; allowed 0 to 1 (exclusive)")
    if n_resamples < 10:
        raise InputError(f"n_resamples={n_resamples!r} is too small; use at least 10")
    arrays = [_scores(f"sample {k}", s) for k, s in enumerate(samples)]
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for r in range(n_resamples):
        values[r] = metric(*(a[rng.integers(0, a.size, a.size)] for a in arrays))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, (alpha, 1.0 - alpha))
    return float(metric(*arrays)), float(low), float(high)
