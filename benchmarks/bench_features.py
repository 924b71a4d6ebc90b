"""Feature extraction cost vs tracking on a 10-s 640x480 30-fps synthetic clip.

Prints, in one run: tracking time (``track_lips``), features time without video (shape,
segmentation) and with video (appearance included: crops, cosine similarity, flow,
histograms), and the ratio features/tracking (target <= 0.10).
Run: ``python benchmarks/bench_features.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")

import time  # noqa: E402


def main() -> None:
    from lipauth.features import extract_lip_features
    from lipauth.synth import make_talking_clip
    from lipauth.tracking import track_lips

    clip = make_talking_clip(None, duration_s=10.0, fps=30.0, size=(640, 480), audio=None, seed=0)
    video = clip.to_video()
    t0 = time.perf_counter()
    track = track_lips(video)
    t_track = time.perf_counter() - t0
    extract_lip_features(track, video)  # warm-up (imports, OpenCV init)
    best_shape = best_full = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        extract_lip_features(track)
        best_shape = min(best_shape, time.perf_counter() - t0)
        t0 = time.perf_counter()
        feats = extract_lip_features(track, video)
        best_full = min(best_full, time.perf_counter() - t0)
    n = track.n_frames
    print(f"clip: 10 s, 640x480, 30 fps, {n} frames; segments found: {len(feats.segments)}")
    print(f"{'stage':<34}{'time s':>10}{'frames/s':>12}{'/ tracking':>12}")
    for name, sec in (
        ("tracking (track_lips)", t_track),
        ("features, track only", best_shape),
        ("features with video (appearance)", best_full),
    ):
        print(f"{name:<34}{sec:>10.3f}{n / sec:>12.0f}{sec / t_track:>12.3f}")
    ratio = best_full / t_track
    print(f"ratio features/tracking = {ratio:.3f} (target <= 0.10: {'ok' if ratio <= 0.10 else 'MISSED'})")
    import json
    import resource

    print("BENCH " + json.dumps({"stage": "features with video (10-s clip)", "time_s": round(best_full, 4),
                                 "baseline_s": round(t_track, 4), "ratio": round(ratio, 3), "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}))


if __name__ == "__main__":
    main()
