"""``extract_lip_features``: a tracked clip (and optionally its pixels) -> :class:`LipFeatures`."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError, InsufficientDataError
from lipauth.features.lip import SHAPE_FEATURES, shape_series
from lipauth.features.segment import motion_energy, segment_motion
from lipauth.types import LipFeatures, LipTrack, Video

__all__ = ["FeatureConfig", "extract_lip_features", "MIN_DETECTED_FRAMES"]

log = logging.getLogger(__name__)

#: fewest detected frames a track needs (a 5-frame Savitzky-Golay fit plus derivatives)
MIN_DETECTED_FRAMES = 5


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of :func:`extract_lip_features` (validated once, on construction).

    Attributes
    ----------
    smooth_window_s : float
        Savitzky-Golay window of the shape smoothing (0.1 s: 3 frames at 25-30 fps would
        be too short for a quadratic fit, so at least 5 frames are used; a syllable's
        opening lasts 0.1-0.3 s and keeps its onset).
    max_gap_s : float
        Longest run of undetected frames bridged by interpolation and still ``valid``.
    energy_window_s : float
        Moving-mean window of the motion energy (see ``segment.motion_energy``).
    k_high, k_low : float
        Hysteresis thresholds of the segmentation as multiples of the clip's noise floor
        (10th percentile of the motion energy). Tuned on the first 50 GRID s1
        clips (sorted by name) and synthetic clips (amplitude 0.1-1, noisy still faces).
    min_high, min_low : float
        Absolute lower bounds of the two thresholds, face units per second (same tuning).
    min_duration_s : float
        Shorter movement segments are dropped.
    min_gap_s : float
        Segments closer than this are merged (pauses inside a word or between syllables).
    normal_amplitude : float
        Face units (outer-eye-corner distance): a segment whose articulation amplitude
        (robust range of the inner-lip opening, ``segment.articulation_amplitude``)
        reaches it is ``normal`` speech-like movement, below it ``micro``. 0.04: GRID s1
        speech segments measure 0.079-0.17 (every 5th clip), the hand-held phone replay
        at most 0.026, synthetic speech at 10 % amplitude about 0.02.
    crop_width_px, crop_height_px : int
        Size of the labial crops (appearance features, video only).
    hist_window_s, hist_hop_s : float
        Window and hop of the spatio-temporal gradient histograms (video only).
    """

    smooth_window_s: float = 0.1
    max_gap_s: float = 0.25
    energy_window_s: float = 0.17
    k_high: float = 3.0
    k_low: float = 2.0
    min_high: float = 0.1
    min_low: float = 0.04
    min_duration_s: float = 0.1
    min_gap_s: float = 0.3
    normal_amplitude: float = 0.04
    crop_width_px: int = 64
    crop_height_px: int = 32
    hist_window_s: float = 0.4
    hist_hop_s: float = 0.2

    def __post_init__(self) -> None:
        check_range("FeatureConfig", "smooth_window_s", self.smooth_window_s, 0.0, 1.0)
        check_range("FeatureConfig", "max_gap_s", self.max_gap_s, 0.0, 5.0)
        check_range("FeatureConfig", "energy_window_s", self.energy_window_s, 0.0, 2.0)
        check_range("FeatureConfig", "k_high", self.k_high, 1.0, 1000.0)
        check_range("FeatureConfig", "k_low", self.k_low, 0.0, self.k_high)
        check_range("FeatureConfig", "min_high", self.min_high, 0.0, 100.0)
        check_range("FeatureConfig", "min_low", self.min_low, 0.0, self.min_high)
        check_range("FeatureConfig", "min_duration_s", self.min_duration_s, 0.0, 10.0)
        check_range("FeatureConfig", "min_gap_s", self.min_gap_s, 0.0, 10.0)
        check_range("FeatureConfig", "normal_amplitude", self.normal_amplitude, 0.0, 1.0)
        check_range("FeatureConfig", "crop_width_px", self.crop_width_px, 8, 512)
        check_range("FeatureConfig", "crop_height_px", self.crop_height_px, 8, 512)
        check_range("FeatureConfig", "hist_window_s", self.hist_window_s, 0.04, 10.0)
        check_range("FeatureConfig", "hist_hop_s", self.hist_hop_s, 0.01, 10.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _appearance(video: Video, track: LipTrack, valid: np.ndarray, config: FeatureConfig) -> dict[str, Any]:
    from lipauth.features import appearance as ap
    from lipauth.features import histograms as hi

    t = np.asarray(track.timestamps_s, dtype=np.float64)
    detected = np.asarray(track.detected, dtype=bool)
    crops = ap.labial_crops(video, track, size=(config.crop_width_px, config.crop_height_px))
    sim = ap.cosine_similarity_series(crops, detected)
    flow = ap.flow_summary(crops, detected, timestamps_s=t)
    desc, centres = hi.spatiotemporal_histograms(
        crops, t, detected, window_s=config.hist_window_s, hop_s=config.hist_hop_s
    )
    return {
        "similarity": np.asarray(sim, dtype=np.float32),
        "micro_movement_index": float(ap.micro_movement_index(sim, detected)),
        "flow": np.asarray(flow, dtype=np.float32),
        "flow_names": tuple(ap.FLOW_FEATURES),
        "histograms": np.asarray(desc, dtype=np.float32),
        "histogram_times_s": np.asarray(centres, dtype=np.float64),
    }


def _empty_appearance() -> dict[str, Any]:
    from lipauth.features.appearance import FLOW_FEATURES

    return {
        "similarity": np.zeros(0, dtype=np.float32),
        "micro_movement_index": float("nan"),
        "flow": np.zeros((0, len(FLOW_FEATURES)), dtype=np.float32),
        "flow_names": tuple(FLOW_FEATURES),
        "histograms": np.zeros((0, 0), dtype=np.float32),
        "histogram_times_s": np.zeros(0, dtype=np.float64),
    }


def extract_lip_features(
    track: LipTrack, video: Video | None = None, *, config: FeatureConfig | None = None
) -> LipFeatures:
    """Lip-motion features of a tracked clip.

    Parameters
    ----------
    track : LipTrack
        From :func:`lipauth.tracking.track_lips`.
    video : Video, optional
        The same clip's frames (eager or lazy). Needed for the appearance features
        (labial crops, cosine similarity, micro-movement index, optical flow,
        spatio-temporal histograms), which are also fused into the motion energy. Without
        it those fields are empty (0 rows, documented widths; the histogram width is 0
        since it depends on the crops) and ``micro_movement_index`` is NaN; shape, motion
        energy and segments come from the landmarks alone.
    config : FeatureConfig, optional

    Returns
    -------
    LipFeatures

    Raises
    ------
    InsufficientDataError
        Fewer than :data:`MIN_DETECTED_FRAMES` frames with a detected face.
    InputError
        ``track`` is not a LipTrack, or ``video`` has a different frame count.
    """
    if not isinstance(track, LipTrack):
        raise InputError(f"track is a {type(track).__name__}, not a LipTrack; pass the result of track_lips(video)")
    cfg = config if config is not None else FeatureConfig()
    n_detected = int(np.count_nonzero(track.detected))
    if n_detected < MIN_DETECTED_FRAMES:
        raise InsufficientDataError(
            f"track has {n_detected} frame(s) with a detected face; lip features need at least "
            f"{MIN_DETECTED_FRAMES}: pass a longer clip with the face visible"
        )
    if video is not None and video.n_frames != track.n_frames:
        raise InputError(
            f"video has {video.n_frames} frames but the track has {track.n_frames}; pass the video the track was made from"
        )
    t = np.asarray(track.timestamps_s, dtype=np.float64)
    series = shape_series(track, smooth_window_s=cfg.smooth_window_s, max_gap_s=cfg.max_gap_s)
    if video is not None:
        app = _appearance(video, track, series.valid, cfg)
        channels = [1.0 - app["similarity"].astype(np.float64), app["flow"][:, 0].astype(np.float64)]
    else:
        app = _empty_appearance()
        channels = []
    energy = motion_energy(series.velocity, series.valid, t, appearance=channels, window_s=cfg.energy_window_s)
    segments = segment_motion(
        energy,
        t,
        series.shape,
        series.valid,
        k_high=cfg.k_high,
        k_low=cfg.k_low,
        min_high=cfg.min_high,
        min_low=cfg.min_low,
        min_duration_s=cfg.min_duration_s,
        min_gap_s=cfg.min_gap_s,
        normal_amplitude=cfg.normal_amplitude,
    )
    log.debug("lip features: %d frames, %d segments", t.size, len(segments))
    return LipFeatures(
        timestamps_s=t.copy(),
        valid=series.valid,
        shape=series.shape,
        velocity=series.velocity,
        acceleration=series.acceleration,
        motion_energy=energy.astype(np.float32),
        shape_names=SHAPE_FEATURES,
        segments=tuple(tuple(s) for s in segments),
        config=cfg.to_dict(),
        landmarks=filled_landmarks(track),
        **app,
    )


def filled_landmarks(track: LipTrack) -> np.ndarray:
    """``track.landmarks_norm`` with gaps filled (:func:`fill_landmark_gaps`)."""
    return fill_landmark_gaps(track.timestamps_s, track.landmarks_norm)


def fill_landmark_gaps(timestamps_s: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Landmarks with frames holding NaN filled by linear interpolation in time (edges held).

    Parameters
    ----------
    timestamps_s : np.ndarray [shape=(n_frames,)]
    landmarks : np.ndarray [shape=(n_frames, n_points, 2)]

    Returns
    -------
    np.ndarray [shape=(n_frames, n_points, 2), dtype=float32]
        All zeros when no frame has landmarks.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    flat = lm.reshape(lm.shape[0], -1)
    ok = np.isfinite(flat).all(axis=1)
    if not ok.any():
        return np.zeros(lm.shape, np.float32)
    t = np.asarray(timestamps_s, dtype=np.float64)
    out = flat.copy()
    if not ok.all():
        for j in range(flat.shape[1]):
            out[:, j] = np.interp(t, t[ok], flat[ok, j])
    return out.reshape(lm.shape).astype(np.float32)
