"""Lip-password accuracy on real data: MIRACL-VC1 F01 and GRID s1 (``../shared/data``).

MIRACL F01 (6 phrases x 10 takes): per phrase, 20 random enrolments of 3 takes; genuine =
the other 7 takes of the phrase, impostor (wrong password) = the 50 takes of the other 5
phrases. The learned metric and the default threshold were tuned on phrases 01-03; the
numbers that count are those of phrases 04-06 (enrolled phrase unseen in tuning). Also
printed: the same without the cohort normalisation (threshold 0.69) and without the learned
metric (the raw DTW baseline), and the threshold's FAR/FRR on the held-out phrases. The
tuning phrases' takes are the cohort, so each tuning phrase is scored against the cohort
without its own takes (leave-phrase-out), which is how the default threshold was chosen.

GRID s1 (one clip per sentence): a password enrolled from one sentence's clip as 3 takes
(the clip at 0.9x, 1x and 1.1x speed: GRID has no repeated sentence) must reject the
other sentences' clips: FAR at the default threshold.

Usage: ``.venv/bin/python benchmarks/accuracy_password.py [--grid N] [--metric PATH --swap]``

``--metric PATH --swap``: the other fold, with a metric trained on phrases 04-06
(``benchmarks/train_password_metric.py --phrases 4 5 6 --out PATH``), reported on 01-03.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from password_realdata import (
    REPORT_PHRASES,
    TUNE_PHRASES,
    eer,
    grid_paths,
    miracl_takes,
    resampled,
    split_scores,
    take,
)

from lipauth.checks.password import (
    DEFAULT_THRESHOLD,
    PasswordConfig,
    PasswordMetric,
    check_password,
    enrol_password,
)


def _scores(takes: dict, phrases, config: PasswordConfig, *, leave_out: bool) -> tuple[list, list, int]:
    """split_scores; with ``leave_out``, each phrase is scored against a cohort without its own takes."""
    if not (leave_out and config.use_metric and config.cohort):
        return split_scores(takes, phrases, config=config)
    from lipauth.checks import password

    full = password.load_metric()
    gen: list = []
    imp: list = []
    fte = 0
    try:
        for p in phrases:
            reduced = full.without_groups([p])
            password.load_metric = lambda m=reduced: m
            g, i, f = split_scores(takes, [p], config=config, seed=p)
            gen, imp, fte = gen + g, imp + i, fte + f
    finally:
        password.load_metric = lambda: full
    return gen, imp, fte


def miracl(config: PasswordConfig, name: str, *, swap: bool = False) -> None:
    takes = miracl_takes(range(1, 7), config)
    folds = (("tuning phrases 01-03", TUNE_PHRASES, True), ("held-out phrases 04-06", REPORT_PHRASES, False))
    if swap:
        folds = (("tuning phrases 04-06", REPORT_PHRASES, True), ("held-out phrases 01-03", TUNE_PHRASES, False))
    for label, phrases, tuning in folds:
        # the tuning phrases' own takes are in the cohort: score them leave-phrase-out
        gen_res, imp_res, fte = _scores(takes, phrases, config, leave_out=tuning)
        gen = [r.score for r in gen_res]
        imp = [r.score for r in imp_res]
        e, frr1, thr = eer(gen, imp)
        far_d = float(np.mean([r.accepted for r in imp_res]))
        frr_d = float(np.mean([not r.accepted for r in gen_res]))
        print(
            f"MIRACL F01 {name:>14}, {label}: EER {100 * e:.1f}%, FRR@FAR1% {100 * frr1:.1f}%, "
            f"EER threshold {thr:.3f}; check_password at threshold {config.threshold:.3f}: FAR {100 * far_d:.1f}%, "
            f"FRR {100 * frr_d:.1f}% ({len(gen)} genuine, {len(imp)} impostor, {fte} enrolments refused)"
        )


def grid(n: int, config: PasswordConfig) -> None:
    paths = grid_paths(n)
    takes = [take(str(p), config) for p in paths]
    accepted = above = total = 0
    worst = -np.inf
    for i, t in enumerate(takes):
        tpl = enrol_password([resampled(t, s) for s in (0.9, 1.0, 1.1)], config=config)
        results = [check_password(tpl, o) for j, o in enumerate(takes) if j != i]
        accepted += sum(r.accepted for r in results)
        above += sum(r.score >= config.threshold for r in results)
        total += len(results)
        worst = max(worst, max(r.score for r in results))
    print(
        f"GRID s1 ({n} sentences): FAR {100 * accepted / total:.2f}% ({accepted}/{total} other-sentence clips accepted "
        f"by check_password, cohort {config.cohort}); score threshold {config.threshold:.3f} alone: FAR {100 * above / total:.2f}%; "
        f"highest impostor score {worst:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=40, help="GRID s1 clips to use (0 skips)")
    ap.add_argument("--metric", help="a PasswordMetric .npz to use instead of the shipped one")
    ap.add_argument("--swap", action="store_true", help="the metric was trained on phrases 04-06: report on 01-03")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.metric:
        from lipauth.checks import password

        metric = PasswordMetric.load(args.metric)
        password.load_metric = lambda: metric  # take_from_features and the templates look it up at call time
        print(f"metric {args.metric}: {metric.info}")
    miracl(PasswordConfig(), "metric + cohort", swap=args.swap)
    miracl(PasswordConfig(cohort=False, threshold=0.69), "metric", swap=args.swap)
    if not args.swap:
        miracl(PasswordConfig(use_metric=False, threshold=0.72), "raw DTW")
    if args.grid:
        grid(args.grid, PasswordConfig())
        grid(args.grid, PasswordConfig(cohort=False, threshold=0.69))
    print(f"default threshold {DEFAULT_THRESHOLD}; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
