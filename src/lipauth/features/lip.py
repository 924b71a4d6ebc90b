"""Lip shape features per frame from face-normalised landmarks, with their derivatives.

All lengths are in face units (the outer-eye-corner distance of
:attr:`lipauth.types.LipTrack.landmarks_norm`), areas in face units squared, times in
seconds. Derivatives are per second, computed against ``timestamps_s``, so the same lip
motion filmed at 25 or 30 fps (or at a variable rate) gives the same values.

Smoothing (:func:`smooth_series`): a 3-frame running median first removes single-frame
landmark glitches without rounding a step (a median keeps an edge exactly where it is),
then a quadratic Savitzky-Golay filter over ``smooth_window_s`` removes jitter. A
Savitzky-Golay filter fits a local polynomial, so it keeps the height of peaks and the
steepness of onsets far better than a moving average of the same length (which would
smear a 0.1-s mouth opening over the whole window); unlike a one-euro filter it is not
causal and needs no speed-dependent tuning, which suits whole-clip analysis.
"""

from __future__ import annotations

import numpy as np

from lipauth.types import LIP_GROUPS, LipTrack

__all__ = [
    "SHAPE_FEATURES",
    "LENGTH_FEATURES",
    "shape_from_landmarks",
    "fill_gaps",
    "smooth_series",
    "derivative",
    "ShapeSeries",
    "shape_series",
]

#: names of the columns of the shape array, in order
SHAPE_FEATURES: tuple[str, ...] = (
    "opening",  # inner-lip gap at the mid line (mean of 3 central pairs), face units
    "width",  # outer corner to corner distance, face units
    "inner_area",  # area inside the inner lip contour (shoelace), face units^2
    "outer_area",  # area inside the outer lip contour (shoelace), face units^2
    "aspect_ratio",  # outer height / width (dimensionless)
    "roundness",  # 4*pi*area/perimeter^2 of the outer contour (1 = circle; pursed lips rise)
    "upper_thickness",  # outer to inner upper lip at the mid line, face units
    "lower_thickness",  # inner to outer lower lip at the mid line, face units
    "left_corner_x",  # image-left outer corner, face units from the canonical mouth centre
    "left_corner_y",
    "right_corner_x",
    "right_corner_y",
)

#: shape features that are lengths in face units (used for motion energy and amplitudes)
LENGTH_FEATURES: tuple[str, ...] = ("opening", "width", "upper_thickness", "lower_thickness")

_OUTER = list(LIP_GROUPS["outer"])  # closed polygon: upper L->R then lower R->L
_INNER = list(LIP_GROUPS["inner"])
_INNER_UPPER = list(LIP_GROUPS["inner_upper"])  # L->R
_INNER_LOWER = list(LIP_GROUPS["inner_lower"])  # L->R, paired with _INNER_UPPER
_OUTER_UPPER = list(LIP_GROUPS["outer_upper"])
_OUTER_LOWER = list(LIP_GROUPS["outer_lower"])


def shoelace_area(poly: np.ndarray) -> np.ndarray:
    """Area of each polygon [shape=(..., k, 2)] -> (...,) (shoelace formula)."""
    x, y = poly[..., 0], poly[..., 1]
    return 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1))


def _perimeter(poly: np.ndarray) -> np.ndarray:
    return np.linalg.norm(poly - np.roll(poly, -1, axis=-2), axis=-1).sum(axis=-1)


def shape_from_landmarks(landmarks_norm: np.ndarray) -> np.ndarray:
    """Shape features of each frame (no smoothing, NaN where the landmarks are NaN).

    Parameters
    ----------
    landmarks_norm : np.ndarray [shape=(n_frames, 40, 2)]
        Face-normalised lip landmarks (order of :data:`lipauth.types.LIP_GROUPS`).

    Returns
    -------
    np.ndarray [shape=(n_frames, len(SHAPE_FEATURES)), dtype=float64]
        Columns named by :data:`SHAPE_FEATURES`.
    """
    lm = np.asarray(landmarks_norm, dtype=np.float64)
    centre = slice(4, 7)  # the three central upper/lower pairs (mid line +- one point)
    up = lm[:, _INNER_UPPER[centre], :]
    lo = lm[:, _INNER_LOWER[centre], :]
    opening = np.linalg.norm(lo - up, axis=-1).mean(axis=-1)
    left, right = lm[:, LIP_GROUPS["corners"][0], :], lm[:, LIP_GROUPS["corners"][1], :]
    width = np.linalg.norm(right - left, axis=-1)
    outer = lm[:, _OUTER, :]
    inner_area = shoelace_area(lm[:, _INNER, :])
    outer_area = shoelace_area(outer)
    outer_height = np.linalg.norm(lm[:, _OUTER_LOWER[5], :] - lm[:, _OUTER_UPPER[5], :], axis=-1)
    perim = _perimeter(outer)
    with np.errstate(invalid="ignore", divide="ignore"):
        aspect = outer_height / width
        roundness = 4.0 * np.pi * outer_area / perim**2
    upper_thick = np.linalg.norm(lm[:, LIP_GROUPS["inner_upper_mid"][0], :] - lm[:, LIP_GROUPS["outer_upper_mid"][0], :], axis=-1)
    lower_thick = np.linalg.norm(lm[:, LIP_GROUPS["outer_lower_mid"][0], :] - lm[:, LIP_GROUPS["inner_lower_mid"][0], :], axis=-1)
    cols = [
        opening,
        width,
        inner_area,
        outer_area,
        aspect,
        roundness,
        upper_thick,
        lower_thick,
        left[:, 0],
        left[:, 1],
        right[:, 0],
        right[:, 1],
    ]
    return np.stack(cols, axis=1)


def fill_gaps(values: np.ndarray, timestamps_s: np.ndarray, *, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN rows by linear interpolation in time (edges hold the nearest value).

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames, n_columns)]
        NaN rows are gaps (a row is a gap when any of its values is NaN).
    timestamps_s : np.ndarray [shape=(n_frames,)]
    max_gap_s : float
        Gaps up to this long (from the last frame before to the first frame after) are
        bridged and count as valid; longer gaps and leading/trailing gaps are filled too
        (no NaN leaves this function) but are marked invalid.

    Returns
    -------
    filled : np.ndarray [shape=(n_frames, n_columns), dtype=float64]
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        Measured frames and frames inside bridged short gaps.
    """
    values = np.asarray(values, dtype=np.float64)
    t = np.asarray(timestamps_s, dtype=np.float64)
    ok = np.all(np.isfinite(values), axis=1)
    if not ok.any():
        return np.zeros_like(values), ok
    filled = np.empty_like(values)
    for j in range(values.shape[1]):
        filled[:, j] = np.interp(t, t[ok], values[ok, j])
    valid = ok.copy()
    idx = np.flatnonzero(ok)
    for a, b in zip(idx[:-1], idx[1:]):
        if b - a > 1 and t[b] - t[a] <= max_gap_s:
            valid[a + 1 : b] = True
    return filled, valid


def _odd_window(window_s: float, timestamps_s: np.ndarray, n: int) -> int:
    dt = float(np.median(np.diff(timestamps_s))) if n > 1 else 1.0
    win = int(round(window_s / dt)) if dt > 0 else 5
    win = max(5, win | 1)  # odd, and long enough for a quadratic fit
    while win > n:
        win -= 2
    return win


def smooth_series(values: np.ndarray, timestamps_s: np.ndarray, *, window_s: float) -> np.ndarray:
    """3-frame median then quadratic Savitzky-Golay over ``window_s`` (see module doc).

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames, n_columns)], finite
    timestamps_s : np.ndarray [shape=(n_frames,)]
    window_s : float
        Savitzky-Golay window; converted to an odd number of frames (at least 5) from the
        median frame interval, so it covers the same time at any frame rate.

    Returns
    -------
    np.ndarray [shape=(n_frames, n_columns), dtype=float64]
    """
    from scipy.ndimage import median_filter
    from scipy.signal import savgol_filter

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n < 5:
        return values.copy()
    med = median_filter(values, size=(3, 1), mode="mirror")  # mirror: an edge glitch is removed too
    win = _odd_window(window_s, np.asarray(timestamps_s, dtype=np.float64), n)
    return savgol_filter(med, win, 2, axis=0, mode="interp")


def derivative(values: np.ndarray, timestamps_s: np.ndarray) -> np.ndarray:
    """Time derivative per second against the true frame times (second-order differences).

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames, n_columns)]
    timestamps_s : np.ndarray [shape=(n_frames,)], strictly increasing

    Returns
    -------
    np.ndarray [shape=(n_frames, n_columns), dtype=float64], units of ``values`` per second
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] < 2:
        return np.zeros_like(values)
    return np.gradient(values, np.asarray(timestamps_s, dtype=np.float64), axis=0)


class ShapeSeries:
    """Smoothed shape features of one track and their derivatives (plain container).

    Attributes
    ----------
    shape, velocity, acceleration : np.ndarray [shape=(n_frames, n_features), dtype=float32]
        Face units (squared for areas, none for ratios), per second, per second squared.
        Velocity and acceleration are 0 at invalid frames.
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
    """

    __slots__ = ("shape", "velocity", "acceleration", "valid")

    def __init__(self, shape: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray, valid: np.ndarray) -> None:
        self.shape = shape
        self.velocity = velocity
        self.acceleration = acceleration
        self.valid = valid


def shape_series(track: LipTrack, *, smooth_window_s: float, max_gap_s: float) -> ShapeSeries:
    """Shape features of a track, gaps filled, smoothed, with velocity and acceleration.

    Parameters
    ----------
    track : LipTrack
    smooth_window_s : float
        Savitzky-Golay window (see :func:`smooth_series`).
    max_gap_s : float
        Longest gap bridged by interpolation and still counted valid (see :func:`fill_gaps`).

    Returns
    -------
    ShapeSeries
        No NaN anywhere; ``valid`` masks frames in long gaps.
    """
    t = np.asarray(track.timestamps_s, dtype=np.float64)
    raw = shape_from_landmarks(track.landmarks_norm)
    raw[~np.asarray(track.detected, dtype=bool)] = np.nan
    filled, valid = fill_gaps(raw, t, max_gap_s=max_gap_s)
    smooth = smooth_series(filled, t, window_s=smooth_window_s)
    vel = derivative(smooth, t)
    acc = derivative(vel, t)
    vel[~valid] = 0.0
    acc[~valid] = 0.0
    return ShapeSeries(
        smooth.astype(np.float32),
        vel.astype(np.float32),
        acc.astype(np.float32),
        valid,
    )
