"""Lip features on real media (../shared/data): GRID s1 speech segments, spoof clips.

GRID s1 protocol: clips sorted by name; the first 50 were used to choose the
segmentation defaults of ``FeatureConfig``, the F1 asserted here is measured on the other
50 (frame level: a frame is speech when inside a non-``sil`` word of the ``.align`` file).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import shared_path
from lipauth.features import extract_lip_features

log = logging.getLogger(__name__)

pytestmark = pytest.mark.realdata

#: "speech-like" lip motion: a normal-amplitude movement segment lasting at least this
#: long (one spoken syllable with its opening and closing takes >= 0.25 s; GRID words
#: 0.2-0.6 s)
SPEECH_LIKE_MIN_S = 0.25


@pytest.fixture(scope="module")
def grid_tracks():  # noqa: ANN201
    from lipauth.io import load_align
    from lipauth.tracking import track_lips
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    videos = sorted(shared_path("grid_s1", "video").glob("*.mpg"))[:100]
    backend = MediaPipeBackend()
    out = []
    try:
        for path in videos:
            align = shared_path("grid_s1", "align", path.stem + ".align")
            out.append((path.stem, track_lips(path, backend=backend), load_align(align)))
    finally:
        backend.close()
    return out


def _f1(items) -> float:  # noqa: ANN001
    tp = fp = fn = 0
    for _, track, align in items:
        feats = extract_lip_features(track)
        t = feats.timestamps_s
        truth = align.speech_mask(t)
        found = np.zeros(t.shape, dtype=bool)
        for start, end, _label, _peak in feats.segments:
            found |= (t >= start) & (t < end)
        tp += int((truth & found).sum())
        fp += int((~truth & found).sum())
        fn += int((truth & ~found).sum())
    return 2 * tp / max(1, 2 * tp + fp + fn)


def test_grid_segments_match_speech(grid_tracks) -> None:  # noqa: ANN001
    tune, held_out = grid_tracks[:50], grid_tracks[50:]
    f1_tune, f1_test = _f1(tune), _f1(held_out)
    log.warning("GRID s1 frame-level F1: tuning half %.3f, held-out half %.3f", f1_tune, f1_test)
    assert len(held_out) >= 40
    assert f1_test >= 0.8, f1_test


def test_grid_speech_is_speech_like_in_every_clip(grid_tracks) -> None:  # noqa: ANN001
    """The counterpart of the replay/still tests below: real speech is labelled speech-like."""
    missing = [name for name, track, _ in grid_tracks if not _speech_like(extract_lip_features(track))]
    assert missing == []


def _speech_like(feats) -> list:  # noqa: ANN001
    return [s for s in feats.segments if s[2] == "normal" and s[1] - s[0] >= SPEECH_LIKE_MIN_S]


def test_phone_replay_shows_no_speech_like_motion() -> None:
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    video = load_video(shared_path("spoof", "phone_replay.mp4"))
    track = track_lips(video)
    feats = extract_lip_features(track, video)
    assert _speech_like(feats) == [], feats.segments


@pytest.mark.parametrize("name", ["photo_attack_1.jpg", "photo_attack_2.jpg", "live_face.jpg"])
def test_stills_as_clips_show_no_speech_like_motion(name: str) -> None:
    import cv2

    from lipauth.tracking import track_lips
    from lipauth.types import Video

    path = shared_path("spoof", name)
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    n = 75  # 3 s at 25 fps, slight sensor noise
    frames = np.clip(image[None].astype(np.int16) + rng.normal(0, 2.0, (n, *image.shape)).astype(np.int16), 0, 255)
    video = Video(
        frames=frames.astype(np.uint8),
        timestamps_s=np.arange(n) / 25.0,
        width=image.shape[1],
        height=image.shape[0],
        nominal_fps=25.0,
        measured_fps=25.0,
        source=name,
    )
    track = track_lips(video)
    feats = extract_lip_features(track, video)
    assert _speech_like(feats) == [], feats.segments
