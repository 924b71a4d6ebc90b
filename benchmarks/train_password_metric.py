"""Train the lip-password metric shipped in the package (``checks/models/password_metric.npz``).

Data: MIRACL-VC1 F01 phrases 01-03 only (10 takes each), ``../shared/data``; phrases 04-06
stay unseen for ``benchmarks/accuracy_password.py``. Frames: the default
:class:`lipauth.features.sequence.SequenceConfig` sequence of each take (HOG + pixels of the
aligned labial crop + pose-normalised landmarks, per-take normalised), cut to the
utterance. Metric: PCA (60) then a shrinkage LDA (0.3) that separates lip positions from
the take-to-take variation of the same position (frame differences along DTW paths
between takes of a phrase), 40 output dimensions. The training takes, projected, are
shipped with it as the cohort that normalises the matching degree, with the sentences of
GRID s1 clips 40-49 (tune split; the password benchmark reports on clips 0-39) as other
material (float16, 1-6 KB per take: derived features only, no media).

Usage: ``.venv/bin/python benchmarks/train_password_metric.py [--out PATH] [--phrases 4 5 6]``
(``--phrases 4 5 6 --out /tmp/metric_456.npz`` trains the other fold, for
``benchmarks/accuracy_password.py --metric /tmp/metric_456.npz --swap``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from password_realdata import TUNE_PHRASES, grid_paths, miracl_takes, take

#: cohort group label of the GRID sentences
GRID_GROUP = -1

from lipauth.checks.password import METRIC_FILE, PasswordConfig, train_metric


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "src" / "lipauth" / "checks" / "models" / METRIC_FILE))
    ap.add_argument(
        "--grid-cohort", type=int, nargs=2, default=[40, 50], metavar=("FROM", "TO"),
        help="GRID s1 clips (sorted index range) added to the cohort; 0 0 adds none",
    )
    ap.add_argument("--phrases", type=int, nargs="+", default=list(TUNE_PHRASES), help="MIRACL F01 phrases to train on")
    args = ap.parse_args()
    t0 = time.perf_counter()
    raw = PasswordConfig(use_metric=False)
    takes = miracl_takes(args.phrases, raw)
    groups = [[t.sequence for t in takes[p]] for p in args.phrases]
    data = "MIRACL-VC1 F01 phrases " + ", ".join(f"{p:02d}" for p in args.phrases)
    info = {"data": data, "script": "benchmarks/train_password_metric.py"}
    lo, hi = args.grid_cohort
    if hi > lo:
        info["cohort_extra"] = f"GRID s1 clips {lo}-{hi - 1} (sorted; tune split), group {GRID_GROUP}"
    metric = train_metric(groups, group_ids=args.phrases, info=info)
    if hi > lo:
        grid = [take(str(p), raw).sequence for p in grid_paths(hi)[lo:hi]]
        metric = metric.with_cohort(grid, GRID_GROUP)
    metric.save(args.out)
    print(f"trained on {sum(len(g) for g in groups)} takes in {time.perf_counter() - t0:.1f} s: {metric.info}; wrote {args.out}")


if __name__ == "__main__":
    main()
