"""Throughput of ``lipauth annotate --engine local`` with 1 worker vs 2 workers.

The same clips are annotated twice from scratch (``--no-resume``): GRID s1 clips from
``../shared/data`` when present, otherwise synthetic talking-face clips made in a
temporary folder. Wall time includes the CLI start-up and, with 2 workers, starting the
worker processes (each loads MediaPipe once). Target: speed-up >= 1.8 on 2 free cores.
The machine may be shared: the 1-minute load average is printed before and after.

    .venv/bin/python benchmarks/bench_annotate.py [--n-clips 40] [--synthetic]

Last line: ``BENCH {json}`` with ``time_s`` = 2 workers, ``baseline_s`` = 1 worker,
``ratio`` = time_s / baseline_s (the speed-up is its inverse).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT.parent / "shared" / "data" / "grid_s1" / "video"


def synthetic_clips(folder: Path, n: int) -> list[Path]:
    from lipauth.synth import make_talking_clip

    paths = []
    for k in range(n):
        p = folder / f"synth{k:02d}.mp4"
        make_talking_clip(p, duration_s=3.0, fps=25.0, size=(360, 288), face_width_px=140, audio=None, seed=k)
        paths.append(p)
    return paths


def annotate(clips: list[Path], out: Path, workers: int) -> float:
    cmd = [sys.executable, "-m", "lipauth.cli", "annotate", *map(str, clips), "--out", str(out), "--engine", "local",
           "--workers", str(workers), "--no-resume", "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"annotate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-clips", type=int, default=40)
    ap.add_argument("--synthetic", action="store_true", help="use synthetic clips even when GRID is present")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if GRID.is_dir() and not args.synthetic:
            clips = sorted(GRID.glob("*.mpg"))[: args.n_clips]
            what = f"{len(clips)} GRID s1 clips (3 s, 360x288, 25 fps)"
        else:
            clips = synthetic_clips(tmpdir, min(args.n_clips, 16))
            what = f"{len(clips)} synthetic clips (3 s, 360x288, 25 fps)"
        n_frames = 75 * len(clips)
        load_before = os.getloadavg()[0]
        t1 = annotate(clips, tmpdir / "one.jsonl", 1)
        t2 = annotate(clips, tmpdir / "two.jsonl", 2)
        load_after = os.getloadavg()[0]
        same = (tmpdir / "one.jsonl").read_bytes() == (tmpdir / "two.jsonl").read_bytes()
    speedup = t1 / t2
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(f"clips: {what}; cores: {os.cpu_count()}; load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    print(f"{'workers':<10}{'wall s':>10}{'frames/s':>12}")
    print(f"{1:<10}{t1:>10.2f}{n_frames / t1:>12.1f}")
    print(f"{2:<10}{t2:>10.2f}{n_frames / t2:>12.1f}")
    print(f"speed-up 2 workers / 1 worker = {speedup:.2f}x (target >= 1.8 on 2 free cores: "
          f"{'ok' if speedup >= 1.8 else 'MISSED'}); outputs identical: {same}")
    print("BENCH " + json.dumps({"stage": "annotate --engine local, 2 workers vs 1", "time_s": round(t2, 3),
                                 "baseline_s": round(t1, 3), "ratio": round(t2 / t1, 3), "rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
