"""Train the shipped audio-to-lip sync model (src/lipauth/checks/models/sync_ridge.npz).

Data (all in ../shared/data, which the real-data tests also read):

* GRID s1 clips 0-49 in name order (speaker s1, 25 fps, 3 s each): training and
  threshold tuning. Clips 50-99 are NEVER used here: tests/test_sync_realdata.py and
  benchmarks/accuracy_sync.py report on them.
* the first 4 s of each talking_heads clip (two other speakers): training only, so the
  mapping sees more than one voice and face; their last 4 s are reported separately.

Threshold: two-fold cross-validation inside GRID clips 0-49 (fit on 25, score the other
25: genuine vs audio shifted by 200-1000 ms and vs audio swapped from another clip); the
threshold is the 3rd percentile of the out-of-fold genuine scores, so about 3% of genuine
GRID clips are rejected by design.

Usage::

    python scripts/train_sync.py [--alpha 100] [--out src/lipauth/checks/models/sync_ridge.npz]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np

from lipauth.checks.sync import fit_sync_model, sync_correlations
from lipauth.eval.attacks import shift_audio, swap_audio
from lipauth.features import extract_lip_features
from lipauth.io import load_audio
from lipauth.tracking import track_lips
from lipauth.types import LipFeatures

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "lipauth" / "checks" / "models" / "sync_ridge.npz"
TALKING_HEADS_TRAIN_S = 4.0
TUNE_SHIFTS_MS = (200, 300, 500, 1000)
REJECT_GENUINE_PCT = 3.0

log = logging.getLogger("train_sync")


def crop_features(features: LipFeatures, t0: float, t1: float) -> LipFeatures:
    """The frames with ``t0 <= t < t1`` of a LipFeatures (frame-level arrays only)."""
    sel = (features.timestamps_s >= t0) & (features.timestamps_s < t1)
    kw = {}
    for f in dataclasses.fields(features):
        v = getattr(features, f.name)
        if isinstance(v, np.ndarray) and v.shape[:1] == (features.n_frames,):
            kw[f.name] = v[sel]
    return dataclasses.replace(features, **kw)


def load_clips(paths: list[Path]) -> list[tuple[str, LipFeatures, object]]:
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    backend = MediaPipeBackend()
    out = []
    try:
        for p in paths:
            out.append((p.stem, extract_lip_features(track_lips(p, backend=backend)), load_audio(p)))
    finally:
        backend.close()
    return out


def zero_lag_scores(model, clips):  # noqa: ANN001, ANN201
    """(genuine, shifted, swapped) scores: best correlation within the tolerance of 0."""
    lags_ms = np.arange(-1000, 1001, 10.0)
    near = np.abs(lags_ms) <= model.tolerance_ms

    def score(f, a):
        return float(np.nanmax(sync_correlations(f, a, lags_ms=lags_ms[near], model=model)))

    gen, shifted, swapped = [], [], []
    for i, (_, f, a) in enumerate(clips):
        gen.append(score(f, a))
        s = TUNE_SHIFTS_MS[i % len(TUNE_SHIFTS_MS)]
        shifted += [score(f, shift_audio(a, s)), score(f, shift_audio(a, -s))]
        swapped.append(score(f, swap_audio(a, clips[(i + 1) % len(clips)][2])))
    return np.array(gen), np.array(shifted), np.array(swapped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alpha", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    grid = sorted((DATA / "grid_s1" / "video").glob("*.mpg"))[:50]
    heads = sorted((DATA / "talking_heads").glob("*.mp4"))
    log.info("tracking %d GRID s1 clips (0-49) and %d talking heads", len(grid), len(heads))
    grid_clips = load_clips(grid)
    head_clips = [(n, crop_features(f, 0.0, TALKING_HEADS_TRAIN_S), a) for n, f, a in load_clips(heads)]

    half = len(grid_clips) // 2
    folds = (grid_clips[:half], grid_clips[half:])
    oof = [np.zeros(0)] * 3
    for k in (0, 1):
        model = fit_sync_model([(f, a) for _, f, a in folds[k]], alpha=args.alpha)
        scores = zero_lag_scores(model, folds[1 - k])
        oof = [np.concatenate([o, s]) for o, s in zip(oof, scores)]
    gen, shifted, swapped = oof
    threshold = float(np.percentile(gen, REJECT_GENUINE_PCT))
    log.info(
        "out-of-fold (GRID s1 0-49): genuine median %.3f; threshold %.3f rejects %.1f%% genuine, "
        "accepts %.1f%% shifted, %.1f%% swapped",
        np.median(gen), threshold, 100 * np.mean(gen < threshold), 100 * np.mean(shifted >= threshold),
        100 * np.mean(swapped >= threshold),
    )
    trained_on = (
        f"GRID s1 clips 0-49 (name order) + first {TALKING_HEADS_TRAIN_S:g} s of talking_heads/*.mp4; "
        f"ridge alpha {args.alpha:g}; threshold = {REJECT_GENUINE_PCT:g}th percentile of 2-fold out-of-fold "
        "genuine scores on GRID s1 clips 0-49"
    )
    model = fit_sync_model(
        [(f, a) for _, f, a in grid_clips + head_clips], alpha=args.alpha, threshold=threshold, trained_on=trained_on
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    log.info("wrote %s (%d bytes): %s", args.out, args.out.stat().st_size, trained_on)


if __name__ == "__main__":
    main()
