"""Per-clip work items for :func:`~lipauth.batch.run_batch` (module-level, picklable).

Tracking is the expensive part, so each worker process loads MediaPipe once
(:func:`init_worker`, or on first use) and reuses that backend for every clip it gets.
Everything else per clip is done in the worker too: :func:`annotate_clip` returns the
finished per-frame JSON lines of ``lipauth annotate``, so the parent only writes them.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["BACKEND_LOADS", "annotate_clip", "annotation_lines", "init_worker", "track_clip", "worker_backend"]

log = logging.getLogger(__name__)

_BACKEND: Any = None
#: how many times this process built a landmark backend (1 per worker; tests read it)
BACKEND_LOADS = 0


def worker_backend() -> Any:
    """This process's MediaPipe backend, built on first call and kept open."""
    global _BACKEND, BACKEND_LOADS
    if _BACKEND is None:
        from lipauth.tracking.backends.mediapipe import MediaPipeBackend

        _BACKEND = MediaPipeBackend()
        BACKEND_LOADS += 1
        log.debug("worker loaded MediaPipe")
    return _BACKEND


def init_worker() -> None:
    """Process-pool / Ray worker initialiser: load the landmark model once.

    OpenCV is limited to one thread per worker: the parallelism comes from the worker
    processes, and N workers x M OpenCV threads on N cores only adds contention.
    """
    import cv2

    cv2.setNumThreads(1)
    worker_backend()


def track_clip(path: str) -> tuple[Any, Any]:
    """``(lazy Video, LipTrack)`` of a clip, tracked with this worker's backend."""
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    video = load_video(path, lazy=True)
    return video, track_lips(video, backend=worker_backend())


def annotate_clip(path: str) -> dict[str, Any]:
    """Track one clip and format its ``lipauth annotate`` output (in the worker).

    Returns
    -------
    dict
        ``n_frames`` (int), ``detection_rate`` (float, 0-1) and ``rows`` (str): one JSON
        line per frame (:func:`annotation_lines` with ``name=path``), ready to be written.
    """
    _, track = track_clip(path)
    return {"n_frames": track.n_frames, "detection_rate": track.detection_rate,
            "rows": annotation_lines(path, track)}


def annotation_lines(name: str, track: Any) -> str:
    """Per-frame annotation of a LipTrack as JSON Lines (the ``lipauth annotate`` format).

    One compact JSON object per frame, keys in this order: ``video`` (``name``), ``frame``,
    ``t_s`` (seconds, 6 decimals), ``detected``, ``n_faces``, ``face_box``, ``labial_box``,
    ``landmarks_px`` (px, 2 decimals), ``landmarks_norm`` (face units, 4 decimals), ``pose``
    (degrees, 2 decimals; every array is ``null`` in a frame where it is not finite) and
    ``quality`` (names of the :class:`~lipauth.types.QualityFlag` bits set).

    Parameters
    ----------
    name : str
        Clip name written in every row.
    track : LipTrack
        The clip's track (``n_frames`` rows).

    Returns
    -------
    str
        ``n_frames`` lines, each ending with ``"\\n"``.
    """
    import json

    import numpy as np

    from lipauth.types import QualityFlag

    def rounded(arr: np.ndarray, digits: int) -> list[Any]:
        # whole-array rounding: elementwise, so the same values as frame by frame
        if len(arr) == 0:
            return []
        flat = arr.astype(np.float64).reshape(arr.shape[0], -1)
        finite = np.isfinite(flat).all(axis=1).tolist()
        values = np.round(arr.astype(np.float64), digits).tolist()
        return [v if ok else None for v, ok in zip(values, finite)]

    face_box, labial_box = rounded(track.face_box, 2), rounded(track.labial_box, 2)
    lm_px, lm_norm, pose = rounded(track.landmarks_px, 2), rounded(track.landmarks_norm, 4), rounded(track.pose, 2)
    names: dict[int, list[str]] = {}
    for q in set(track.quality.tolist()):
        flags = QualityFlag(int(q))
        names[q] = [f.name for f in QualityFlag if f and f in flags]
    detected, n_faces, quality = track.detected.tolist(), track.n_faces.tolist(), track.quality.tolist()
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    out = []
    for i, t_s in enumerate(track.timestamps_s.tolist()):
        out.append(dumps({
            "video": name, "frame": i, "t_s": round(t_s, 6), "detected": bool(detected[i]),
            "n_faces": int(n_faces[i]), "face_box": face_box[i], "labial_box": labial_box[i],
            "landmarks_px": lm_px[i], "landmarks_norm": lm_norm[i], "pose": pose[i], "quality": names[quality[i]],
        }))
    out.append("")
    return "\n".join(out)
