"""Build the background cohort shipped in the package (``checks/models/password_cohort.npz``).

The lip password's matching degree divides each channel's distance by the attempt's own
yardstick: its median distance to a cohort of takes of other phrases and other people
(``lipauth.features.matcher.Cohort``). The cohort is MIRACL-VC1 F01 phrases 01-03 (10 takes
each, grouped by phrase; 04-06 stay out: ``benchmarks/shared_data.csv`` leaves them to
``lipauth eval``'s random split, so they may be scored) and GRID s1 clips 40-49 (sorted by name), from ``../shared/data``;
``benchmarks/accuracy_password.py`` scores every phrase against the cohort without that
phrase's takes (and without the attempt's phrase): leave-phrase-out. GRID clips 0-19 and
``av_speakers`` are in no cohort.

Each take is cut to its phrase and sketched as ``checks.password.take_from_features`` does,
then sketched again to 128 columns per wide channel (``features.matcher.Cohort``): derived
features in float16, no media.

Usage: ``.venv/bin/python benchmarks/train_password_cohort.py [--out PATH] [--phrases 1 2 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from password_realdata import GRID_COHORT, grid_paths, miracl_takes, take

from lipauth.features.matcher import COHORT_FILE, Cohort

#: cohort group label of the GRID sentences
GRID_GROUP = -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "src" / "lipauth" / "checks" / "models" / COHORT_FILE))
    ap.add_argument("--grid", type=int, nargs=2, default=list(GRID_COHORT), metavar=("FROM", "TO"),
                    help="GRID s1 clips (sorted index range) in the cohort; 0 0 adds none")
    ap.add_argument("--phrases", type=int, nargs="+", default=[1, 2, 3], help="MIRACL F01 phrases in the cohort")
    args = ap.parse_args()
    t0 = time.perf_counter()
    takes = miracl_takes(args.phrases)
    seqs = [t.sequence for p in args.phrases for t in takes[p]]
    groups = [p for p in args.phrases for _ in takes[p]]
    lo, hi = args.grid
    seqs += [take(str(p)).sequence for p in grid_paths(hi - lo, start=lo)]
    groups += [GRID_GROUP] * max(hi - lo, 0)
    info = {"data": "MIRACL-VC1 F01 phrases " + ", ".join(f"{p:02d}" for p in args.phrases) + f"; GRID s1 clips {lo}-{hi - 1} (sorted)",
            "script": "benchmarks/train_password_cohort.py"}
    cohort = Cohort.from_takes(seqs, groups, info=info)  # takes are sketches (take_from_features)
    cohort.save(args.out)
    print(f"cohort of {len(seqs)} takes in {time.perf_counter() - t0:.1f} s: {info}; wrote {args.out}")


if __name__ == "__main__":
    main()
