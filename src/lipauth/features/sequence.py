"""Sequence representation of an utterance and alignment-based (DTW) distances between them.

Shared by the personal lip commands (:mod:`lipauth.checks.commands`) and the lip password.

Representation (:func:`utterance_sequence`): one row per valid frame, the concatenation of

- **appearance**: HOG of the aligned labial crop (``features.appearance.labial_crops``) and
  the crop's pixels downsampled by ``pixel_downsample``;
- **landmarks**: the pose-normalised lip landmarks (``LipTrack.landmarks_norm``, 80 numbers);
- optionally the **shape** features and their velocities (``LipFeatures.shape``/``velocity``),
  robust z-scored per column.

Every channel is normalised **per take**: its mean over the utterance is removed (the
neutral mouth and the person's look) and it is divided by its root-mean-square deviation
(the take's range of motion), so a whisper-sized movement and a full one give the same
sequence. Then each channel is multiplied by its weight. The per-channel RMS is over the
whole channel (not per column), so the relative geometry of a movement is kept.

Distance (:func:`dtw_distance`): dynamic time warping over squared Euclidean frame
distances inside a Sakoe-Chiba band (relative to the two lengths), normalised by the
path-length bound ``n + m`` so that long and short takes compare.

Measured on MIRACL-VC1 F01 (6 phrases x 10 takes, 3 enrolment takes, 1-NN over
20 random splits, ``benchmarks/accuracy_commands.py``): landmarks alone 80 %, shape +
velocity 65-69 %, HOG alone 93 %, HOG + downsampled pixels 96 %, + landmarks (weight 0.3)
96 % (98.5 % with 5 takes). A band of 0.15 lost 4 points against 0.5; PCA or whitening
of the appearance fitted on the enrolment takes did not help.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError, InsufficientDataError
from lipauth.types import LipFeatures, LipTrack

__all__ = [
    "dtw_path",
    "SequenceConfig",
    "robust_zscore",
    "normalise_channel",
    "appearance_frames",
    "utterance_sequence",
    "utterance_frames",
    "dtw_distance",
    "dtw_distances",
    "channel_slices",
]

_EPS = 1e-9
_WEIGHTS = ("hog_weight", "pixel_weight", "landmark_weight", "shape_weight", "jaw_weight", "deep_weight")
#: columns of the jaw channel (25 points x, y: ``features.contour.jaw_contour_frames``)
JAW_COLUMNS = 50


@dataclass(frozen=True)
class SequenceConfig:
    """Settings of :func:`utterance_sequence` and :func:`dtw_distance`.

    Attributes
    ----------
    hog_weight, pixel_weight, landmark_weight, shape_weight : float
        Weights of the channels (0 drops one). Defaults chosen on MIRACL-VC1 F01 with
        3-take random splits (module docstring).
    jaw_weight : float
        Weight of the jaw-contour geometry channel (``features.contour.jaw_contour_frames``:
        25 chin / jaw-line / lower face-oval points aligned on the upper face; needs a track
        with ``contour_xyz``). 0 by default (the lip password); the lip commands turn it on.
    deep_weight : float
        Weight of the two deep lip channels (``features.deep``: feature maps of the face-mesh
        network that ships in mediapipe; need ``deep=`` in :func:`utterance_sequence`). 0 by
        default (the lip password); the lip commands turn them on.
    pixel_downsample : int
        Factor by which the crops are downsampled (area average) for the pixel channel.
    hog_cell_px : int
        HOG cell size in crop pixels (blocks of 2x2 cells, 9 orientations).
    band : float
        Sakoe-Chiba band half-width as a fraction of the sequence length (0.05 to 1; 1 =
        unconstrained). 0.5 measured on MIRACL F01 (0.15 lost 4 points).
    open_end : float
        Fraction of each take that DTW may leave unmatched at either end (see
        :func:`dtw_distance`); 0.2 measured on MIRACL F01 (+1 point over 0 with 3 takes,
        0.35 lost it again: some takes there are cut inside the phrase).
    margin_s : float
        Seconds kept around a movement segment when an utterance is cut from a longer clip.
        0: the segment's edges are already ~0.1 s wide of the movement (the motion energy is
        smoothed); 0.15 raised the DTW distance of three MIRACL takes cut from a long clip
        by 15-30 % (more still frames than in the enrolled takes).
    """

    hog_weight: float = 1.0
    pixel_weight: float = 2.0
    landmark_weight: float = 0.3
    shape_weight: float = 0.0
    jaw_weight: float = 0.0
    deep_weight: float = 0.0
    pixel_downsample: int = 2
    hog_cell_px: int = 8
    band: float = 0.5
    open_end: float = 0.2
    margin_s: float = 0.0

    def __post_init__(self) -> None:
        for name in _WEIGHTS:
            check_range("SequenceConfig", name, getattr(self, name), 0.0, 100.0)
        if sum(getattr(self, name) for name in _WEIGHTS) <= 0:
            raise InputError("SequenceConfig has every channel weight at 0; give at least one channel a weight > 0")
        check_range("SequenceConfig", "pixel_downsample", self.pixel_downsample, 1, 16)
        check_range("SequenceConfig", "hog_cell_px", self.hog_cell_px, 2, 64)
        check_range("SequenceConfig", "band", self.band, 0.05, 1.0)
        check_range("SequenceConfig", "open_end", self.open_end, 0.0, 0.45)
        check_range("SequenceConfig", "margin_s", self.margin_s, 0.0, 5.0)

    @property
    def needs_crops(self) -> bool:
        return self.hog_weight > 0 or self.pixel_weight > 0

    @property
    def needs_deep(self) -> bool:
        return self.deep_weight > 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequenceConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def robust_zscore(values: np.ndarray) -> np.ndarray:
    """Per-column robust z-score: minus the median, over the 10-90 percentile range.

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames, n_columns)]

    Returns
    -------
    np.ndarray [shape=(n_frames, n_columns), dtype=float64]
        Columns that do not move (range below 1e-9) are left at 0.
    """
    x = np.asarray(values, dtype=np.float64)
    med = np.median(x, axis=0)
    spread = np.percentile(x, 90, axis=0) - np.percentile(x, 10, axis=0)
    return np.where(spread > _EPS, (x - med) / np.maximum(spread, _EPS), 0.0)


def normalise_channel(values: np.ndarray) -> np.ndarray:
    """Remove a take's mean frame and divide by its RMS deviation (its range of motion).

    Parameters
    ----------
    values : np.ndarray [shape=(n_frames, d)]

    Returns
    -------
    np.ndarray [shape=(n_frames, d), dtype=float64]
        Zero mean over frames, mean squared row norm 1 (all zeros for a still take).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean(axis=0)
    rms = float(np.sqrt((x**2).sum(axis=1).mean())) if x.size else 0.0
    return x / rms if rms > _EPS else np.zeros_like(x)


def appearance_frames(crops: np.ndarray, *, config: SequenceConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """HOG and downsampled pixels of each labial crop (not yet normalised).

    Parameters
    ----------
    crops : np.ndarray [shape=(n_frames, h, w), dtype=float32]
        Aligned crops in [0, 1] (``labial_crops`` or ``LabialCropper``).
    config : SequenceConfig, optional

    Returns
    -------
    hog : np.ndarray [shape=(n_frames, n_hog), dtype=float64]
    pixels : np.ndarray [shape=(n_frames, (h // k) * (w // k)), dtype=float64]
    """
    import cv2

    cfg = config or SequenceConfig()
    c = np.asarray(crops, dtype=np.float32)
    if c.ndim != 3 or c.shape[1] < 2 * cfg.hog_cell_px or c.shape[2] < 2 * cfg.hog_cell_px:
        raise InputError(
            f"crops have shape {c.shape}; pass (n_frames, h, w) crops at least {2 * cfg.hog_cell_px} px each way"
        )
    cell = cfg.hog_cell_px
    win_h, win_w = c.shape[1] // cell * cell, c.shape[2] // cell * cell  # whole cells only
    # OpenCV's HOG (L2-Hys blocks of 2x2 cells, stride one cell, 9 unsigned orientations):
    # 30x faster than skimage.feature.hog with the same layout and the same accuracy on
    # MIRACL F01 (commands 95.5 / 97.0 % vs 95.7 / 97.4 % with 3 / 5 takes, 30 splits).
    descriptor = cv2.HOGDescriptor((win_w, win_h), (2 * cell, 2 * cell), (cell, cell), (cell, cell), 9)
    frames_u8 = (np.clip(c[:, :win_h, :win_w], 0.0, 1.0) * 255.0).astype(np.uint8)
    hogs = [descriptor.compute(np.ascontiguousarray(f)).ravel() for f in frames_u8]
    k = cfg.pixel_downsample
    size = (max(c.shape[2] // k, 1), max(c.shape[1] // k, 1))
    pix = [cv2.resize(f, size, interpolation=cv2.INTER_AREA).ravel() for f in c]
    n_hog = len(hogs[0]) if hogs else 0
    return (
        np.asarray(hogs, dtype=np.float64).reshape(len(c), n_hog),
        np.asarray(pix, dtype=np.float64).reshape(len(c), size[0] * size[1]),
    )


def utterance_frames(features: LipFeatures, start_s: float | None = None, end_s: float | None = None) -> np.ndarray:
    """Indices of the valid frames in ``[start_s, end_s)`` (the whole clip by default).

    Returns
    -------
    np.ndarray [shape=(n_selected,), dtype=int64]
    """
    t = features.timestamps_s
    keep = np.asarray(features.valid, dtype=bool).copy()
    if start_s is not None:
        keep &= t >= start_s
    if end_s is not None:
        keep &= t < end_s
    return np.flatnonzero(keep)


def utterance_sequence(
    track: LipTrack,
    features: LipFeatures,
    crops: np.ndarray | None = None,
    *,
    frames: np.ndarray | None = None,
    config: SequenceConfig | None = None,
    deep: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The per-take normalised feature sequence of one utterance.

    Parameters
    ----------
    track : LipTrack
    features : LipFeatures
        ``extract_lip_features(track, video)`` (same frames as ``track``).
    crops : np.ndarray [shape=(n_frames, h, w)], optional
        Labial crops of the same frames; needed when the HOG or pixel weight is > 0.
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        Frame indices of the utterance (:func:`utterance_frames`); default every valid frame.
    config : SequenceConfig, optional
    deep : dict of str to np.ndarray [shape=(n_frames, width)], optional
        ``features.deep.deep_lip_frames(video, track)``; needed when ``deep_weight`` > 0.

    Returns
    -------
    np.ndarray [shape=(n_selected, d), dtype=float32]
        Rows in time order; ``d`` depends on the config and the crop size. Columns: HOG,
        pixels, landmarks, shape, jaw, deep_early, deep_lips (those with a weight > 0).

    Raises
    ------
    InputError
        Crops, deep maps or the track's contour missing while needed, or frame counts that
        differ.
    InsufficientDataError
        Fewer than 3 frames selected.
    """
    cfg = config or SequenceConfig()
    n = track.n_frames
    if features.n_frames != n:
        raise InputError(f"features have {features.n_frames} frames but the track has {n}; pass the features of this track")
    idx = utterance_frames(features) if frames is None else np.asarray(frames, dtype=np.int64)
    if idx.size < 3:
        raise InsufficientDataError(
            f"utterance has {idx.size} usable frame(s); a command needs at least 3: record a longer take with the face visible"
        )
    parts: list[np.ndarray] = []
    if cfg.needs_crops:
        if crops is None:
            raise InputError("crops are needed for the HOG/pixel channels; pass labial_crops(video, track) or set their weights to 0")
        c = np.asarray(crops)
        if c.shape[0] != n:
            raise InputError(f"crops have {c.shape[0]} frames but the track has {n}; pass the crops of this track")
        hogs, pix = appearance_frames(c[idx], config=cfg)
        if cfg.hog_weight > 0:
            parts.append(cfg.hog_weight * normalise_channel(hogs))
        if cfg.pixel_weight > 0:
            parts.append(cfg.pixel_weight * normalise_channel(pix))
    if cfg.landmark_weight > 0:
        lm = np.asarray(track.landmarks_norm, dtype=np.float64)[idx].reshape(idx.size, -1)
        lm = np.where(np.isfinite(lm), lm, np.nanmean(lm, axis=0) if np.isfinite(lm).any() else 0.0)
        parts.append(cfg.landmark_weight * normalise_channel(lm))
    if cfg.shape_weight > 0:
        sv = np.concatenate([robust_zscore(features.shape[idx]), robust_zscore(features.velocity[idx])], axis=1)
        parts.append(cfg.shape_weight * normalise_channel(sv))
    if cfg.jaw_weight > 0:
        from lipauth.features.contour import jaw_contour_frames

        parts.append(cfg.jaw_weight * normalise_channel(jaw_contour_frames(track, frames=idx)))
    if cfg.deep_weight > 0:
        from lipauth.features.deep import DEEP_CHANNELS

        if deep is None or any(name not in deep for name in DEEP_CHANNELS):
            raise InputError("deep lip maps are needed (deep_weight > 0); pass deep=deep_lip_frames(video, track)")
        for name in DEEP_CHANNELS:
            d = np.asarray(deep[name])
            if d.ndim != 2 or d.shape[0] != n:
                raise InputError(f"deep[{name!r}] has shape {d.shape}; pass deep_lip_frames of this track ({n} frames)")
            parts.append(cfg.deep_weight * normalise_channel(d[idx]))
    return np.concatenate(parts, axis=1).astype(np.float32)


def _check_seq(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise InputError(f"{name} has shape {a.shape}; pass a (n_frames, d) sequence with at least one frame")
    if not np.isfinite(a).all():
        raise InputError(f"{name} holds NaN or inf; pass a finite sequence (utterance_sequence)")
    return a


def _frame_costs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every frame of ``x`` to every frame of ``y`` [(n, m)]."""
    cost = (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * x @ y.T
    return np.maximum(cost, 0.0, out=cost)


def dtw_path(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """The optimal unconstrained DTW alignment path between two sequences.

    Used to pair frames of takes of the same movement (e.g. to train the password metric).

    Parameters
    ----------
    a : np.ndarray [shape=(n, d)]
    b : np.ndarray [shape=(m, d)]

    Returns
    -------
    list of (i, j)
        Index pairs from ``(0, 0)`` to ``(n - 1, m - 1)``.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    n, m = len(x), len(y)
    cost = _frame_costs(x, y)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return path[::-1]


def dtw_distance(a: np.ndarray, b: np.ndarray, *, band: float = 0.5, open_end: float = 0.0) -> float:
    """Length-normalised DTW distance between two sequences.

    Parameters
    ----------
    a : np.ndarray [shape=(n, d)]
    b : np.ndarray [shape=(m, d)]
    band : float
        Sakoe-Chiba half-width as a fraction of the lengths: cell ``(i, j)`` is allowed when
        ``|i / (n - 1) - j / (m - 1)| <= band`` (plus one cell, so a path always exists).
    open_end : float
        Fraction of each sequence (0 to 0.45) that may be left unmatched at its start and at
        its end (open-begin/open-end DTW): takes cut a little early or late by the recorder
        still match. 0 = classic DTW from first to last frames.

    Returns
    -------
    float
        Sum of squared Euclidean frame distances along the best path, divided by the
        number of frames the path spans in both sequences (``n + m`` without open ends);
        0 for identical sequences, symmetric in ``a`` and ``b``.

    Raises
    ------
    InputError
        Not 2-D, empty, NaN, or different widths ``d``.
    """
    x = _check_seq(a, "a")
    y = _check_seq(b, "b")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"sequences have {x.shape[1]} and {y.shape[1]} columns; compare sequences built with the same config")
    check_range("dtw_distance", "band", band, 0.0, 1.0)
    check_range("dtw_distance", "open_end", open_end, 0.0, 0.45)
    n, m = x.shape[0], y.shape[0]
    cost = _frame_costs(x, y)
    fi = np.arange(n)[:, None] / max(n - 1, 1)
    fj = np.arange(m)[None, :] / max(m - 1, 1)
    slack = 1.0 / max(min(n, m) - 1, 1)
    cost = np.where(np.abs(fi - fj) <= band + slack, cost, np.inf)
    # Skewed layout: row k of ``acc`` is the anti-diagonal i + j = k indexed by i, so the
    # three predecessors of a diagonal are contiguous slices of the two before it (one
    # slice operation per diagonal instead of fancy indexing: 8x faster for closed ends).
    n_diag = n + m
    skew_cost = np.full((n_diag + 1, n + 1), np.inf)
    ii, jj = np.meshgrid(np.arange(1, n + 1), np.arange(1, m + 1), indexing="ij")
    skew_cost[(ii + jj).ravel(), ii.ravel()] = cost.ravel()
    acc = np.full((n_diag + 1, n + 1), np.inf)
    skip_n, skip_m = int(open_end * n), int(open_end * m)
    rows = np.arange(skip_n + 1)
    cols = np.arange(skip_m + 1)
    acc[rows, rows] = 0.0  # acc[i, 0] = 0 for i <= skip_n (open begin in a)
    acc[cols, 0] = 0.0  # acc[0, j] = 0 for j <= skip_m (open begin in b)
    open_ends = skip_n > 0 or skip_m > 0
    if open_ends:
        start = np.zeros((n_diag + 1, n + 1))  # i0 + j0 of each cell's path start
        start[rows, rows] = rows
        start[cols, 0] = cols
    for k in range(2, n_diag + 1):
        lo, hi = max(1, k - m), min(n, k - 1) + 1
        diag, up, left = acc[k - 2, lo - 1 : hi - 1], acc[k - 1, lo - 1 : hi - 1], acc[k - 1, lo:hi]
        if open_ends:
            cand = np.stack([diag, up, left])
            pick = cand.argmin(axis=0)
            cells = np.arange(hi - lo)
            acc[k, lo:hi] = skew_cost[k, lo:hi] + cand[pick, cells]
            prev = np.stack([start[k - 2, lo - 1 : hi - 1], start[k - 1, lo - 1 : hi - 1], start[k - 1, lo:hi]])
            start[k, lo:hi] = prev[pick, cells]
        else:
            acc[k, lo:hi] = skew_cost[k, lo:hi] + np.minimum(np.minimum(diag, up), left)
    if not open_ends:
        return float(acc[n_diag, n] / n_diag)
    ends_i = np.concatenate([np.full(skip_m + 1, n), np.arange(n - skip_n, n)])
    ends_j = np.concatenate([np.arange(m - skip_m, m + 1), np.full(skip_n, m)])
    spans = ends_i + ends_j - start[ends_i + ends_j, ends_i]
    return float(np.min(acc[ends_i + ends_j, ends_i] / np.maximum(spans, 1.0)))


def dtw_distances(
    queries: list[np.ndarray], templates: list[np.ndarray], *, band: float = 0.5, open_end: float = 0.0
) -> np.ndarray:
    """DTW distance of every query to every template.

    Returns
    -------
    np.ndarray [shape=(len(queries), len(templates)), dtype=float64]
    """
    out = np.zeros((len(queries), len(templates)))
    for qi, q in enumerate(queries):
        for ti, t in enumerate(templates):
            out[qi, ti] = dtw_distance(q, t, band=band, open_end=open_end)
    return out


def channel_slices(config: SequenceConfig, *, width: int, crop_size: tuple[int, int] = (64, 32)) -> dict[str, slice]:
    """Column blocks of an :func:`utterance_sequence` row, by channel.

    Used to compare the channels by separate DTW alignments (late fusion,
    ``CommandsConfig.fusion_weights``).

    Parameters
    ----------
    config : SequenceConfig
        The config the sequence was built with.
    width : int
        The sequence's number of columns ``d``.
    crop_size : (int, int)
        (width, height) in pixels of the labial crops (``labial_crops`` default (64, 32)).

    Returns
    -------
    dict of str to slice
        ``"hog"``, ``"pixels"`` (when their weights are > 0), ``"rest"`` (landmarks and
        shape features, when either weight is > 0), ``"jaw"`` and ``"deep_early"``,
        ``"deep_lips"`` (when their weights are > 0), in column order.

    Raises
    ------
    InputError
        ``width`` does not fit the config and crop size.
    """
    w, h = (int(v) for v in crop_size)
    cell = config.hog_cell_px
    n_hog = max(h // cell - 1, 0) * max(w // cell - 1, 0) * 36 if config.hog_weight > 0 else 0
    k = config.pixel_downsample
    n_pix = max(w // k, 1) * max(h // k, 1) if config.pixel_weight > 0 else 0
    has_rest = config.landmark_weight > 0 or config.shape_weight > 0
    tail: list[tuple[str, int]] = [("jaw", JAW_COLUMNS)] if config.jaw_weight > 0 else []
    if config.deep_weight > 0:
        from lipauth.features.deep import DEEP_CHANNELS, DEEP_WIDTHS

        tail += [(name, DEEP_WIDTHS[name]) for name in DEEP_CHANNELS]
    n_tail = sum(k for _, k in tail)
    n_rest = width - n_hog - n_pix - n_tail
    if n_rest < 0 or (n_rest > 0) != has_rest:
        raise InputError(
            f"sequence has {width} columns, which does not fit {n_hog} HOG + {n_pix} pixel columns of {w}x{h} crops "
            f"+ {n_tail} jaw / deep columns; pass the config and crop size the sequence was built with"
        )
    out: dict[str, slice] = {}
    if n_hog:
        out["hog"] = slice(0, n_hog)
    if n_pix:
        out["pixels"] = slice(n_hog, n_hog + n_pix)
    start = n_hog + n_pix + n_rest
    if has_rest:
        out["rest"] = slice(n_hog + n_pix, start)
    for name, k in tail:
        out[name] = slice(start, start + k)
        start += k
    return out
