"""Audio-visual sync accuracy on real media (../shared/data), with the shipped model.

Two parts:

- ``--by-person`` (the headline numbers): leave-people-out over all 27 people of the sync
  corpus (``scripts/train_sync.py``: towers refitted per fold, thresholds chosen on the
  other folds); prints the by-person table of ``docs/sync.md``.
- the default run: the SHIPPED model on GRID s1 clips 50-99, the two talking heads and the
  spoof media. The shipped towers were trained on every person in ../shared/data, so the
  GRID and talking-head figures are regression checks, not held-out results; the
  presentation attacks (still frame, photos, looped lips, phone replay) were never
  trained on. Also the cost of the check against tracking.

Run: ``.venv/bin/python benchmarks/accuracy_sync.py [--shared ../shared/data] [--by-person]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from lipauth.checks.sync import check_sync, load_sync_model
from lipauth.errors import LipAuthError
from lipauth.eval.attacks import loop_track, shift_audio, still_video, swap_audio
from lipauth.features import extract_lip_features
from lipauth.io import load_audio, load_video
from lipauth.tracking import track_lips
from lipauth.types import Video

ROOT = Path(__file__).resolve().parents[1]
SHIFTS_MS = (200, -200, 500, -500, 1000, -1000)
WINDOW = (0.75, 2.25)
N_STILL = 5


def _train_module():
    spec = importlib.util.spec_from_file_location("train_sync", ROOT / "scripts" / "train_sync.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of ``pos`` (should be high) against ``neg``; ties count half."""
    pos, neg = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(np.mean(pos > neg) + 0.5 * np.mean(pos == neg))


def _score(features, audio) -> tuple[float, bool, float]:
    """(score, accepted, offset_ms); an input error (e.g. silent audio) is a rejection."""
    try:
        r = check_sync(features, audio)
    except LipAuthError:
        return float("-inf"), False, float("nan")
    score = r.score if np.isfinite(r.score) else float("-inf")
    return score, r.accepted, r.offset_ms


def load_heldout(shared: Path) -> dict:
    """Tracks, features and audio of GRID s1 clips 50-99 and the talking heads (the costly part)."""
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    grid_paths = sorted((shared / "grid_s1" / "video").glob("*.mpg"))[50:100]
    heads = sorted((shared / "talking_heads").glob("*.mp4"))
    backend = MediaPipeBackend()
    try:
        tracks = [track_lips(p, backend=backend) for p in grid_paths]
    finally:
        backend.close()
    grid = [(p.stem, extract_lip_features(t), load_audio(p)) for p, t in zip(grid_paths, tracks)]
    return {
        "grid": grid,
        "tracks": tracks,
        "grid_paths": grid_paths,
        "heads": [(p.stem, extract_lip_features(track_lips(p)), load_audio(p)) for p in heads],
        "crop": _train_module().crop_features,
        "shared": shared,
    }


def evaluate(data: dict) -> dict:
    """Every figure of the table, from :func:`load_heldout`'s data."""
    crop = data["crop"]
    grid, heads = data["grid"], data["heads"]
    out: dict = {}
    gen = [(_score(f, a), f, a) for _, f, a in grid]
    g = np.array([s[0][0] for s in gen])
    own_offset = np.array([s[0][2] for s in gen])
    out["genuine_reject"] = float(np.mean([not s[0][1] for s in gen]))
    shifted, err_abs, err_rel, big_ok = [], [], [], []
    for (_, f, a), off0 in zip(grid, own_offset):
        for s in SHIFTS_MS:
            score, ok, off = _score(f, shift_audio(a, s))
            shifted.append(score)
            if abs(s) >= 300:
                big_ok.append(ok)
            err_abs.append(abs(off - s))
            err_rel.append(abs(off - off0 - s))
    out["shift_auc"] = auc(g, shifted)
    out["shift_reject_300"] = 1.0 - float(np.mean(big_ok))
    out["offset_within_40ms"] = float(np.mean(np.array(err_abs) <= 40))
    out["offset_within_40ms_rel"] = float(np.mean(np.array(err_rel) <= 40))
    n = len(grid)
    swapped = [_score(f, swap_audio(a, grid[(i + 1) % n][2])) for i, (_, f, a) in enumerate(grid)]
    out["swap_auc"] = auc(g, [s[0] for s in swapped])
    out["swap_reject"] = 1.0 - float(np.mean([s[1] for s in swapped]))
    other = [_score(f, swap_audio(a, heads[i % len(heads)][2])) for i, (_, f, a) in enumerate(grid)]
    out["other_speaker_auc"] = auc(g, [s[0] for s in other])
    out["other_speaker_reject"] = 1.0 - float(np.mean([s[1] for s in other]))
    win = [crop(f, *WINDOW) for _, f, _ in grid]
    gw = [_score(w, a)[0] for w, (_, _, a) in zip(win, grid)]
    sw = [_score(w, swap_audio(a, grid[(i + 1) % n][2]))[0] for i, (w, (_, _, a)) in enumerate(zip(win, grid))]
    shw = [_score(w, shift_audio(a, 500 if i % 2 else -500))[0] for i, (w, (_, _, a)) in enumerate(zip(win, grid))]
    out["window_swap_auc"] = auc(gw, sw)
    out["window_shift_auc"] = auc(gw, shw)
    # presentation attacks
    attacks: dict[str, list[bool]] = {"still": [], "photo": [], "loop": [], "loop_speech": [], "replay": []}
    for path, (_, f, a) in list(zip(data["grid_paths"], grid))[:N_STILL]:
        still = still_video(load_video(path))
        attacks["still"].append(_score(extract_lip_features(track_lips(still)), a)[1])
    for track, (_, _, a) in zip(data["tracks"], grid):
        attacks["loop"].append(_score(extract_lip_features(loop_track(track, period_s=0.5)), a)[1])
        # a harder loop: half a second of speech (1.0-1.5 s) repeated
        looped = loop_track(track, period_s=0.5, start_s=1.0)
        attacks["loop_speech"].append(_score(extract_lip_features(looped), a)[1])
    for name in ("photo_attack_1.jpg", "photo_attack_2.jpg"):
        video = _photo_clip(data["shared"] / "spoof" / name)
        attacks["photo"].append(_score(extract_lip_features(track_lips(video)), grid[0][2])[1])
    replay = data["shared"] / "spoof" / "phone_replay.mp4"
    attacks["replay"].append(_score(extract_lip_features(track_lips(replay)), load_audio(replay))[1])
    out["apcer"] = {k: float(np.mean(v)) for k, v in attacks.items()}
    out["heads"] = {}
    for name, f, a in heads:
        r = check_sync(f, a)
        out["heads"][name] = (r.score, r.accepted, r.offset_ms, r.confidence)
    # how far the heads' own voice stands above wrong audio on the same lips: the other
    # head's voice, and their own voice 200 ms earlier (undoes a +140-ms lag if it is real)
    out["heads_negatives"] = {}
    for i, (name, f, a) in enumerate(heads):
        other = heads[(i + 1) % len(heads)][2]
        out["heads_negatives"][name] = (_score(f, swap_audio(a, other))[0], _score(f, shift_audio(a, -200))[0])
    return out


def _photo_clip(path: Path, n: int = 75) -> Video:
    import cv2

    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    noisy = image[None].astype(np.int16) + rng.normal(0, 2.0, (n, *image.shape)).astype(np.int16)
    frames = np.clip(noisy, 0, 255).astype(np.uint8)
    return Video(frames=frames, timestamps_s=np.arange(n) / 25.0, width=image.shape[1], height=image.shape[0],
                 nominal_fps=25.0, measured_fps=25.0, source=path.name)


def cost(shared: Path) -> tuple[float, float]:
    """(seconds to track a 3-s GRID clip, seconds for check_sync on its features), best of 3."""
    path = sorted((shared / "grid_s1" / "video").glob("*.mpg"))[50]
    audio = load_audio(path)
    t_track, t_sync = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        track = track_lips(path)
        t_track.append(time.perf_counter() - t0)
    feats = extract_lip_features(track)
    load_sync_model()
    for _ in range(5):
        t0 = time.perf_counter()
        check_sync(feats, audio)
        t_sync.append(time.perf_counter() - t0)
    return min(t_track), min(t_sync)


def by_person(folds: int) -> None:
    """Leave-people-out table (scripts/train_sync.py): the linear towers refitted per fold."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train = _train_module()
    ps = train.pieces(train.load_corpus(train.DATA))
    print(train.report(train.leave_people_out(ps, k=folds, max_reject=0.03)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--by-person", action="store_true", help="leave-people-out table")
    parser.add_argument("--folds", type=int, default=4)
    args = parser.parse_args()
    if args.by_person:
        by_person(args.folds)
        return
    if not (args.shared / "grid_s1").is_dir():
        sys.exit(f"real media not found in {args.shared}; pass --shared")
    model = load_sync_model()
    print(f"model: {model.trained_on}; threshold {model.threshold:.3f}")
    r = evaluate(load_heldout(args.shared))
    print("GRID s1 clips 50-99 (in the towers' training data: a regression check; held out: --by-person):")
    print(f"  genuine rejected (BPCER)                      {100 * r['genuine_reject']:.1f}%")
    print(f"  shifted +-200/500/1000 ms: ROC AUC            {r['shift_auc']:.4f}")
    print(f"  offset within 40 ms of the shift              {100 * r['offset_within_40ms']:.1f}% "
          f"(relative to the clip's own estimate: {100 * r['offset_within_40ms_rel']:.1f}%)")
    print(f"  shifted +-500/1000 ms rejected                {100 * r['shift_reject_300']:.1f}%")
    print(f"  swapped, same speaker: ROC AUC                {r['swap_auc']:.4f}, rejected {100 * r['swap_reject']:.1f}%")
    print(f"  swapped, other speakers (talking heads): AUC  {r['other_speaker_auc']:.4f}, "
          f"rejected {100 * r['other_speaker_reject']:.1f}%")
    print(f"  1.5-s windows: swap AUC {r['window_swap_auc']:.4f}, 500-ms shift AUC {r['window_shift_auc']:.4f}")
    for k, v in r["apcer"].items():
        print(f"  APCER {k:<7} {100 * v:.1f}%")
    for name, (score, ok, off, conf) in r["heads"].items():
        print(f"talking head {name}: score {score:.3f}, {'accepted' if ok else 'REJECTED'}, "
              f"offset {off:+.0f} ms, confidence {conf:.1f}")
    for name, (other, early) in r["heads_negatives"].items():
        print(f"  {name} lips with the other head's voice: score {other:.3f}; own voice 200 ms earlier: {early:.3f}")
    t_track, t_sync = cost(args.shared)
    print(f"cost on a 3-s GRID clip: tracking {t_track * 1000:.0f} ms, sync check {t_sync * 1000:.1f} ms "
          f"({100 * t_sync / t_track:.1f}% of tracking)")


if __name__ == "__main__":
    main()
