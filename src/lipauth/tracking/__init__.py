"""Lip localisation and tracking: face, labial box, 40 lip landmarks, pose, quality.

``track_lips(video) -> LipTrack`` for a whole clip, ``LipTracker.update(frame, t_s)`` for
streaming (same results). Landmark models plug in through :class:`LandmarkBackend`; the
default is MediaPipe FaceMesh (imported on first use).
"""

from __future__ import annotations

from lipauth.tracking.base import STABLE_POINT_NAMES, FaceObservation, LandmarkBackend
from lipauth.tracking.track import LipFrame, LipTracker, TrackingConfig, track_lips

__all__ = [
    "track_lips",
    "LipTracker",
    "LipFrame",
    "TrackingConfig",
    "LandmarkBackend",
    "FaceObservation",
    "STABLE_POINT_NAMES",
]
