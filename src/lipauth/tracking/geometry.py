"""Rigid fit of stable face points to a canonical frontal face: head pose and the
face-normalised lip frame.

The canonical face below was measured once from MediaPipe FaceMesh on GRID speaker s1
(57 frames of 20 clips, mouth at rest; each shape aligned to the first by a similarity
fit, averaged), then rotated so that the outer eye corners lie on the x axis and the
eye-to-mouth direction on the y axis (the face plane parallel to the image), mirrored
left/right and averaged with its mirror image (exactly symmetric), shifted so the mean
of the 40 lip points is the origin and scaled so the outer eye corners are 1 apart.
Axes: x to the image right, y down, z away from the camera.
"""

from __future__ import annotations

import math

import numpy as np

from lipauth.tracking.base import STABLE_POINT_NAMES

__all__ = [
    "CANONICAL_STABLE_XYZ",
    "CANONICAL_LIPS_XYZ",
    "RigidFit",
    "fit_similarity",
    "pose_from_rotation",
    "rotation_from_pose",
    "normalise_lips",
]

#: Canonical stable points [shape=(13, 3)], rows in :data:`STABLE_POINT_NAMES` order,
#: face units (outer-eye-corner distance = 1, origin = canonical mouth centre).
CANONICAL_STABLE_XYZ = np.array(
    [
        [-0.5, -0.9068, 0.0],  # right_eye_outer   (FaceMesh 33)
        [-0.1856, -0.8663, -0.0516],  # right_eye_inner   (133)
        [0.1856, -0.8663, -0.0516],  # left_eye_inner    (362)
        [0.5, -0.9068, 0.0],  # left_eye_outer    (263)
        [0.0, -0.8809, -0.2556],  # nose_bridge_top   (168)
        [0.0, -0.778, -0.2835],  # nose_bridge       (6)
        [0.0, -0.2944, -0.3637],  # nose_tip          (1)
        [-0.2005, -0.2966, -0.0869],  # right_nostril     (98)
        [0.2005, -0.2966, -0.0869],  # left_nostril      (327)
        [-0.7826, -0.801, 0.6618],  # right_face_side   (234)
        [0.7826, -0.801, 0.6618],  # left_face_side    (454)
        [0.0, -1.4987, -0.336],  # forehead_top      (10)
        [0.0, -1.2903, -0.3357],  # forehead          (151)
    ],
    dtype=np.float64,
)
assert CANONICAL_STABLE_XYZ.shape == (len(STABLE_POINT_NAMES), 3)

#: Canonical 40 lip points at rest (closed mouth) [shape=(40, 3)], LIP_GROUPS order.
CANONICAL_LIPS_XYZ = np.array(
    [
        [-0.2908, -0.0305, 0.1038], [-0.2633, -0.0386, 0.043], [-0.2242, -0.0466, -0.0183],
        [-0.1702, -0.0604, -0.0741], [-0.0876, -0.0737, -0.1201], [0.0, -0.0529, -0.1247],
        [0.0876, -0.0737, -0.1201], [0.1702, -0.0604, -0.0741], [0.2242, -0.0466, -0.0183],
        [0.2633, -0.0386, 0.043], [0.2908, -0.0305, 0.1038], [0.2651, 0.007, 0.0669],
        [0.2287, 0.051, 0.0215], [0.1699, 0.0997, -0.0079], [0.0917, 0.1344, -0.0318],
        [0.0, 0.143, -0.0357], [-0.0917, 0.1344, -0.0318], [-0.1699, 0.0997, -0.0079],
        [-0.2287, 0.051, 0.0215], [-0.2651, 0.007, 0.0669], [-0.2635, -0.0264, 0.0817],
        [-0.22, -0.0223, 0.0564], [-0.1818, -0.0151, 0.0214], [-0.1309, -0.0071, -0.0075],
        [-0.07, 0.0031, -0.0308], [0.0, 0.0098, -0.0384], [0.07, 0.0031, -0.0308],
        [0.1309, -0.0071, -0.0075], [0.1818, -0.0151, 0.0214], [0.22, -0.0223, 0.0564],
        [0.2635, -0.0264, 0.0817], [0.22, -0.0212, 0.0536], [0.1819, -0.0129, 0.0166],
        [0.1313, -0.0038, -0.0139], [0.0703, 0.0068, -0.0381], [0.0, 0.0136, -0.0458],
        [-0.0703, 0.0068, -0.0381], [-0.1313, -0.0038, -0.0139], [-0.1819, -0.0129, 0.0166],
        [-0.22, -0.0212, 0.0536],
    ],
    dtype=np.float64,
)

_CANON_MU = {d: CANONICAL_STABLE_XYZ[:, :d].mean(axis=0) for d in (2, 3)}
_CANON_CENTRED = {d: CANONICAL_STABLE_XYZ[:, :d] - _CANON_MU[d] for d in (2, 3)}
_CANON_SS = {d: float((_CANON_CENTRED[d] ** 2).sum()) for d in (2, 3)}
_MIN_FIT_POINTS_3D = 4
_MIN_FIT_POINTS_2D = 3


class RigidFit:
    """A similarity transform ``observed = scale * rotation @ canonical + translation``.

    Attributes
    ----------
    scale : float
        Pixels per face unit (outer-eye-corner distance in pixels, for a frontal face).
    rotation : np.ndarray [shape=(3, 3), dtype=float64]
        Rotation (for a 2-D fit: a rotation about z only).
    translation : np.ndarray [shape=(3,), dtype=float64]
        Image position of the canonical mouth centre in pixels (z = 0 for a 2-D fit).
    has_depth : bool
        Whether the fit used 3-D points (else yaw and pitch are unknown).
    """

    __slots__ = ("scale", "rotation", "translation", "has_depth")

    def __init__(self, scale: float, rotation: np.ndarray, translation: np.ndarray, has_depth: bool) -> None:
        self.scale = scale
        self.rotation = rotation
        self.translation = translation
        self.has_depth = has_depth

    def to_canonical(self, points_xyz: np.ndarray) -> np.ndarray:
        """Map observed points [shape=(n, 3), px] into canonical face units [shape=(n, 3)]."""
        return ((points_xyz - self.translation) @ self.rotation) / self.scale


def fit_similarity(observed_xyz: np.ndarray, *, has_depth: bool) -> RigidFit | None:
    """Least-squares similarity fit (Umeyama) of the canonical stable points to observed ones.

    Parameters
    ----------
    observed_xyz : np.ndarray [shape=(13, 3)]
        Stable points in :data:`STABLE_POINT_NAMES` order, pixels; NaN rows are ignored.
        With ``has_depth=False`` only x, y are used (2-D Procrustes).
    has_depth : bool
        Whether column z holds a depth in pixels.

    Returns
    -------
    RigidFit or None
        ``None`` when too few finite points remain (4 in 3-D, 3 in 2-D).
    """
    obs = np.asarray(observed_xyz, dtype=np.float64)
    dims = 3 if has_depth else 2
    dst = obs[:, :dims]
    finite = np.isfinite(dst)
    if finite.all():
        src_c, src_mu, src_ss = _CANON_CENTRED[dims], _CANON_MU[dims], _CANON_SS[dims]
        n_ok = dst.shape[0]
    else:
        ok = finite.all(axis=1)
        n_ok = int(ok.sum())
        if n_ok < (_MIN_FIT_POINTS_3D if has_depth else _MIN_FIT_POINTS_2D):
            return None
        src = CANONICAL_STABLE_XYZ[ok, :dims]
        dst = dst[ok]
        src_mu = src.sum(axis=0) / n_ok
        src_c = src - src_mu
        src_ss = float((src_c * src_c).sum())
    mu_d = dst.sum(axis=0) / n_ok
    u, sig, vt = np.linalg.svd((dst - mu_d).T @ src_c)
    rot = u @ vt
    if np.linalg.det(rot) < 0:  # reflection: flip the weakest axis
        u[:, -1] = -u[:, -1]
        sig = sig.copy()
        sig[-1] = -sig[-1]
        rot = u @ vt
    scale = float(sig.sum() / src_ss)
    trans = mu_d - scale * (rot @ src_mu)
    if not has_depth:
        rot3 = np.eye(3)
        rot3[:2, :2] = rot
        rot = rot3
        trans = np.array([trans[0], trans[1], 0.0])
    return RigidFit(scale, rot, trans, has_depth)


def pose_from_rotation(rotation: np.ndarray, *, has_depth: bool = True) -> tuple[float, float, float]:
    """Head ``(yaw, pitch, roll)`` in degrees from a rotation ``R = Rz(roll) Ry(yaw) Rx(pitch)``.

    Conventions (x right, y down, z away from the camera): yaw > 0 turns the face towards
    the image left (the subject's right), pitch > 0 tilts the face down, roll > 0 turns it
    clockwise in the image. Without depth, yaw and pitch are NaN.
    """
    r = rotation
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    if not has_depth:
        return float("nan"), float("nan"), roll
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    return yaw, pitch, roll


def rotation_from_pose(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Rotation matrix [shape=(3, 3)] for a pose (inverse of :func:`pose_from_rotation`)."""
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def normalise_lips(
    lips_xyz: np.ndarray, stable_xyz: np.ndarray, *, has_depth: bool
) -> tuple[np.ndarray, tuple[float, float, float]] | None:
    """Face-normalised lip landmarks and head pose.

    Parameters
    ----------
    lips_xyz : np.ndarray [shape=(40, 3)]
        Lip landmarks in pixels (z depth in pixels when ``has_depth``).
    stable_xyz : np.ndarray [shape=(13, 3)]
        Stable face points in pixels (NaN rows ignored).
    has_depth : bool
        Use a 3-D fit (else a 2-D one; the lips are then projected in the image plane).

    Returns
    -------
    (landmarks_norm, pose) or None
        ``landmarks_norm`` [shape=(40, 2), float64] in face units (frontal, origin at the
        canonical mouth centre, x right, y down, unit = outer-eye-corner distance);
        ``pose`` = ``(yaw, pitch, roll)`` degrees. ``None`` if the fit is impossible.
    """
    fit = fit_similarity(stable_xyz, has_depth=has_depth)
    if fit is None:
        return None
    if has_depth:
        norm = fit.to_canonical(np.asarray(lips_xyz, dtype=np.float64))[:, :2]
    else:
        r2 = fit.rotation[:2, :2]
        norm = ((np.asarray(lips_xyz, dtype=np.float64)[:, :2] - fit.translation[:2]) @ r2) / fit.scale
    return norm, pose_from_rotation(fit.rotation, has_depth=has_depth)
