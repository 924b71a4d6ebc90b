"""Lip tracking accuracy on real media (../shared/data) and on synthetic clips.

Prints the figures quoted in the README's accuracy table:

- GRID s1 (100 clips) and MIRACL-VC1 F01 (60 clips): per-clip lip detection rate;
- GRID s1: Pearson r of the inner-lip opening with the speech indicator of each clip's
  ``.align`` file (average, minimum, clips where speech frames open more than silence);
- synthetic clips (lipauth.synth): r of measured opening with the ground truth, still and
  with head motion + lighting change, and how far head motion moves the face-normalised
  landmarks (in % of mouth width).

No threshold is tuned here, so there is no tuning/test split: the figures are measured on
every clip. Run: ``.venv/bin/python benchmarks/accuracy_tracking.py [--shared ../shared/data]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lipauth.io import load_align, load_video
from lipauth.synth import make_talking_clip
from lipauth.tracking import track_lips
from lipauth.tracking.backends.mediapipe import MediaPipeBackend

#: GRID clips whose first 12 frames are damaged in the source (no face drawn)
GRID_DAMAGED_START = {"brwg8p": 12, "lgbf8n": 12}


def grid(backend: MediaPipeBackend, root: Path) -> None:
    paths = sorted((root / "grid_s1" / "video").glob("*.mpg"))
    rates, rs, opens_more = [], [], 0
    for path in paths:
        track = track_lips(load_video(path, lazy=True), backend=backend)
        start = GRID_DAMAGED_START.get(path.stem, 0)
        rates.append(track.detected[start:].mean())
        speech = load_align(root / "grid_s1" / "align" / f"{path.stem}.align").speech_mask(track.timestamps_s)
        ok = track.detected
        opening = track.inner_opening()[ok]
        rs.append(np.corrcoef(opening, speech[ok])[0, 1])
        opens_more += opening[speech[ok]].mean() > opening[~speech[ok]].mean()
    rates_a, rs_a = np.array(rates), np.array(rs)
    print(f"GRID s1 ({len(paths)} clips): lip detection per clip min {100 * rates_a.min():.1f}%, "
          f"mean {100 * rates_a.mean():.2f}% (brwg8p, lgbf8n counted from frame 12)")
    print(f"GRID s1 opening vs .align speech: r mean {rs_a.mean():.3f}, median {np.median(rs_a):.3f}, "
          f"min {rs_a.min():.3f}; speech opens more than silence in {opens_more}/{len(paths)} clips")


def miracl(backend: MediaPipeBackend, root: Path) -> None:
    paths = sorted((root / "miracl_f01").glob("*.mp4"))
    rates = np.array([track_lips(load_video(p, lazy=True), backend=backend).detection_rate for p in paths])
    print(f"MIRACL F01 ({len(paths)} clips, faces ~70 px): lip detection per clip min {100 * rates.min():.1f}%, "
          f"mean {100 * rates.mean():.2f}%")


def synthetic(backend: MediaPipeBackend) -> None:
    for label, kwargs in (
        ("still head", {}),
        ("head motion + lighting", {"head_motion": True, "lighting_change": True}),
    ):
        rs = []
        for seed in range(5):
            clip = make_talking_clip(duration_s=4.0, fps=30.0, size=(640, 480), face_width_px=200, seed=seed, **kwargs)
            track = track_lips(clip.to_video(), backend=backend)
            ok = track.detected
            rs.append(np.corrcoef(track.inner_opening()[ok], clip.opening[ok])[0, 1])
        print(f"synthetic ({label}, 5 seeds): opening vs ground truth r min {min(rs):.3f}, mean {np.mean(rs):.3f}")
    # head motion on a closed mouth: the normalised landmarks should not move
    closed = np.zeros(120)
    still = track_lips(make_talking_clip(duration_s=4.0, opening=closed, audio="silence").to_video(), backend=backend)
    moving = track_lips(
        make_talking_clip(duration_s=4.0, opening=closed, audio="silence", head_motion=True,
                          max_scale_change=0.25).to_video(),
        backend=backend,
    )
    ref = np.nanmedian(still.landmarks_norm, axis=0)
    width = float(np.nanmedian(still.mouth_width()))
    dev = np.linalg.norm(moving.landmarks_norm - ref, axis=-1)
    print(f"synthetic head motion (roll <= 12 deg, scale +-25%, shift): normalised landmarks move "
          f"median {100 * np.nanmedian(dev) / width:.1f}%, p95 {100 * np.nanpercentile(dev, 95) / width:.1f}% of mouth width")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    backend = MediaPipeBackend()
    if args.shared.is_dir():
        grid(backend, args.shared)
        miracl(backend, args.shared)
    else:
        print(f"{args.shared} not found: real-data figures skipped", file=sys.stderr)
    synthetic(backend)
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
