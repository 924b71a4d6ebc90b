"""Eulerian motion magnification restricted to the labial region (so a carer can see a
weak speaker's lips move), and its inverse (attenuation) for making micro-movement clips.

Method (linear Eulerian video magnification, Wu et al. 2012, simplified): a fixed region
of interest around every tracked lip position of the clip is spatially low-passed (a few
Gaussian pyramid levels, so the mouth is about 24 px wide there), band-passed in time
(difference of two first-order IIR low-passes at ``high_hz`` and ``low_hz``, exact for
variable frame rates), amplified by ``factor - 1``, brought back to full resolution and
added to the frame under a soft elliptical mask around the current labial box. Pixels
outside the mask are returned unchanged, bit for bit. ``factor < 1`` subtracts part of
the band-passed motion: the lips move less (0 removes the band-passed motion, 1 = copy).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError
from lipauth.features.appearance import _check_track
from lipauth.types import Audio, LipTrack, Video

__all__ = ["magnify_labial", "write_magnified"]

logger = logging.getLogger(__name__)

#: the spatial low-pass level is chosen so the mouth is about this wide (pixels) there
_MOUTH_PX_AT_LEVEL = 24.0
#: region of interest: union of the clip's labial boxes grown by this fraction per side
_ROI_GROW = 0.35
#: soft mask: ellipse around the labial box with these half-axes (x box half-size),
#: fading from full to zero between radius _FADE_IN and 1
_MASK_AXES = (1.25, 1.5)
_FADE_IN = 0.6


def _check_params(factor: float, low_hz: float, high_hz: float) -> None:
    check_range("magnify_labial", "factor", float(factor), 0.0, 100.0)
    check_range("magnify_labial", "low_hz", float(low_hz), 0.01, 50.0)
    check_range("magnify_labial", "high_hz", float(high_hz), float(low_hz) + 1e-6, 100.0)


def _roi(track: LipTrack) -> tuple[int, int, int, int]:
    boxes = track.labial_box[track.detected]
    x0, y0 = np.nanmin(boxes[:, 0]), np.nanmin(boxes[:, 1])
    x1, y1 = np.nanmax(boxes[:, 2]), np.nanmax(boxes[:, 3])
    gx, gy = _ROI_GROW * (x1 - x0), _ROI_GROW * (y1 - y0)
    w, h = track.width, track.height
    return (
        int(max(0, math.floor(x0 - gx))),
        int(max(0, math.floor(y0 - gy))),
        int(min(w, math.ceil(x1 + gx))),
        int(min(h, math.ceil(y1 + gy))),
    )


def _soft_mask(box: np.ndarray, roi: tuple[int, int, int, int], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Mask in [0, 1] of shape (roi_h, roi_w, 1): 1 over the lips, smooth fade, 0 outside."""
    cx = 0.5 * (box[0] + box[2]) - roi[0]
    cy = 0.5 * (box[1] + box[3]) - roi[1]
    rx = max(0.5 * (box[2] - box[0]) * _MASK_AXES[0], 1.0)
    ry = max(0.5 * (box[3] - box[1]) * _MASK_AXES[1], 1.0)
    r = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    u = np.clip((1.0 - r) / (1.0 - _FADE_IN), 0.0, 1.0)
    return (u * u * (3.0 - 2.0 * u)).astype(np.float32)[..., None]


def magnify_labial(
    video: Video,
    track: LipTrack,
    *,
    factor: float = 10.0,
    low_hz: float = 0.5,
    high_hz: float = 8.0,
) -> Iterator[np.ndarray]:
    """Magnify (``factor > 1``) or attenuate (``factor < 1``) lip motion, frame by frame.

    Parameters
    ----------
    video : Video
        The clip (eager or lazy; decoded once, in order).
    track : LipTrack
        Its lip track (same frame count, at least one detected frame).
    factor : float
        Motion gain in the pass band, 0 to 100: 10 shows slight lip motion clearly, 0.3
        attenuates it (for making micro-movement test clips), 1 returns the input.
    low_hz, high_hz : float
        Temporal pass band in Hz (``0.01 <= low_hz < high_hz <= 100``); a ``high_hz``
        above half the frame rate means no upper cut.

    Returns
    -------
    Iterator of np.ndarray [shape=(height, width, 3), dtype=uint8]
        RGB frames (new arrays; the input is not modified). Frames without a detected
        face are passed through unchanged (the filter keeps running).

    Raises
    ------
    ConfigError
        A parameter outside its range (raised at the call, before iterating).
    InputError
        Video and track differ in frame count, or the track has no detected frame.
    """
    _check_params(factor, low_hz, high_hz)
    _check_track(video, track)
    if not track.detected.any():
        raise InputError(f"{video.source or '<video>'}: the track has no frame with a face; nothing to magnify")
    return _magnify(video, track, float(factor), float(low_hz), float(high_hz))


def _magnify(video: Video, track: LipTrack, factor: float, low_hz: float, high_hz: float) -> Iterator[np.ndarray]:
    import cv2

    x0, y0, x1, y1 = _roi(track)
    mouth_px = float(np.nanmedian(track.mouth_width(normalised=False)[track.detected]))
    n_levels = max(0, int(math.floor(math.log2(max(mouth_px, 1.0) / _MOUTH_PX_AT_LEVEL))))
    # keep at least 8 px at the coarsest level
    while n_levels > 0 and min(x1 - x0, y1 - y0) / 2**n_levels < 8:
        n_levels -= 1
    logger.debug("magnify: roi %s, mouth %.0f px, %d pyramid levels, factor %.2f", (x0, y0, x1, y1), mouth_px, n_levels, factor)
    ys, xs = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
    gain = factor - 1.0
    lp_fast: np.ndarray | None = None
    lp_slow: np.ndarray | None = None
    t_prev = 0.0
    n = track.n_frames
    i = -1
    for i, (t_s, frame) in enumerate(video.iter_frames()):
        if i >= n:
            raise InputError(f"{video.source or '<video>'} yields more frames than its {n} timestamps; reload the video")
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        sizes = []
        level = roi
        for _ in range(n_levels):
            sizes.append((level.shape[1], level.shape[0]))
            level = cv2.pyrDown(level)
        if lp_fast is None or lp_slow is None:
            lp_fast = level.copy()
            lp_slow = level.copy()
        else:
            dt = max(float(t_s) - t_prev, 1e-6)
            a_fast = 1.0 - math.exp(-2.0 * math.pi * high_hz * dt)
            a_slow = 1.0 - math.exp(-2.0 * math.pi * low_hz * dt)
            lp_fast += a_fast * (level - lp_fast)
            lp_slow += a_slow * (level - lp_slow)
        t_prev = float(t_s)
        out = frame.copy()
        if track.detected[i] and gain != 0.0:
            delta = gain * (lp_fast - lp_slow)
            for size in reversed(sizes):
                delta = cv2.pyrUp(delta, dstsize=size)
            mask = _soft_mask(track.labial_box[i], (x0, y0, x1, y1), xs, ys)
            np.clip(roi + mask * delta + 0.5, 0, 255, out=roi)
            # where the mask is 0, roi + 0.5 floors back to the input exactly
            out[y0:y1, x0:x1] = roi.astype(np.uint8)
        yield out
    if i + 1 != n:
        raise InputError(f"{video.source or '<video>'} yielded {i + 1} frames but declares {n}; reload the video")


def write_magnified(
    path: str | os.PathLike[str],
    video: Video,
    track: LipTrack,
    *,
    factor: float = 10.0,
    low_hz: float = 0.5,
    high_hz: float = 8.0,
    audio: Audio | None = None,
    crf: int | None = None,
) -> Path:
    """Magnify the labial motion of ``video`` and encode it to ``path`` (same timestamps).

    Parameters
    ----------
    path : str or PathLike
        Output file (``.mp4``, ``.webm``, ...; see :func:`lipauth.io.write_video`).
    video, track, factor, low_hz, high_hz
        As in :func:`magnify_labial`.
    audio : Audio, optional
        Sound to mux in (e.g. ``lipauth.io.load_audio`` of the source), kept aligned.
    crf : int, optional
        Encoder quality (lower is better).

    Returns
    -------
    pathlib.Path
    """
    from lipauth.io import write_video

    frames = magnify_labial(video, track, factor=factor, low_hz=low_hz, high_hz=high_hz)
    return write_video(path, frames, timestamps_s=video.timestamps_s, audio=audio, crf=crf)
