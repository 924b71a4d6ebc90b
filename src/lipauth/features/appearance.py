"""Labial appearance: aligned grayscale lip crops, inter-frame cosine similarity, a
clip-level micro-movement index and dense optical flow summaries.

Every function here takes plain arrays (or a :class:`~lipauth.types.Video` plus its
:class:`~lipauth.types.LipTrack`) and returns arrays; frames without a detected face are
carried through as zeros and a ``valid`` mask (``track.detected``), never as NaN.

Crop geometry
-------------
A crop is the mouth seen in the *face-normalised* frame of the tracker: each frame's
similarity transform from image pixels to face-normalised units is fitted (least squares)
between ``landmarks_px`` and ``landmarks_norm``. Those normalised coordinates come from a
rigid fit of stable face points (eyes, nose), so the transform removes head roll, scale
and translation without being moved by the lips themselves. The crop is centred on the
canonical mouth and ``(1 + 2 * margin)`` canonical mouth widths wide (margin = fraction of
the mouth width added on each side); its height follows from the aspect of ``size``.

Crop photometry
---------------
Each crop is grayscale (ITU-R 601 luma), then normalised to zero mean and unit contrast
and mapped into [0, 1]: ``0.5 + (luma - mean) / (4 * std)``, clipped. So 0.5 is the crop's
mean and 0 / 1 are two standard deviations below / above it; a brightness gain (x0.7 ..
x1.3) leaves crops unchanged up to quantisation and saturation.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from lipauth.config import check_range
from lipauth.errors import ConfigError, InputError
from lipauth.types import LIP_GROUPS, N_LIP_LANDMARKS, LipTrack, Video

__all__ = [
    "LabialCropper",
    "reference_mouth",
    "labial_crops",
    "cosine_similarity_series",
    "micro_movement_index",
    "flow_summary",
    "FLOW_FEATURES",
    "MICRO_INDEX_MIN_CHANGE",
]

logger = logging.getLogger(__name__)

#: without face-normalised landmarks the crop is aligned by the outer lip corners, placed
#: at (-0.5, 0) and (0.5, 0) of a mouth frame (unit = mouth width, y down) whose crop centre
#: lies this far below the corner line (0.16 on the canonical face, 0.19 on the synth one)
_CORNER_FRAME_CENTRE_Y = 0.17
_CORNER_FRAME = np.array([[-0.5, 0.0], [0.5, 0.0]])
#: the crop centre sits this far (in mouth widths) below the reference mouth's box centre:
#: the lower lip travels further than the upper one
_CENTRE_DROP = 0.05

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: names of the columns of :func:`flow_summary`
FLOW_FEATURES: tuple[str, ...] = ("mean_magnitude", "upper_vy", "lower_vy", "opening", "spread")

#: smallest RMS crop change (crop contrast units, see :func:`micro_movement_index`) taken
#: as the noise floor: below it a clip counts as noiseless (synthetic or heavily denoised)
MICRO_INDEX_MIN_CHANGE = 0.01


# --------------------------------------------------------------------------------------
# validation


def _check_size(size: object) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)  # type: ignore[union-attr]
        ok = (w, h) == tuple(size) and 8 <= w <= 512 and 8 <= h <= 512  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"size={size!r} must be (width, height) integers from 8 to 512 pixels, e.g. (64, 32)")
    return w, h


def _check_crops(crops: object, name: str = "crops") -> np.ndarray:
    if not isinstance(crops, np.ndarray) or crops.ndim != 3 or crops.shape[1] < 4 or crops.shape[2] < 4:
        shape = getattr(crops, "shape", type(crops).__name__)
        raise InputError(f"{name} has shape {shape}; pass an array of shape (n_frames, height>=4, width>=4) from labial_crops")
    if crops.dtype.kind not in "fu":
        raise InputError(f"{name} has dtype {crops.dtype}; pass float32 crops in [0, 1] from labial_crops")
    return crops


def _check_valid(valid: object, n: int, name: str = "valid") -> np.ndarray:
    arr = np.asarray(valid)
    if arr.shape != (n,):
        raise InputError(f"{name} has shape {arr.shape} but there are {n} frames; pass one bool per frame (track.detected)")
    if arr.dtype != bool:
        raise InputError(f"{name} has dtype {arr.dtype}; pass a bool mask (track.detected)")
    return arr


def _check_timestamps(timestamps_s: object, n: int) -> np.ndarray:
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.shape != (n,):
        raise InputError(f"timestamps_s has shape {t.shape} but there are {n} frames; pass one time per frame (track.timestamps_s)")
    if n and (not np.isfinite(t).all() or (n > 1 and not (np.diff(t) > 0).all())):
        raise InputError("timestamps_s must be finite and strictly increasing seconds; pass track.timestamps_s")
    return t


def _check_track(video: Video, track: LipTrack) -> None:
    if not isinstance(video, Video):
        raise InputError(f"video is a {type(video).__name__}; pass a lipauth Video (lipauth.io.load_video)")
    if not isinstance(track, LipTrack):
        raise InputError(f"track is a {type(track).__name__}; pass the LipTrack of this video (track_lips)")
    if track.n_frames != video.n_frames:
        raise InputError(
            f"track has {track.n_frames} frames but video {video.source or '<video>'} has {video.n_frames}; "
            "pass the track made from this video"
        )


# --------------------------------------------------------------------------------------
# alignment


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares similarity ``dst ~ s R src + t`` (2-D Umeyama) as a (2, 3) matrix."""
    mu_s = src.mean(axis=0)
    mu_d = dst.mean(axis=0)
    a = src - mu_s
    b = dst - mu_d
    ss = float((a * a).sum())
    if not ss > 1e-12:
        return None
    # complex-number form: b ~ z * a with z = s * exp(i theta)
    p = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum()) / ss
    q = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / ss
    if not (math.isfinite(p) and math.isfinite(q)) or p * p + q * q < 1e-12:
        return None
    m = np.array([[p, -q, 0.0], [q, p, 0.0]])
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def _crop_to_ref(size: tuple[int, int], margin: float, centre: tuple[float, float], mouth_width: float) -> np.ndarray:
    """(3, 3) map from crop pixel ``(u, v, 1)`` to reference coordinates (pixel centres)."""
    w, h = size
    k = mouth_width * (1.0 + 2.0 * margin) / w  # reference units per crop pixel
    cx, cy = centre
    return np.array([[k, 0.0, cx - 0.5 * (w - 1) * k], [0.0, k, cy - 0.5 * (h - 1) * k], [0.0, 0.0, 1.0]])


def reference_mouth(landmarks_norm: np.ndarray) -> np.ndarray:
    """Per-clip reference lip shape: the median face-normalised landmarks of detected frames.

    Parameters
    ----------
    landmarks_norm : np.ndarray [shape=(n_frames, 40, 2)]
        ``LipTrack.landmarks_norm`` (NaN rows = no face).

    Returns
    -------
    np.ndarray [shape=(40, 2), dtype=float64]
    """
    lm = np.asarray(landmarks_norm, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (N_LIP_LANDMARKS, 2):
        raise InputError(f"landmarks_norm has shape {lm.shape}; pass LipTrack.landmarks_norm of shape (n, 40, 2)")
    ok = np.isfinite(lm).all(axis=(1, 2))
    if not ok.any():
        raise InputError("landmarks_norm has no frame with a face; the track must detect the face at least once")
    return np.median(lm[ok], axis=0)


class LabialCropper:
    """Streaming labial cropper: one aligned, photometrically normalised crop per frame.

    Parameters
    ----------
    size : (int, int)
        ``(width, height)`` of the crops in pixels, 8 to 512 each.
    margin : float
        Fraction of the mouth width added on each side, 0 to 2.
    reference_norm : np.ndarray [shape=(40, 2)], optional
        Reference lip shape in face-normalised units (:func:`reference_mouth` of the clip);
        its box centre and corner distance place and scale the crop. Default: the first
        frame given with ``lip_landmarks_norm``.

    Examples
    --------
    >>> cropper = LabialCropper()
    >>> crop = cropper.update(frame_rgb, lip.landmarks_px, lip.landmarks_norm)  # (32, 64) float32
    """

    def __init__(
        self, *, size: tuple[int, int] = (64, 32), margin: float = 0.3, reference_norm: np.ndarray | None = None
    ) -> None:
        self.size = _check_size(size)
        check_range("labial_crops", "margin", float(margin), 0.0, 2.0)
        self.margin = float(margin)
        self.reference_norm_: np.ndarray | None = None
        self._crop_to_norm: np.ndarray | None = None
        if reference_norm is not None:
            self._set_reference(reference_norm)
        cy = _CORNER_FRAME_CENTRE_Y
        self._crop_to_corner = _crop_to_ref(self.size, self.margin, (0.0, cy), 1.0)

    def _set_reference(self, reference_norm: np.ndarray) -> None:
        ref = np.asarray(reference_norm, dtype=np.float64)
        if ref.shape != (N_LIP_LANDMARKS, 2) or not np.isfinite(ref).all():
            raise InputError(f"reference_norm has shape {ref.shape} or NaN; pass a finite ({N_LIP_LANDMARKS}, 2) lip shape")
        left, right = (ref[i] for i in LIP_GROUPS["corners"])
        width = float(np.linalg.norm(right - left))
        if not width > 1e-6:
            raise InputError("reference_norm has coincident mouth corners; pass a real lip shape (reference_mouth)")
        outer = ref[list(LIP_GROUPS["outer"])]
        centre = 0.5 * (outer.min(axis=0) + outer.max(axis=0))
        centre[1] += _CENTRE_DROP * width
        self.reference_norm_ = ref
        self._crop_to_norm = _crop_to_ref(self.size, self.margin, (float(centre[0]), float(centre[1])), width)

    def crop_to_frame(self, lip_landmarks_px: np.ndarray, lip_landmarks_norm: np.ndarray | None = None) -> np.ndarray | None:
        """Affine (2, 3) mapping crop pixel ``(u, v, 1)`` to frame pixels, or None if degenerate."""
        px = np.asarray(lip_landmarks_px, dtype=np.float64)
        if lip_landmarks_norm is not None:
            norm = np.asarray(lip_landmarks_norm, dtype=np.float64)
            if self._crop_to_norm is None:
                self._set_reference(norm)
            ref_to_px = _similarity(norm, px)
            crop_to_ref = self._crop_to_norm
        else:
            ref_to_px = _similarity(_CORNER_FRAME, px[list(LIP_GROUPS["corners"])])
            crop_to_ref = self._crop_to_corner
        if ref_to_px is None or crop_to_ref is None:
            return None
        return ref_to_px @ crop_to_ref

    def update(
        self,
        frame: np.ndarray,
        lip_landmarks_px: np.ndarray | None,
        lip_landmarks_norm: np.ndarray | None = None,
    ) -> np.ndarray:
        """Crop one frame.

        Parameters
        ----------
        frame : np.ndarray [shape=(height, width, 3), dtype=uint8]
            RGB frame.
        lip_landmarks_px : np.ndarray [shape=(40, 2)] or None
            The frame's lip landmarks in pixels; None or NaN (no face) gives a zero crop.
        lip_landmarks_norm : np.ndarray [shape=(40, 2)], optional
            The same landmarks face-normalised (``LipTrack.landmarks_norm``): aligns by the
            head (stable face points). Without it, the outer lip corners align the crop.

        Returns
        -------
        np.ndarray [shape=(size[1], size[0]), dtype=float32]
            In [0, 1], 0.5 = crop mean, +-0.5 = +-2 standard deviations (zeros: no face).
        """
        import cv2

        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            shape = getattr(frame, "shape", type(frame).__name__)
            raise InputError(f"frame has shape {shape}; pass an RGB uint8 frame of shape (height, width, 3)")
        out = np.zeros((h, w), dtype=np.float32)
        if lip_landmarks_px is None:
            return out
        px = np.asarray(lip_landmarks_px)
        if px.shape != (N_LIP_LANDMARKS, 2):
            raise InputError(f"lip_landmarks_px has shape {px.shape}; pass the ({N_LIP_LANDMARKS}, 2) lip landmarks of the frame")
        if lip_landmarks_norm is not None and np.shape(lip_landmarks_norm) != (N_LIP_LANDMARKS, 2):
            raise InputError(
                f"lip_landmarks_norm has shape {np.shape(lip_landmarks_norm)}; pass ({N_LIP_LANDMARKS}, 2) or None"
            )
        if not np.isfinite(px).all() or (lip_landmarks_norm is not None and not np.isfinite(lip_landmarks_norm).all()):
            return out
        m = self.crop_to_frame(px, lip_landmarks_norm)
        if m is None:
            return out
        # region of the frame the crop reads, cut, grey, pyramid-reduced (anti-aliasing)
        corners = m @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], dtype=np.float64)
        fh, fw = frame.shape[:2]
        x0 = max(int(math.floor(corners[0].min())) - 2, 0)
        y0 = max(int(math.floor(corners[1].min())) - 2, 0)
        x1 = min(int(math.ceil(corners[0].max())) + 3, fw)
        y1 = min(int(math.ceil(corners[1].max())) + 3, fh)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return out
        grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        m = m.copy()
        m[:, 2] -= (x0, y0)
        frame_px_per_crop_px = math.sqrt(abs(np.linalg.det(m[:, :2])))
        while frame_px_per_crop_px >= 2.0 and min(grey.shape) >= 4:
            grey = cv2.pyrDown(grey)
            # pyrDown: pixel centre i of the half image sits at 2i + 0.5 of the original
            m = m / 2.0
            m[:, 2] -= 0.25
            frame_px_per_crop_px /= 2.0
        crop = cv2.warpAffine(
            grey, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        mean = float(crop.mean())
        std = float(crop.std())
        if std < 1e-3:
            out.fill(0.5)
            return out
        np.multiply(crop - mean, 0.25 / std, out=out)
        out += 0.5
        np.clip(out, 0.0, 1.0, out=out)
        return out


def labial_crops(video: Video, track: LipTrack, *, size: tuple[int, int] = (64, 32), margin: float = 0.3) -> np.ndarray:
    """Aligned, fixed-size, grayscale crops of the labial region, one per frame.

    Parameters
    ----------
    video : Video
        The clip (eager or lazy; decoded once, in order).
    track : LipTrack
        Its lip track (same frame count).
    size : (int, int)
        ``(width, height)`` of each crop in pixels.
    margin : float
        Fraction of the mouth width added on each side of the mouth (0 to 2).

    Returns
    -------
    np.ndarray [shape=(n_frames, size[1], size[0]), dtype=float32]
        Crops in [0, 1] (module doc: 0.5 = crop mean, unit contrast); zeros where
        ``track.detected`` is False (use it as the valid mask).

    Raises
    ------
    InputError
        Video and track differ in frame count, or the video yields a different number of
        frames than it declares.
    ConfigError
        ``size`` or ``margin`` out of range.
    """
    _check_track(video, track)
    reference = reference_mouth(track.landmarks_norm) if track.detected.any() else None
    cropper = LabialCropper(size=size, margin=margin, reference_norm=reference)
    w, h = cropper.size
    n = track.n_frames
    crops = np.zeros((n, h, w), dtype=np.float32)
    i = -1
    for i, (_, frame) in enumerate(video.iter_frames()):
        if i >= n:
            raise InputError(f"{video.source or '<video>'} yields more frames than its {n} timestamps; reload the video")
        if track.detected[i]:
            crops[i] = cropper.update(frame, track.landmarks_px[i], track.landmarks_norm[i])
    if i + 1 != n:
        raise InputError(f"{video.source or '<video>'} yielded {i + 1} frames but declares {n}; reload the video")
    return crops


# --------------------------------------------------------------------------------------
# cosine similarity and the micro-movement index


def _previous_valid(valid: np.ndarray) -> np.ndarray:
    """Index of the previous valid frame for each frame (-1 when there is none)."""
    n = valid.size
    idx = np.where(valid, np.arange(n), -1)
    last = np.maximum.accumulate(idx) if n else idx
    prev = np.full(n, -1, dtype=np.int64)
    prev[1:] = last[:-1]
    return prev


def cosine_similarity_series(crops: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Cosine similarity of each frame's labial crop with the previous valid frame's.

    Parameters
    ----------
    crops : np.ndarray [shape=(n_frames, h, w), dtype=float32]
        From :func:`labial_crops`.
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        ``track.detected``.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float64]
        Similarity in [-1, 1] of the mean-removed crops (1 = unchanged); 1.0 where it is
        undefined (invalid frame, no earlier valid frame, a flat crop). Never NaN.
    """
    crops = _check_crops(crops)
    n = crops.shape[0]
    valid = _check_valid(valid, n)
    sim = np.ones(n, dtype=np.float64)
    prev = _previous_valid(valid)
    pairs = np.flatnonzero(valid & (prev >= 0))
    if pairs.size == 0:
        return sim
    flat = crops.reshape(n, -1).astype(np.float32)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred, dtype=np.float64))
    a = centred[pairs]
    b = centred[prev[pairs]]
    dots = np.einsum("ij,ij->i", a, b, dtype=np.float64)
    denom = norms[pairs] * norms[prev[pairs]]
    ok = denom > 1e-9
    sim[pairs[ok]] = np.clip(dots[ok] / denom[ok], -1.0, 1.0)
    return sim


def micro_movement_index(similarity: np.ndarray, valid: np.ndarray, *, percentile: float = 95.0) -> float:
    """Clip-level index of how much the labial region moves (micro to full speech).

    Each valid frame pair's change is ``r = sqrt(2 * (1 - similarity))``, the RMS
    difference of the two unit-normalised crops (0 = identical, 1.41 = uncorrelated). The
    index is a robust high percentile of ``r`` over the noise floor of the same clip:

    ``index = P{percentile}(r) / max(P10(r), MICRO_INDEX_MIN_CHANGE)``

    Scale: ~1 for a still face with camera noise (changes are all noise); it grows with
    the lip motion amplitude (roughly linearly for small motion, as ``r`` is proportional
    to the lips' speed); >= 2 means a motion clearly above the noise. The floor assumes
    the clip has some resting frames (pauses between words); during non-stop motion the
    index understates it. Frame-rate dependent (changes between consecutive frames).

    Parameters
    ----------
    similarity : np.ndarray [shape=(n_frames,)]
        From :func:`cosine_similarity_series`.
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
        ``track.detected``.
    percentile : float
        The high percentile, 50 to 100.

    Returns
    -------
    float
        >= 0; 0.0 when fewer than 3 valid frame pairs exist.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 1:
        raise InputError(f"similarity has shape {sim.shape}; pass the (n_frames,) series of cosine_similarity_series")
    valid = _check_valid(valid, sim.size)
    check_range("micro_movement_index", "percentile", float(percentile), 50.0, 100.0)
    if not np.isfinite(sim).all():
        raise InputError("similarity holds NaN or inf; pass the output of cosine_similarity_series (never NaN)")
    prev = _previous_valid(valid)
    pairs = valid & (prev >= 0)
    if pairs.sum() < 3:
        return 0.0
    r = np.sqrt(np.clip(2.0 * (1.0 - sim[pairs]), 0.0, 4.0))
    floor = max(float(np.percentile(r, 10.0)), MICRO_INDEX_MIN_CHANGE)
    return float(np.percentile(r, percentile) / floor)


# --------------------------------------------------------------------------------------
# optical flow


def flow_summary(crops: np.ndarray, valid: np.ndarray, *, timestamps_s: np.ndarray | None = None) -> np.ndarray:
    """Dense optical flow (OpenCV Farneback) of the labial crops, summarised per frame.

    Row ``i`` describes the motion from the previous valid frame to frame ``i``; it is 0
    where ``valid[i]`` is False or no earlier valid frame exists.

    Units: crop heights per frame, or crop heights per second when ``timestamps_s`` is
    given (divided by the time between the two frames). A crop height is
    ``(1 + 2 * margin) * aspect`` mouth widths (0.8 for the defaults). Image axes: y down.

    Columns (:data:`FLOW_FEATURES`):

    - ``mean_magnitude``: mean flow speed over the crop;
    - ``upper_vy`` / ``lower_vy``: mean vertical flow in the upper / lower half of the
      crop (the lips' up-down motion, positive = down);
    - ``opening``: ``lower_vy - upper_vy``, positive while the mouth opens, negative while
      it closes (a divergence of the vertical flow);
    - ``spread``: right-half minus left-half mean horizontal flow, positive while the
      mouth widens.

    Parameters
    ----------
    crops : np.ndarray [shape=(n_frames, h, w), dtype=float32]
        From :func:`labial_crops` (values in [0, 1]).
    valid : np.ndarray [shape=(n_frames,), dtype=bool]
    timestamps_s : np.ndarray [shape=(n_frames,)], optional
        Frame times; gives per-second units.

    Returns
    -------
    np.ndarray [shape=(n_frames, len(FLOW_FEATURES)), dtype=float32]
    """
    import cv2

    crops = _check_crops(crops)
    n, h, w = crops.shape
    valid = _check_valid(valid, n)
    t = _check_timestamps(timestamps_s, n) if timestamps_s is not None else None
    out = np.zeros((n, len(FLOW_FEATURES)), dtype=np.float32)
    prev = _previous_valid(valid)
    if crops.dtype == np.uint8:
        img8 = crops
    else:
        img8 = np.clip(crops * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # flow at half the crop resolution (area-averaged): 3x faster, same answers on synth
    fw, fh = (max(w // 2, 8), max(h // 2, 8)) if min(w, h) >= 16 else (w, h)
    small = img8
    if (fw, fh) != (w, h) and n:
        small = np.stack([cv2.resize(c, (fw, fh), interpolation=cv2.INTER_AREA) for c in img8])
    half = fh // 2
    mid = fw // 2
    winsize = max(5, (min(fw, fh) // 3) | 1)
    for i in np.flatnonzero(valid & (prev >= 0)):
        flow = cv2.calcOpticalFlowFarneback(small[prev[i]], small[i], None, 0.5, 1, winsize, 2, 5, 1.1, 0)
        vx = flow[..., 0]
        vy = flow[..., 1]
        upper = float(vy[:half].mean())
        lower = float(vy[half:].mean())
        out[i, 0] = float(np.sqrt(vx * vx + vy * vy).mean())
        out[i, 1] = upper
        out[i, 2] = lower
        out[i, 3] = lower - upper
        out[i, 4] = float(vx[:, mid:].mean() - vx[:, :mid].mean())
        scale = 1.0 / fh  # flow px -> crop heights
        if t is not None:
            scale /= float(t[i] - t[prev[i]])
        out[i] *= scale
    return out

