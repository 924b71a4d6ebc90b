"""Spatio-temporal gradient histograms of the labial region (the appearance descriptor of
audio-visual liveness methods): per time window, histograms of spatial gradient
orientations and of temporal gradients over a grid of cells of the aligned lip crop.
"""

from __future__ import annotations

import math

import numpy as np

from lipauth.config import check_range
from lipauth.errors import ConfigError
from lipauth.features.appearance import _check_crops, _check_timestamps, _check_valid, _previous_valid

__all__ = ["spatiotemporal_histograms", "TEMPORAL_RANGE_PER_40MS"]

#: temporal bins span +-this change of the normalised crop (crop units, see
#: lipauth.features.appearance) per 40 ms (one frame at 25 fps); the outer bins take
#: everything beyond
TEMPORAL_RANGE_PER_40MS = 0.2


def _cell_index(h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """Cell number of every crop pixel [shape=(h, w)], row-major over ``cells=(cols, rows)``."""
    cols, rows = cells
    cy = np.minimum(np.arange(h) * rows // h, rows - 1)
    cx = np.minimum(np.arange(w) * cols // w, cols - 1)
    return (cy[:, None] * cols + cx[None, :]).astype(np.int64)


def _window_centres(t: np.ndarray, window_s: float, hop_s: float) -> np.ndarray:
    """Window centres on the grid ``window_s / 2 + k * hop_s`` (absolute seconds) that fit the clip."""
    if t.size < 2:
        return np.zeros(0)
    frame_s = float(np.median(np.diff(t)))
    start, end = float(t[0]), float(t[-1]) + 0.5 * frame_s
    k0 = math.ceil((start - 1e-9) / hop_s)
    k1 = math.floor((end - window_s + 1e-9) / hop_s)
    if k1 < k0:
        return np.zeros(0)
    return np.arange(k0, k1 + 1) * hop_s + 0.5 * window_s


def spatiotemporal_histograms(
    crops: np.ndarray,
    timestamps_s: np.ndarray,
    valid: np.ndarray,
    *,
    window_s: float = 0.4,
    hop_s: float = 0.2,
    cells: tuple[int, int] = (4, 2),
    n_bins: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of spatial and temporal gradients over cells and windows of frames.

    Per frame and cell: a histogram of spatial gradient orientations (unsigned, 0-180
    degrees, ``n_bins`` bins, weighted by gradient magnitude) and a histogram of the
    signed temporal gradient (change from the previous valid frame, scaled to a 40 ms
    step so frame rates compare; ``n_bins`` equal bins over +-:data:`TEMPORAL_RANGE_PER_40MS`,
    outer bins open). The histograms are summed over the frames of each time window,
    each half (spatial, temporal) is Hellinger-normalised (L1, then square root, so unit
    L2 norm) and the halves are concatenated and scaled by ``1/sqrt(2)``: every
    descriptor has unit L2 norm.

    Windows are ``window_s`` long and start at multiples of ``hop_s`` seconds on the
    clip's own time axis (``t = 0`` at the first frame), so clips of the same duration
    at 25 and 30 fps give windows at the same times. A window must lie inside the clip
    (first frame to half a frame after the last). **Windows where fewer than half of
    the frames (or fewer than 2) are valid are dropped**: ``times_s`` says which remain.

    Parameters
    ----------
    crops : np.ndarray [shape=(n_frames, h, w), dtype=float32]
        Aligned labial crops (:func:`~lipauth.features.appearance.labial_crops`).
    timestamps_s : np.ndarray [shape=(n_frames,)]
        Frame times in seconds, strictly increasing.
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        ``track.detected``.
    window_s, hop_s : float
        Window length (0.04 to 10 s) and hop between window starts (0.01 to 10 s).
    cells : (int, int)
        ``(columns, rows)`` of the cell grid, 1 to 16 each and at most the crop size.
    n_bins : int
        Bins per histogram, 2 to 64.

    Returns
    -------
    descriptors : np.ndarray [shape=(m, 2 * cells[0] * cells[1] * n_bins), dtype=float32]
        One descriptor per kept window (never NaN).
    times_s : np.ndarray [shape=(m,), dtype=float64]
        Window centre times in seconds.
    """
    crops = _check_crops(crops)
    n, h, w = crops.shape
    t = _check_timestamps(timestamps_s, n)
    valid = _check_valid(valid, n)
    check_range("spatiotemporal_histograms", "window_s", float(window_s), 0.04, 10.0)
    check_range("spatiotemporal_histograms", "hop_s", float(hop_s), 0.01, 10.0)
    try:
        cols, rows = (int(c) for c in cells)
        cells_ok = (cols, rows) == tuple(cells) and 1 <= cols <= min(16, w) and 1 <= rows <= min(16, h)
    except (TypeError, ValueError):
        cells_ok = False
    if not cells_ok:
        raise ConfigError(f"cells={cells!r} must be (columns, rows) integers from 1 to 16 and at most the crop size {w}x{h}")
    if not isinstance(n_bins, (int, np.integer)) or not 2 <= n_bins <= 64:
        raise ConfigError(f"spatiotemporal_histograms.n_bins={n_bins!r} is out of range; allowed integers 2 to 64")
    n_cells = cols * rows
    dim = 2 * n_cells * n_bins
    centres = _window_centres(t, float(window_s), float(hop_s))
    if centres.size == 0 or n == 0:
        return np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.float64)

    x = crops.astype(np.float32, copy=False)
    cell = _cell_index(h, w, (cols, rows))
    frame_offset = (np.arange(n, dtype=np.int64) * (n_cells * n_bins))[:, None, None]

    # spatial: central differences (one-sided at the border), unsigned orientation
    gx = np.empty_like(x)
    gy = np.empty_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gx[:, :, 0] = 2 * (x[:, :, 1] - x[:, :, 0])
    gx[:, :, -1] = 2 * (x[:, :, -1] - x[:, :, -2])
    gy[:, 1:-1] = x[:, 2:] - x[:, :-2]
    gy[:, 0] = 2 * (x[:, 1] - x[:, 0])
    gy[:, -1] = 2 * (x[:, -1] - x[:, -2])
    mag = np.sqrt(gx * gx + gy * gy)
    angle = np.arctan2(gy, gx) % np.pi
    obin = np.minimum((angle * (n_bins / np.pi)).astype(np.int64), n_bins - 1)
    idx = frame_offset + cell[None] * n_bins + obin
    spatial = np.bincount(idx.ravel(), weights=mag.ravel(), minlength=n * n_cells * n_bins)
    spatial = spatial.reshape(n, n_cells * n_bins)
    spatial[~valid] = 0.0

    # temporal: signed change from the previous valid frame per 40 ms, binned
    prev = _previous_valid(valid)
    has_pair = valid & (prev >= 0)
    temporal = np.zeros((n, n_cells * n_bins))
    pairs = np.flatnonzero(has_pair)
    if pairs.size:
        step = (0.04 / (t[pairs] - t[prev[pairs]])).astype(np.float32)[:, None, None]
        dt = (x[pairs] - x[prev[pairs]]) * step
        edges_scale = n_bins / (2.0 * TEMPORAL_RANGE_PER_40MS)
        tbin = np.clip(np.floor((dt + TEMPORAL_RANGE_PER_40MS) * edges_scale), 0, n_bins - 1).astype(np.int64)
        tidx = (np.arange(pairs.size, dtype=np.int64) * (n_cells * n_bins))[:, None, None] + cell[None] * n_bins + tbin
        counts = np.bincount(tidx.ravel(), minlength=pairs.size * n_cells * n_bins)
        temporal[pairs] = counts.reshape(pairs.size, n_cells * n_bins) / float(h * w / n_cells)

    # window sums via cumulative sums over frames
    lo = np.searchsorted(t, centres - 0.5 * window_s - 1e-9, side="left")
    hi = np.searchsorted(t, centres + 0.5 * window_s - 1e-9, side="left")
    zero = np.zeros((1, n_cells * n_bins))
    cs_s = np.concatenate([zero, np.cumsum(spatial, axis=0)])
    cs_t = np.concatenate([zero, np.cumsum(temporal, axis=0)])
    cs_v = np.concatenate([[0], np.cumsum(valid)])
    n_in = hi - lo
    n_valid = cs_v[hi] - cs_v[lo]
    keep = (n_valid >= 2) & (2 * n_valid >= n_in)
    s_sum = (cs_s[hi] - cs_s[lo])[keep]
    t_sum = (cs_t[hi] - cs_t[lo])[keep]

    def hellinger(hist: np.ndarray) -> np.ndarray:
        hist = np.maximum(hist, 0.0)  # cumulative-sum round-off
        total = hist.sum(axis=1, keepdims=True)
        out = np.zeros_like(hist)
        ok = total[:, 0] > 1e-12
        out[ok] = np.sqrt(hist[ok] / total[ok])
        if (~ok).any():  # a flat window: spread evenly (unit norm, no NaN)
            out[~ok] = 1.0 / math.sqrt(hist.shape[1])
        return out

    desc = np.concatenate([hellinger(s_sum), hellinger(t_sum)], axis=1) / math.sqrt(2.0)
    return desc.astype(np.float32), centres[keep].astype(np.float64)
