"""Cheap per-frame image quality measures on small crops (luma, sharpness)."""

from __future__ import annotations

import numpy as np

__all__ = ["mean_luma", "sharpness", "SHARPNESS_CROP_WIDTH_PX"]

#: the labial crop is resized to this width before measuring sharpness, so the measure
#: does not depend on the face size in pixels
SHARPNESS_CROP_WIDTH_PX = 64


def _clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0 = max(0, int(box[0]))
    y0 = max(0, int(box[1]))
    x1 = min(width, int(box[2] + 0.999))
    y1 = min(height, int(box[3] + 0.999))
    return x0, y0, x1, y1


def mean_luma(frame_rgb: np.ndarray, box: np.ndarray, *, n_samples: int = 32) -> float:
    """Mean luma (BT.601, 0-255) of a box, sampled on a grid of about ``n_samples`` squared.

    Parameters
    ----------
    frame_rgb : np.ndarray [shape=(h, w, 3), dtype=uint8]
    box : np.ndarray [shape=(4,)] ``x0, y0, x1, y1`` px

    Returns
    -------
    float
        NaN when the box lies outside the frame.
    """
    h, w = frame_rgb.shape[:2]
    x0, y0, x1, y1 = _clip_box(box, w, h)
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    import cv2

    step = max(1, (x1 - x0) // n_samples)
    m = cv2.mean(frame_rgb[y0:y1:step, x0:x1:step])
    return float(0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2])


def sharpness(frame_rgb: np.ndarray, box: np.ndarray) -> float:
    """Variance of the Laplacian of the box, resized to a fixed width (size-normalised).

    Parameters
    ----------
    frame_rgb : np.ndarray [shape=(h, w, 3), dtype=uint8]
    box : np.ndarray [shape=(4,)] ``x0, y0, x1, y1`` px (the labial box)

    Returns
    -------
    float
        Laplacian variance of the grey crop at :data:`SHARPNESS_CROP_WIDTH_PX` width (grey
        levels squared); NaN when the box is empty.
    """
    import cv2

    h, w = frame_rgb.shape[:2]
    x0, y0, x1, y1 = _clip_box(box, w, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float("nan")
    grey = cv2.cvtColor(frame_rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    out_w = SHARPNESS_CROP_WIDTH_PX
    out_h = max(2, round(out_w * (y1 - y0) / (x1 - x0)))
    grey = cv2.resize(grey, (out_w, out_h), interpolation=cv2.INTER_AREA)
    _, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S, ksize=3))
    return float(std[0, 0] ** 2)
