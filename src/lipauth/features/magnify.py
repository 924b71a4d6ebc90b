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
That blends intensities (the lips ghost rather than move less, and even gain 0.05 leaves
about half of the tracked opening range on synthetic clips of known geometry), so for
micro-movement clips :func:`attenuate_lip_motion` moves the lips geometrically instead:
a thin-plate-spline warp that scales the lip landmarks' excursion from the clip's
closed-mouth shape (the chin follows).
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
from lipauth.types import LIP_GROUPS, Audio, LipTrack, Video

__all__ = ["attenuate_lip_motion", "magnify_labial", "write_magnified"]

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


# --------------------------------------------------------------------------------------
# geometric attenuation (micro-movement clips)

#: the closed-mouth reference: median lip shape of the frames whose opening is at most
#: this percentile of the clip's
_CLOSED_PERCENTILE = 10.0
#: warped region: an ellipse around the mouth centre reaching this many mouth widths to
#: the sides (at most this fraction of the face width) and above, and this many mouth
#: widths below the chin (the bottom of the tracked face box)
_WARP_SIDE = 1.3
_WARP_SIDE_FACE = 0.6
_WARP_UP = 0.8
_WARP_BELOW_CHIN = 0.8
#: the field fades to zero between this elliptic radius of the warped region and its edge
_WARP_FADE_IN = 0.7
#: chin anchors: at this fraction of the way from the outer lower lip to the chin,
#: following the lower lip's displacement with this weight (the jaw moves with the
#: opening, a little less than the lower lip)
_CHIN_DEPTH = 0.8
_CHIN_WEIGHT = 0.7
#: coarse grid of the displacement field: about this many cells across the mouth width
_GRID_PER_MOUTH = 12.0


def attenuate_lip_motion(
    video: Video,
    track: LipTrack,
    *,
    factor: float = 0.3,
    reference: str = "closed",
) -> Iterator[np.ndarray]:
    """Scale the lips' motion geometrically by ``factor`` (0.3 = micro movement), frame by frame.

    Unlike :func:`magnify_labial` with ``factor < 1`` (which blends intensities, so the
    lips ghost instead of moving less), this moves the lips: in every frame each of the
    40 tracked lip landmarks is moved from its tracked place ``x`` to
    ``ref + factor * (x - ref)`` in the face-normalised frame (head pose, position and
    scale removed, so head motion is kept), where ``ref`` is the clip's reference lip
    shape. Chin anchors (80 % of the way from the lower lip down to the chin, the bottom
    of the tracked face oval) follow the lower lip's displacement at 0.7 (the jaw opens
    with the mouth), anchors around the lower face stay put, and the image is warped with
    the thin-plate spline through these displacements (evaluated on a coarse grid,
    upsampled, applied with ``cv2.remap``), feathered to zero at the edge of an ellipse
    around the mouth (1.3 mouth widths but at most 0.6 face widths to the sides, 0.8
    mouth widths above, 0.8 below the chin): pixels outside it are returned unchanged,
    bit for bit.

    With the closed-mouth reference, the inner-lip opening of a warped frame is the rest
    opening plus ``factor`` times the tracked excursion from it: on synthetic clips of
    known geometry the re-tracked opening at 0.3 follows the true 30 %-opening clip's
    (``tests/test_micro_warp.py``).

    Parameters
    ----------
    video : Video
        The clip (eager or lazy; decoded once, in order).
    track : LipTrack
        Its lip track (same frame count, at least one detected frame).
    factor : float
        Motion gain, 0 to 1: 0 freezes the lips at the reference shape, 1 returns the
        input (copied).
    reference : str
        ``"closed"`` (default): the median shape of the clip's most closed frames (at
        most the 10th percentile of the inner-lip opening), the rest position a slight
        mover starts from; ``"median"``: the median shape of all detected frames.

    Returns
    -------
    Iterator of np.ndarray [shape=(height, width, 3), dtype=uint8]
        RGB frames (new arrays; the input is not modified). Frames without a detected
        face are passed through unchanged.

    Raises
    ------
    ConfigError
        ``factor`` outside [0, 1] (raised at the call, before iterating).
    InputError
        Unknown ``reference``, video and track differ in frame count, or the track has
        no detected frame.
    """
    check_range("attenuate_lip_motion", "factor", float(factor), 0.0, 1.0)
    if reference not in ("closed", "median"):
        raise InputError(f"attenuate_lip_motion: reference={reference!r} is unknown; use 'closed' or 'median'")
    _check_track(video, track)
    if not track.detected.any():
        raise InputError(f"{video.source or '<video>'}: the track has no frame with a face; nothing to attenuate")
    return _attenuate(video, track, float(factor), reference)


def _reference_shape(track: LipTrack, reference: str) -> np.ndarray:
    """Reference lip shape in face units [shape=(40, 2), float64]."""
    norm = track.landmarks_norm[track.detected].astype(np.float64)
    if reference == "median":
        return np.median(norm, axis=0)
    from lipauth.features.lip import SHAPE_FEATURES, shape_from_landmarks

    opening = shape_from_landmarks(norm)[:, SHAPE_FEATURES.index("opening")]
    closed = opening <= np.percentile(opening, _CLOSED_PERCENTILE)
    return np.median(norm[closed], axis=0)


def _norm_to_px(norm: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Linear part [shape=(2, 2)] of the least-squares affine map from face units to pixels."""
    a = np.hstack([norm, np.ones((len(norm), 1))])
    m, *_ = np.linalg.lstsq(a, px, rcond=None)
    return m[:2]


def _warp_frame(frame: np.ndarray, src: np.ndarray, dst: np.ndarray, face_box: np.ndarray) -> np.ndarray:
    """Warp ``frame`` so the 40 lip points ``src`` [shape=(40, 2), px] land on ``dst``.

    The chin anchors and the fixed ring are added here from ``face_box`` (x0, y0, x1, y1 px,
    the face oval: its bottom is the chin).
    """
    import cv2
    from scipy.interpolate import RBFInterpolator

    h, w = frame.shape[:2]
    left, right = LIP_GROUPS["corners"]
    mouth_w = float(np.linalg.norm(src[right] - src[left]))
    if not np.isfinite(mouth_w) or mouth_w < 4.0:
        return frame.copy()
    cx, cy = src[:20].mean(axis=0)
    chin_y = float(face_box[3])
    if not (np.isfinite(face_box).all() and chin_y > src[15, 1] + 2.0):
        return frame.copy()
    ext_x = min(_WARP_SIDE * mouth_w, _WARP_SIDE_FACE * float(face_box[2] - face_box[0]))
    ext_up = _WARP_UP * mouth_w
    ext_dn = chin_y - cy + _WARP_BELOW_CHIN * mouth_w
    x0, x1 = int(max(0, math.floor(cx - ext_x))), int(min(w, math.ceil(cx + ext_x)))
    y0, y1 = int(max(0, math.floor(cy - ext_up))), int(min(h, math.ceil(cy + ext_dn)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame.copy()
    # chin anchors below the outer lower lip, following it at _CHIN_WEIGHT
    d_lower = dst[15] - src[15]
    chin_depth = src[15, 1] + _CHIN_DEPTH * (chin_y - src[15, 1])
    chin_src = np.array([[src[15, 0] + k * 0.3 * mouth_w, chin_depth] for k in (-1, 0, 1)])
    chin_dst = chin_src + _CHIN_WEIGHT * d_lower
    # fixed ring on the warped region's ellipse (where the feathering reaches zero)
    ang = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    ry = np.where(np.sin(ang) > 0, ext_dn, ext_up)
    ring = np.column_stack([cx + ext_x * np.cos(ang), cy + ry * np.sin(ang)])
    targets = np.vstack([dst, chin_dst, ring])
    values = np.vstack([src - dst, chin_src - chin_dst, np.zeros_like(ring)])
    # fit in mouth-width units (conditioning); a little smoothing absorbs coincident
    # inner-lip points of a closed mouth
    origin = np.array([cx, cy])
    rbf = RBFInterpolator((targets - origin) / mouth_w, values / mouth_w, kernel="thin_plate_spline", smoothing=1e-3)
    step = max(2.0, mouth_w / _GRID_PER_MOUTH)
    gx = np.linspace(x0, x1 - 1, max(2, math.ceil((x1 - x0) / step) + 1))
    gy = np.linspace(y0, y1 - 1, max(2, math.ceil((y1 - y0) / step) + 1))
    gxx, gyy = np.meshgrid(gx, gy)
    coarse = rbf((np.column_stack([gxx.ravel(), gyy.ravel()]) - origin) / mouth_w) * mouth_w
    coarse = coarse.reshape(len(gy), len(gx), 2).astype(np.float32)
    field = cv2.resize(coarse, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    r = np.sqrt(((xs - cx) / ext_x) ** 2 + ((ys - cy) / np.where(ys > cy, ext_dn, ext_up)) ** 2)
    u = np.clip((1.0 - r) / (1.0 - _WARP_FADE_IN), 0.0, 1.0)
    fade = (u * u * (3.0 - 2.0 * u)).astype(np.float32)
    map_x = xs + fade * field[..., 0]
    map_y = ys + fade * field[..., 1]
    out = frame.copy()
    warped = cv2.remap(frame, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = fade > 0
    out[y0:y1, x0:x1][inside] = warped[inside]
    return out


def _attenuate(video: Video, track: LipTrack, factor: float, reference: str) -> Iterator[np.ndarray]:
    ref = _reference_shape(track, reference)
    n = track.n_frames
    i = -1
    for i, (_t_s, frame) in enumerate(video.iter_frames()):
        if i >= n:
            raise InputError(f"{video.source or '<video>'} yields more frames than its {n} timestamps; reload the video")
        if not track.detected[i] or factor == 1.0:
            yield frame.copy()
            continue
        norm = track.landmarks_norm[i].astype(np.float64)
        px = track.landmarks_px[i].astype(np.float64)
        if not (np.isfinite(norm).all() and np.isfinite(px).all()):
            yield frame.copy()
            continue
        lin = _norm_to_px(norm, px)
        dst = px + ((factor - 1.0) * (norm - ref)) @ lin
        yield _warp_frame(frame, px, dst, track.face_box[i])
    if i + 1 != n:
        raise InputError(f"{video.source or '<video>'} yielded {i + 1} frames but declares {n}; reload the video")
