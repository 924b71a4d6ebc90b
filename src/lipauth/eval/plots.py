"""DET curves and score histograms as PNG (matplotlib, Agg, imported on first use)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lipauth.eval.metrics import eer, error_curve

__all__ = ["plot_det", "plot_score_histograms"]

_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def plot_det(
    systems: Mapping[str, tuple[object, object]],
    path: str | Path,
    *,
    title: str = "DET curve",
    x_label: str = "FAR / APCER",
    y_label: str = "FRR / BPCER",
) -> Path:
    """Detection error trade-off curves on normal-deviate axes, one per system.

    Parameters
    ----------
    systems : mapping of label -> (genuine scores, impostor scores)
        Higher scores = more genuine. The legend shows each system's EER.
    path : str or Path
        Output PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    lo, hi = 0.0005, 0.5
    fig, ax = plt.subplots(figsize=(6, 6))
    for label, (genuine, impostor) in systems.items():
        curve = error_curve(genuine, impostor)
        rate, _ = eer(genuine, impostor)
        x = norm.ppf(np.clip(curve.far, lo, hi))
        y = norm.ppf(np.clip(curve.frr, lo, hi))
        ax.plot(x, y, label=f"{label} (EER {100 * rate:.1f}%)")
    ticks = norm.ppf(_TICKS)
    ax.set_xticks(ticks, [f"{100 * t:g}" for t in _TICKS])
    ax.set_yticks(ticks, [f"{100 * t:g}" for t in _TICKS])
    ax.plot(norm.ppf([lo, hi]), norm.ppf([lo, hi]), color="0.8", lw=1, ls="--")
    ax.set_xlim(norm.ppf(lo), norm.ppf(hi))
    ax.set_ylim(norm.ppf(lo), norm.ppf(hi))
    ax.set_xlabel(f"{x_label} (%)")
    ax.set_ylabel(f"{y_label} (%)")
    ax.set_title(title)
    ax.grid(True, color="0.9")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_score_histograms(
    groups: Mapping[str, object], path: str | Path, *, threshold: float | None = None, title: str = "scores"
) -> Path:
    """Overlaid score histograms of several groups (bona fide, each attack type, ...)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in groups.items()}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()] or [np.zeros(1)])
    bins = np.linspace(finite.min(), finite.max() + 1e-9, 40)
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, a in arrays.items():
        ax.hist(a[np.isfinite(a)], bins=bins, alpha=0.5, label=f"{label} (n={a.size})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set_xlabel("score")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
