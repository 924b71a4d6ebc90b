"""Lip-password accuracy on real data, with and without rest around the takes (``../shared/data``).

MIRACL-VC1 F01 (6 phrases x 10 takes): per phrase, 20 random enrolments of 3 takes; genuine =
the other 7 takes of the phrase, wrong phrase = the 50 takes of the other 5 phrases (same
person), other people = the first 3 s of every usable ``av_speakers`` clip (26 people) and GRID
s1 clips 0-19 (another person, other sentences); and GRID s1 sentences against a template
of another s1 sentence (the same new person, other phrases). The threshold, the channel weights and the
cohort were chosen on phrases 01-03 (the cohort holds their takes: each tuning phrase is
scored against the cohort without its own takes); the numbers that count are those of
phrases 04-06, never used for any tuning, and of the other people.

Conditions: ``clean`` (takes as recorded: MIRACL takes are cut tightly around the phrase),
``rest`` (every take, enrolment and attempt, with its first and last frames held 0.6-1.4 s
with camera noise and tracked again: how a page records) and ``clean->rest`` (enrolled
from clean takes, attempts with rest).

Printed per fold and condition: EER (95 % bootstrap interval), FRR at FAR 1 % and 0.1 %,
accept rates at the shipped threshold (genuine, wrong phrase, other people), enrolments
refused; per held-out phrase the EER; then enrolment consistency: how often a set of 3
genuine takes is refused, and how often a take of another phrase / another person among 2
genuine takes is refused and named.

Usage: ``.venv/bin/python benchmarks/accuracy_password.py [--splits 20] [--tune]``
(``--tune``: the EER thresholds of the tuning fold, from which the default was chosen).
Set ``LIPAUTH_BENCH_CACHE=/tmp/dir`` to keep tracked clips on disk between runs.
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
    miracl_takes,
    other_people_takes,
    split_scores,
)

from lipauth.checks import password
from lipauth.checks.password import DEFAULT_THRESHOLD, PasswordConfig, enrol_password
from lipauth.errors import InconsistentTakesError

CONDITIONS = (("clean", False, False), ("rest", True, True), ("clean->rest", False, True))


def frr_at(gen: np.ndarray, imp: np.ndarray, far: float) -> float:
    """FRR at the lowest threshold whose FAR is at most ``far``."""
    ths = np.unique(np.concatenate([gen, imp, [np.inf]]))
    ok = [t for t in ths if (imp >= t).mean() <= far]
    return float((gen < min(ok)).mean())


def bootstrap_eer(gen: np.ndarray, imp: np.ndarray, n: int = 200, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = [eer(rng.choice(gen, gen.size), rng.choice(imp, imp.size))[0] for _ in range(n)]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def scores(takes: dict, phrases, cond: tuple, others: list, *, tuning: bool, n_splits: int):
    """split_scores per phrase; on the tuning fold against the cohort without the phrase's takes."""
    _, rest_enrol, rest_att = cond
    full = password.load_cohort()
    out = {"gen": [], "imp": [], "oth": [], "fte": 0, "by_phrase": {}}
    try:
        for p in phrases:
            if tuning:
                reduced = full.without_groups([p])
                password.load_cohort = lambda c=reduced: c
            g, i, o, f = split_scores(takes[rest_enrol], [p], attempts=takes[rest_att], others=others,
                                      n_splits=n_splits, seed=p)
            out["by_phrase"][p] = (np.array([r.score for r in g]), np.array([r.score for r in i]))
            out["gen"] += g
            out["imp"] += i
            out["oth"] += o
            out["fte"] += f
    finally:
        password.load_cohort = lambda: full
    return out


def report(label: str, res: dict, threshold: float) -> None:
    gen = np.array([r.score for r in res["gen"]])
    imp = np.array([r.score for r in res["imp"]])
    oth = np.array([r.score for r in res["oth"]])
    e, frr1, thr = eer(gen, imp)
    lo, hi = bootstrap_eer(gen, imp)
    acc = lambda rs: f"{sum(r.accepted for r in rs)}/{len(rs)}"  # noqa: E731
    print(
        f"{label}: EER {100 * e:.1f}% [{100 * lo:.1f}-{100 * hi:.1f}], FRR@FAR1% {100 * frr1:.1f}%, "
        f"FRR@FAR0.1% {100 * frr_at(gen, imp, 0.001):.1f}%, EER threshold {thr:.3f}; at {threshold:.2f}: genuine accepted "
        f"{acc(res['gen'])}, wrong phrase accepted {acc(res['imp'])}, other people accepted {acc(res['oth'])} "
        f"(highest {oth.max() if oth.size else float('nan'):.3f}); enrolments refused {res['fte']}"
    )
    per = ", ".join(f"{p:02d}: {100 * eer(g, i)[0]:.1f}%" for p, (g, i) in res["by_phrase"].items())
    print(f"    EER by phrase: {per}")


def consistency(takes: dict, others: list, phrases, *, n: int = 30, seed: int = 5) -> None:
    """Refusal rates of the enrolment consistency rule on 3-take sets."""
    rng = np.random.default_rng(seed)
    for cond, rest in (("clean", False), ("rest", True)):
        t = takes[rest]
        counts = {"genuine": [0, 0], "other phrase": [0, 0], "other person": [0, 0], "three phrases": [0, 0]}
        named_right = 0
        for p in phrases:
            for _ in range(n):
                enr = [t[p][i] for i in rng.choice(10, 3, replace=False)]
                q = int(rng.choice([x for x in range(1, 7) if x != p]))
                sets = {
                    "genuine": enr,
                    "other phrase": enr[:2] + [t[q][int(rng.integers(10))]],
                    "other person": enr[:2] + [others[int(rng.integers(len(others)))]],
                    "three phrases": [enr[0], t[q][int(rng.integers(10))],
                                      t[int(rng.choice([x for x in range(1, 7) if x not in (p, q)]))][int(rng.integers(10))]],
                }
                for name, takes3 in sets.items():
                    counts[name][1] += 1
                    try:
                        enrol_password(takes3)
                    except InconsistentTakesError as exc:
                        counts[name][0] += 1
                        named = str(exc).split("not match")[0]
                        if name in ("other phrase", "other person") and "take 3" in named and "take 1 " not in named:
                            named_right += 1
        rates = ", ".join(f"{k} refused {a}/{b}" for k, (a, b) in counts.items())
        print(f"consistency ({cond}, phrases {phrases}, limit {password.PasswordConfig().max_inconsistency}): {rates}; "
              f"the odd take alone named {named_right}/{counts['other phrase'][0] + counts['other person'][0]} refused sets")


def grid_other_sentences(threshold: float, n: int = 20) -> None:
    """Another person's other phrases: GRID s1 clips 0-19 (s1 is in no cohort take but clips
    40-49), each enrolled from its own clip at 0.9x, 1x and 1.1x speed (GRID has no repeated
    sentence), the other 19 sentences as wrong phrases of the same person."""
    from password_realdata import grid_paths, resampled, take

    from lipauth.checks.password import check_password

    takes = [take(str(p)) for p in grid_paths(n)]
    scores = []
    for i, t in enumerate(takes):
        tpl = enrol_password([resampled(t, s) for s in (0.9, 1.0, 1.1)], config=PasswordConfig(max_inconsistency=100.0))
        scores += [check_password(tpl, o).score for j, o in enumerate(takes) if j != i]
    sc = np.array(scores)
    print(f"GRID s1 other sentences of the same person ({n} clips, {sc.size} attempts): accepted at {threshold:.2f} "
          f"{int((sc >= threshold).sum())}/{sc.size}; score median {np.median(sc):.3f}, 95th percentile "
          f"{np.percentile(sc, 95):.3f}, highest {sc.max():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=20, help="random 3-take enrolments per phrase")
    ap.add_argument("--tune", action="store_true", help="print the tuning fold's EER thresholds")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = PasswordConfig()
    takes = {False: miracl_takes(range(1, 7)), True: miracl_takes(range(1, 7), rest=True)}
    others = other_people_takes()
    print(f"takes tracked in {time.perf_counter() - t0:.0f} s; {len(others)} clips of other people")
    folds = (("tuning phrases 01-03", TUNE_PHRASES, True), ("held-out phrases 04-06", REPORT_PHRASES, False))
    for label, phrases, tuning in folds:
        if tuning and not args.tune:
            continue
        for cond in CONDITIONS:
            res = scores(takes, phrases, cond, [] if tuning else others, tuning=tuning, n_splits=args.splits)
            report(f"MIRACL F01 {label}, {cond[0]}", res, cfg.threshold)
    consistency(takes, others, REPORT_PHRASES)
    grid_other_sentences(cfg.threshold)
    print(f"default threshold {DEFAULT_THRESHOLD}; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
