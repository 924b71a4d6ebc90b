"""Deep lip maps from the face-mesh network shipped in mediapipe (lipauth.features.deep)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipauth.errors import InputError
from lipauth.features.deep import DEEP_CHANNELS, DEEP_WIDTHS, DeepLipEncoder, deep_lip_frames, face_model_path
from lipauth.synth import make_talking_clip
from lipauth.tracking import track_lips


@pytest.fixture(scope="module")
def clip():
    """Closed mouth for 0.5 s, wide open for 0.5 s, closed again: 15 fps, 1.5 s."""
    opening = np.r_[np.zeros(8), np.full(7, 0.9), np.zeros(8)]
    synth = make_talking_clip(opening=opening, duration_s=len(opening) / 15, fps=15, size=(320, 240), face_width_px=110, audio=None)
    video = synth.to_video()
    return synth, video, track_lips(video)


@pytest.fixture(scope="module")
def maps(clip):
    synth, video, track = clip
    return deep_lip_frames(video, track)


def test_model_ships_with_mediapipe():
    path = face_model_path()
    assert path.name == "face_landmark_with_attention.tflite" and path.stat().st_size > 1_000_000


def test_shapes_and_rows(clip, maps):
    synth, video, track = clip
    assert set(maps) == set(DEEP_CHANNELS)
    for name in DEEP_CHANNELS:
        m = maps[name]
        assert m.shape == (track.n_frames, DEEP_WIDTHS[name]) and m.dtype == np.float32
        assert np.isfinite(m).all()
        assert (np.abs(m[track.detected]).sum(axis=1) > 0).all()


def test_maps_follow_the_mouth(clip, maps):
    """Two closed-mouth frames are closer than a closed and an open one, in both channels."""
    synth, video, track = clip
    closed_a, closed_b, open_ = 2, 20, 11
    assert synth.opening[open_] > 0.8 and synth.opening[closed_a] == 0 and synth.opening[closed_b] == 0
    for name in DEEP_CHANNELS:
        m = maps[name].astype(np.float64)
        same = np.linalg.norm(m[closed_a] - m[closed_b])
        differ = np.linalg.norm(m[closed_a] - m[open_])
        assert differ > 2.0 * same, (name, same, differ)


def test_deterministic_and_selected_frames_only(clip, maps):
    synth, video, track = clip
    again = deep_lip_frames(video, track, frames=np.array([3, 11]))
    for name in DEEP_CHANNELS:
        np.testing.assert_allclose(again[name][[3, 11]], maps[name][[3, 11]], rtol=0, atol=1e-5)
        assert not again[name][[0, 1, 2, 4]].any()


def test_bad_input(clip):
    synth, video, track = clip
    enc = DeepLipEncoder()
    frame = video.frames[0]
    with pytest.raises(InputError, match="face_box"):
        enc.encode(frame, np.array([10.0, 10.0, 5.0, 40.0]), 0.0)
    with pytest.raises(InputError, match="roll_deg"):
        enc.encode(frame, track.face_box[0], float("nan"))
    with pytest.raises(InputError, match="RGB uint8"):
        enc.encode(frame.astype(np.float32), track.face_box[0], 0.0)
    gappy = dataclasses.replace(track, detected=np.r_[False, track.detected[1:]])
    with pytest.raises(InputError, match="frame 0 has no face"):
        deep_lip_frames(video, gappy, frames=np.array([0, 1]))
    short = dataclasses.replace(video, frames=video.frames[:5], timestamps_s=video.timestamps_s[:5])
    with pytest.raises(InputError, match="track has .* frames but video"):
        deep_lip_frames(short, track)
