"""The landmark-backend protocol: what a face/lip landmark model must give the tracker.

A backend turns one RGB frame into a list of :class:`FaceObservation` (one per face it
sees). The tracker (:mod:`lipauth.tracking.track`) does everything else: primary-face
choice, pose and normalisation, quality flags. New models (dlib-style 68 points, a future
lip model) plug in by implementing :class:`LandmarkBackend`; points a model does not have
are NaN rows in :attr:`FaceObservation.stable_xyz`. A backend may also give the lower face
contour (:data:`CONTOUR_POINT_NAMES`, :attr:`FaceObservation.contour_xyz`) for the
jaw-contour geometry channel (:mod:`lipauth.features.contour`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from lipauth.errors import InputError
from lipauth.types import N_CONTOUR_POINTS, N_LIP_LANDMARKS

__all__ = ["CONTOUR_POINT_NAMES", "FaceObservation", "LandmarkBackend", "N_CONTOUR_POINTS", "STABLE_POINT_NAMES"]

#: Stable (rigid, speech-independent) face points used for the rigid fit, in this order
#: in :attr:`FaceObservation.stable_xyz`. "right"/"left" are the subject's: the subject's
#: right eye appears on the image left.
STABLE_POINT_NAMES: tuple[str, ...] = (
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_inner",
    "left_eye_outer",
    "nose_bridge_top",
    "nose_bridge",
    "nose_tip",
    "right_nostril",
    "left_nostril",
    "right_face_side",
    "left_face_side",
    "forehead_top",
    "forehead",
)

#: Lower face contour points (rows 0-24) and the upper-face reference points used to align
#: them (rows 25-34), in this order in :attr:`FaceObservation.contour_xyz` and
#: :attr:`lipauth.types.LipTrack.contour_xyz`. Contour: the chin, then each side of the jaw
#: line from the chin up towards the ear (``_1`` next to the chin), then each side of the
#: face oval from the temple down (``_1`` highest). Reference: the eye corners, the nose
#: bridge and root, the glabella and the forehead, which do not move with the mouth.
#: "right"/"left" are the subject's (the subject's right appears on the image left).
CONTOUR_POINT_NAMES: tuple[str, ...] = (
    "chin",
    *(f"right_jaw_{i}" for i in range(1, 9)),
    *(f"left_jaw_{i}" for i in range(1, 9)),
    *(f"right_face_side_{i}" for i in range(1, 5)),
    *(f"left_face_side_{i}" for i in range(1, 5)),
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_inner",
    "left_eye_outer",
    "nose_bridge",
    "nose_bridge_top",
    "forehead_top",
    "forehead",
    "glabella",
    "nose_root",
)


@dataclass(frozen=True, eq=False)
class FaceObservation:
    """One face seen by a backend in one frame.

    Attributes
    ----------
    face_box : np.ndarray [shape=(4,), dtype=float32]
        ``x0, y0, x1, y1`` of the face in image pixels.
    lips_xyz : np.ndarray [shape=(40, 3), dtype=float32] or None
        The 40 lip landmarks (order of :data:`lipauth.types.LIP_GROUPS`): x, y in image
        pixels, z a depth in pixels (larger = farther from the camera; NaN when the
        backend has no depth). ``None`` for a face that was only detected (no landmarks),
        e.g. a secondary face found by a face detector.
    stable_xyz : np.ndarray [shape=(len(STABLE_POINT_NAMES), 3), dtype=float32] or None
        The stable face points named in :data:`STABLE_POINT_NAMES`, same units as
        ``lips_xyz``; NaN rows for points the backend does not provide.
    confidence : float
        Backend confidence in [0, 1] (1 when the backend gives none).
    contour_xyz : np.ndarray [shape=(35, 3), dtype=float32] or None
        The lower face contour and its reference points named in
        :data:`CONTOUR_POINT_NAMES`, same units as ``lips_xyz``; ``None`` when the backend
        does not provide them.
    """

    face_box: np.ndarray
    lips_xyz: np.ndarray | None = None
    stable_xyz: np.ndarray | None = None
    confidence: float = 1.0
    contour_xyz: np.ndarray | None = None

    @property
    def has_landmarks(self) -> bool:
        return self.lips_xyz is not None

    @property
    def has_depth(self) -> bool:
        return self.lips_xyz is not None and bool(np.isfinite(self.lips_xyz[0, 2]))

    def __post_init__(self) -> None:
        if self.lips_xyz is not None and self.lips_xyz.shape != (N_LIP_LANDMARKS, 3):
            raise InputError(f"FaceObservation.lips_xyz must have shape (40, 3), got {self.lips_xyz.shape}")
        if self.stable_xyz is not None and self.stable_xyz.shape != (len(STABLE_POINT_NAMES), 3):
            raise InputError(
                f"FaceObservation.stable_xyz must have shape ({len(STABLE_POINT_NAMES)}, 3), got {self.stable_xyz.shape}"
            )
        if self.contour_xyz is not None and self.contour_xyz.shape != (N_CONTOUR_POINTS, 3):
            raise InputError(
                f"FaceObservation.contour_xyz must have shape ({N_CONTOUR_POINTS}, 3), got {self.contour_xyz.shape}; "
                "give the points of CONTOUR_POINT_NAMES in order, or None"
            )


@runtime_checkable
class LandmarkBackend(Protocol):
    """A face/lip landmark model used by :class:`lipauth.tracking.LipTracker`.

    Backends may keep state between frames of one clip (tracking); :meth:`reset` starts a
    new clip and :meth:`close` frees resources.
    """

    #: short name recorded in :attr:`lipauth.types.LipTrack.backend`
    name: str

    def process(self, frame_rgb: np.ndarray, *, t_s: float) -> list[FaceObservation]:
        """Faces in one frame.

        Parameters
        ----------
        frame_rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
            RGB frame.
        t_s : float
            Presentation time of the frame in seconds.

        Returns
        -------
        list of FaceObservation
            Every face the backend knows about in this frame, possibly empty.
        """
        ...

    def reset(self) -> None:
        """Forget tracking state; the next frame starts a new clip."""
        ...

    def close(self) -> None:
        """Free the model's resources."""
        ...
