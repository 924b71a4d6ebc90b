"""Lip-motion features from a LipTrack (and the video): shape, appearance, flow, histograms.

``extract_lip_features(track, video=None, *, config=None) -> LipFeatures`` composes them;
the stages are plain functions in :mod:`lipauth.features.lip` (shape),
:mod:`lipauth.features.segment` (movement segmentation),
:mod:`lipauth.features.appearance` and :mod:`lipauth.features.histograms` (pixels).
"""

from __future__ import annotations

from lipauth.features.extract import MIN_DETECTED_FRAMES, FeatureConfig, extract_lip_features
from lipauth.features.lip import LENGTH_FEATURES, SHAPE_FEATURES, shape_from_landmarks, shape_series
from lipauth.features.segment import MotionSegment, motion_energy, noise_floor, segment_motion

__all__ = [
    "extract_lip_features",
    "FeatureConfig",
    "MIN_DETECTED_FRAMES",
    "SHAPE_FEATURES",
    "LENGTH_FEATURES",
    "shape_from_landmarks",
    "shape_series",
    "MotionSegment",
    "motion_energy",
    "noise_floor",
    "segment_motion",
]
