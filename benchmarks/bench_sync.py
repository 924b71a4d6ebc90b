"""Sync check cost vs tracking on a 3-s 640x480 25-fps synthetic talking clip.

Prints, in one run: tracking time (``track_lips``), audio features at the frame times
(``extract_audio_features``), and ``check_sync`` given the lip features (lag search over
+-1 s, per-window agreement), each with its ratio to tracking (target for the sync check
<= 0.10). Run: ``python benchmarks/bench_sync.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")

import time


def main() -> None:
    from lipauth.checks.sync import check_sync, load_sync_model
    from lipauth.features import extract_lip_features
    from lipauth.features.audio import extract_audio_features
    from lipauth.synth import make_talking_clip
    from lipauth.tracking import track_lips

    clip = make_talking_clip(None, duration_s=3.0, fps=25.0, size=(640, 480), audio="syllables", seed=0)
    video = clip.to_video()
    assert clip.audio is not None
    t0 = time.perf_counter()
    track = track_lips(video)
    t_track = time.perf_counter() - t0
    feats = extract_lip_features(track)
    load_sync_model()
    check_sync(feats, clip.audio)  # warm-up (imports)
    best_audio = best_sync = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        extract_audio_features(clip.audio, timestamps_s=feats.timestamps_s)
        best_audio = min(best_audio, time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = check_sync(feats, clip.audio)
        best_sync = min(best_sync, time.perf_counter() - t0)
    print(f"clip: 3 s, 640x480, 25 fps, {track.n_frames} frames; sync score {result.score:.2f}, "
          f"offset {result.offset_ms:+.0f} ms")
    print(f"{'stage':<34}{'time ms':>10}{'/ tracking':>12}")
    for name, sec in (
        ("tracking (track_lips)", t_track),
        ("audio features (VAD, mel, ...)", best_audio),
        ("check_sync (given lip features)", best_sync),
    ):
        print(f"{name:<34}{sec * 1000:>10.1f}{sec / t_track:>12.3f}")
    ratio = best_sync / t_track
    print(f"ratio sync/tracking = {ratio:.3f} (target <= 0.10: {'ok' if ratio <= 0.10 else 'MISSED'})")
    import json
    import resource

    print("BENCH " + json.dumps({"stage": "check_sync (3-s clip)", "time_s": round(best_sync, 4),
                                 "baseline_s": round(t_track, 4), "ratio": round(ratio, 3), "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
