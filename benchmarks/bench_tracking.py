"""Tracking speed on one core: decode only vs bare FaceMesh vs the full ``track_lips``.

Makes a 10-s 640x480 30-fps clip (``lipauth.synth.make_talking_clip`` when available,
else the first studio talking-head clip in ../shared/data scaled to 640x480 and looped),
then in one run on one pinned core measures:

- decode only: decoding every frame to RGB,
- bare: decoding + raw ``FaceMesh.process`` (max_num_faces=1, refine_landmarks=True,
  tracking mode) on every frame, nothing else,
- full: ``track_lips`` (default MediaPipe backend, pose, normalisation, quality flags,
  periodic face detector),

and prints the ratio full/bare, frames/s and the peak RSS. Targets: ratio <= 1.15,
>= 250 frames/s, peak RSS <= 400 MB. Run: ``python benchmarks/bench_tracking.py``.
"""

from __future__ import annotations

import os

# one core, one thread everywhere (set before numpy / cv2 / mediapipe load)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIPAUTH_SHARED_DATA", ROOT.parent / "shared" / "data"))
DURATION_S, FPS, SIZE = 10.0, 30, (640, 480)


def make_clip(path: Path) -> str:
    """Write the benchmark clip; return a description of its content."""
    try:
        from lipauth.synth import make_talking_clip  # type: ignore[attr-defined]
    except ImportError:
        make_talking_clip = None
    if make_talking_clip is not None:
        # in a child process: the clip's in-memory frames must not count in our peak RSS
        import subprocess

        code = (
            "import sys; from lipauth.synth import make_talking_clip; "
            f"make_talking_clip(sys.argv[1], duration_s={DURATION_S}, fps={FPS}, size={SIZE})"
        )
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        return "lipauth.synth.make_talking_clip"
    import av
    import cv2

    src = sorted((SHARED / "talking_heads").glob("*.mp4"))
    if not src:
        sys.exit(f"no lipauth.synth.make_talking_clip and no clip in {SHARED / 'talking_heads'}")
    from lipauth.io import write_video

    n = int(DURATION_S * FPS)

    def frames() -> Iterator[np.ndarray]:
        done = 0
        while done < n:
            with av.open(str(src[0])) as c:
                for f in c.decode(video=0):
                    yield cv2.resize(f.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_AREA)
                    done += 1
                    if done == n:
                        return

    write_video(path, frames(), fps=FPS)
    return f"{src[0].name} scaled to 640x480, looped"


def iter_rgb(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    """Decode with lipauth.io when it has load_video, else plain PyAV."""
    try:
        from lipauth.io import load_video  # type: ignore[attr-defined]
    except ImportError:
        load_video = None
    if load_video is not None:
        yield from load_video(path, lazy=True).iter_frames()
        return
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for f in c.decode(stream):
            yield float(f.time), f.to_ndarray(format="rgb24")


def video_of(path: Path):  # noqa: ANN201
    try:
        from lipauth.io import load_video  # type: ignore[attr-defined]
    except ImportError:
        load_video = None
    if load_video is not None:
        return load_video(path, lazy=True)
    from lipauth.types import Video

    ts = [t for t, _ in iter_rgb(path)]
    return Video(frames=None, timestamps_s=np.array(ts) - ts[0], width=SIZE[0], height=SIZE[1],
                 source=str(path), _frame_iter=lambda: iter_rgb(path))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="best of N runs per measurement")
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    from mediapipe.python.solutions import face_mesh

    from lipauth.tracking import track_lips
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "bench.mp4"
        what = make_clip(clip)
        n = sum(1 for _ in iter_rgb(clip))

        def decode_only() -> None:
            for _ in iter_rgb(clip):
                pass

        mesh = face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True)

        def bare() -> None:
            mesh.reset()
            for _, frame in iter_rgb(clip):
                mesh.process(frame)

        backend = MediaPipeBackend()
        video = video_of(clip)
        result = {}

        def full() -> None:
            result["track"] = track_lips(video, backend=backend)

        # warm up every path once, then interleave the runs (drifting machine load hits
        # all three alike) and keep each one's best
        backend_nodet = MediaPipeBackend(detector_interval_frames=0)

        def full_no_detector() -> None:
            track_lips(video, backend=backend_nodet)

        fns = {"decode": decode_only, "bare": bare, "full": full, "nodet": full_no_detector}
        for fn in fns.values():
            fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(args.repeats):
            for key, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        t_dec, t_bare, t_full, t_nodet = (min(times[k]) for k in ("decode", "bare", "full", "nodet"))
        mesh.close()
        backend.close()
        backend_nodet.close()

    track = result["track"]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rows = [
        ("clip", f"{n} frames 640x480 @ {FPS} fps ({what})"),
        ("cores", f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} (pinned)"),
        ("decode only", f"{t_dec:7.3f} s  {n / t_dec:7.1f} frames/s"),
        ("bare FaceMesh", f"{t_bare:7.3f} s  {n / t_bare:7.1f} frames/s  (decode + FaceMesh.process)"),
        ("full track_lips", f"{t_full:7.3f} s  {n / t_full:7.1f} frames/s"),
        ("full, no detector", f"{t_nodet:7.3f} s  {n / t_nodet:7.1f} frames/s  (detector_interval_frames=0)"),
        ("ratio full/bare", f"{t_full / t_bare:7.3f}   (target <= 1.15)"),
        ("overhead / frame", f"{1000 * (t_full - t_bare) / n:7.3f} ms"),
        ("frames/s one core", f"{n / t_full:7.1f}   (target >= 250)"),
        ("peak RSS", f"{rss_mb:7.1f} MB (target <= 400)"),
        ("detection rate", f"{100 * track.detection_rate:7.1f} %"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    import json

    print("BENCH " + json.dumps({"stage": "track_lips (vs bare FaceMesh)", "time_s": round(t_full, 4),
                                 "baseline_s": round(t_bare, 4), "ratio": round(t_full / t_bare, 3), "rss_mb": round(rss_mb, 1)}))


if __name__ == "__main__":
    main()
