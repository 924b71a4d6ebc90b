"""A deterministic fake landmark backend for tests: a parametric 3-D face.

It ignores the pixels: a *scene* function of the frame time says which faces are where,
with which pose, scale and mouth opening, and the backend returns their exact landmarks.
This tests the tracker's logic (gaps, primary face, NoFaceError, streaming equivalence,
pose and normalisation) without MediaPipe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lipauth.tracking.base import FaceObservation
from lipauth.tracking.geometry import CANONICAL_LIPS_XYZ, CANONICAL_STABLE_XYZ, rotation_from_pose

__all__ = ["FakeFace", "FakeBackend", "fake_face_points"]

_LOWER = np.zeros(40, dtype=bool)
_LOWER[list(range(11, 20)) + list(range(31, 40))] = True
#: canonical face outline used for the box: x from face side to side, y forehead to chin
_FACE_BOX_CANON = np.array([[-0.8, -1.55, 0.0], [0.8, -1.55, 0.0], [-0.8, 0.6, 0.0], [0.8, 0.6, 0.0]])


@dataclass(frozen=True)
class FakeFace:
    """One synthetic face.

    Attributes
    ----------
    x_px, y_px : float
        Image position of the canonical mouth centre in pixels.
    scale_px : float
        Pixels per face unit (outer-eye-corner distance of a frontal face, px).
    yaw_deg, pitch_deg, roll_deg : float
        Head pose, conventions of :func:`lipauth.tracking.geometry.pose_from_rotation`.
    opening : float
        Inner-lip opening in face units (the lower lip moves down by this much).
    width_gain : float
        Relative mouth-width change (0 = rest, < 0 pursed).
    """

    x_px: float = 320.0
    y_px: float = 300.0
    scale_px: float = 100.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    opening: float = 0.0
    width_gain: float = 0.0


def fake_face_points(face: FakeFace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact landmarks of a synthetic face.

    Returns
    -------
    lips_xyz : np.ndarray [shape=(40, 3), float32] pixels (z = depth px)
    stable_xyz : np.ndarray [shape=(13, 3), float32] pixels
    face_box : np.ndarray [shape=(4,), float32] ``x0, y0, x1, y1`` px
    lips_canonical : np.ndarray [shape=(40, 2), float64] the true face-normalised lips
    """
    lips = CANONICAL_LIPS_XYZ.copy()
    lips[:, 0] *= 1.0 + face.width_gain
    lips[_LOWER, 1] += face.opening
    rot = rotation_from_pose(face.yaw_deg, face.pitch_deg, face.roll_deg)
    t = np.array([face.x_px, face.y_px, 0.0])

    def project(p: np.ndarray) -> np.ndarray:
        return face.scale_px * (p @ rot.T) + t

    box_pts = project(_FACE_BOX_CANON)
    box = np.array([*box_pts[:, :2].min(axis=0), *box_pts[:, :2].max(axis=0)], dtype=np.float32)
    return (
        project(lips).astype(np.float32),
        project(CANONICAL_STABLE_XYZ).astype(np.float32),
        box,
        lips[:, :2].copy(),
    )


class FakeBackend:
    """Deterministic :class:`~lipauth.tracking.base.LandmarkBackend` driven by a scene.

    Parameters
    ----------
    scene : callable ``(t_s) -> sequence of FakeFace``
        Faces present at time ``t_s`` (an empty sequence = no face).
    has_depth : bool
        Report z (like MediaPipe) or NaN depth (like a 2-D 68-point model).
    """

    name = "fake"

    def __init__(self, scene: Callable[[float], Sequence[FakeFace]], *, has_depth: bool = True) -> None:
        self.scene = scene
        self.has_depth = has_depth
        self.n_processed_ = 0
        self.n_resets_ = 0

    def process(self, frame_rgb: np.ndarray, *, t_s: float) -> list[FaceObservation]:
        self.n_processed_ += 1
        out = []
        for face in self.scene(t_s):
            lips, stable, box, _ = fake_face_points(face)
            if not self.has_depth:
                lips[:, 2] = np.nan
                stable[:, 2] = np.nan
            out.append(FaceObservation(face_box=box, lips_xyz=lips, stable_xyz=stable, confidence=1.0))
        return out

    def reset(self) -> None:
        self.n_resets_ += 1

    def close(self) -> None:
        pass

