"""Per-clip work items for :func:`~lipauth.batch.run_batch` (module-level, picklable).

Tracking is the expensive part, so each worker process loads MediaPipe once
(:func:`init_worker`, or on first use) and reuses that backend for every clip it gets.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["BACKEND_LOADS", "annotate_clip", "init_worker", "track_clip", "worker_backend"]

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
    """The LipTrack of one clip as a dict (``LipTrack.to_dict``), for ``lipauth annotate``."""
    _, track = track_clip(path)
    return track.to_dict()
