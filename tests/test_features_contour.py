"""Face contour points in tracking (FaceObservation / LipTrack.contour_xyz) and the jaw-contour channel."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lipauth.errors import InputError
from lipauth.features.contour import JAW_CONTOUR_NAMES, JAW_REFERENCE_NAMES, jaw_contour_frames
from lipauth.tracking import FaceObservation, LipTracker, track_lips
from lipauth.tracking.backends.fake import FakeBackend, FakeFace
from lipauth.tracking.base import CONTOUR_POINT_NAMES, STABLE_POINT_NAMES
from lipauth.types import N_CONTOUR_POINTS, LipTrack, Video

RNG = np.random.default_rng(7)
#: a face-like contour in pixels: 25 jaw / face-side points below, 10 reference points above
BASE = np.concatenate(
    [
        np.stack([np.linspace(200, 440, 25), 380 + 40 * np.sin(np.linspace(0, np.pi, 25))], axis=1),
        np.stack([np.linspace(230, 410, 10), 200 + 15 * np.cos(np.linspace(0, 2 * np.pi, 10))], axis=1),
    ]
)
#: jaw motion pattern: contour rows move down, most at the chin (row 0) and the lower jaw
JAW_DIR = np.zeros((N_CONTOUR_POINTS, 2))
JAW_DIR[:25, 1] = np.linspace(1.0, 0.2, 25)


def _similarity(xy: np.ndarray, scale: float, angle_rad: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return scale * xy @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


def _track(contour_xy: np.ndarray | None, detected: np.ndarray | None = None) -> LipTrack:
    """A LipTrack whose contour_xyz has the given x, y (n, 35, 2) (z = 0); NaN where not detected."""
    n = 5 if contour_xy is None else len(contour_xy)
    det = np.ones(n, bool) if detected is None else detected
    contour = None
    if contour_xy is not None:
        contour = np.concatenate([contour_xy, np.zeros((n, N_CONTOUR_POINTS, 1))], axis=2).astype(np.float32)
        contour[~det] = np.nan
    z = np.zeros
    return LipTrack(
        timestamps_s=np.arange(n) / 30.0, detected=det, face_box=z((n, 4), np.float32),
        labial_box=z((n, 4), np.float32), landmarks_px=z((n, 40, 2), np.float32),
        landmarks_norm=z((n, 40, 2), np.float32), pose=z((n, 3), np.float32), quality=z(n, np.uint8),
        n_faces=det.astype(np.uint8), width=640, height=480, backend="test", contour_xyz=contour,
    )  # fmt: skip


def _moving_head(opening: np.ndarray) -> np.ndarray:
    """BASE with jaw opening (px) per frame, each frame under its own random similarity (head motion)."""
    out = []
    for o in opening:
        pts = BASE + o * JAW_DIR
        out.append(_similarity(pts, RNG.uniform(0.7, 1.4), RNG.uniform(-0.3, 0.3), tuple(RNG.uniform(-60, 60, 2))))
    return np.stack(out)


# -- names and indices ---------------------------------------------------------------------------


def test_contour_names_and_facemesh_indices_agree() -> None:
    from lipauth.tracking.backends.mediapipe import (
        FACEMESH_CONTOUR_INDICES,
        FACEMESH_OVAL_INDICES,
        FACEMESH_STABLE_INDICES,
    )

    assert len(CONTOUR_POINT_NAMES) == len(set(CONTOUR_POINT_NAMES)) == N_CONTOUR_POINTS == len(FACEMESH_CONTOUR_INDICES)
    assert len(set(FACEMESH_CONTOUR_INDICES)) == N_CONTOUR_POINTS
    assert JAW_CONTOUR_NAMES == CONTOUR_POINT_NAMES[:25] and JAW_CONTOUR_NAMES[0] == "chin"
    assert len(JAW_REFERENCE_NAMES) == 10
    assert set(FACEMESH_CONTOUR_INDICES[:25]) <= set(FACEMESH_OVAL_INDICES)
    # points named like a stable point are the same FaceMesh vertex
    stable = dict(zip(STABLE_POINT_NAMES, FACEMESH_STABLE_INDICES))
    shared = [(name, idx) for name, idx in zip(CONTOUR_POINT_NAMES, FACEMESH_CONTOUR_INDICES) if name in stable]
    assert len(shared) == 8 and all(stable[name] == idx for name, idx in shared)


def test_face_observation_checks_contour_shape() -> None:
    with pytest.raises(InputError, match=r"contour_xyz must have shape \(35, 3\), got \(25, 3\)"):
        FaceObservation(face_box=np.zeros(4, np.float32), contour_xyz=np.zeros((25, 3), np.float32))
    assert FaceObservation(face_box=np.zeros(4, np.float32)).contour_xyz is None


# -- LipTrack round trip and the tracker --------------------------------------------------------


def test_lip_track_round_trip_with_and_without_contour() -> None:
    xy = _moving_head(np.linspace(0, 20, 4))
    track = _track(xy, detected=np.array([True, False, True, True]))
    back = LipTrack.from_dict(json.loads(json.dumps(track.to_dict(), allow_nan=False)))
    assert back.contour_xyz is not None and back.contour_xyz.dtype == np.float32
    assert back.contour_xyz.shape == (4, N_CONTOUR_POINTS, 3)
    np.testing.assert_array_equal(back.contour_xyz, track.contour_xyz)  # NaN rows compare equal
    assert np.isnan(back.contour_xyz[1]).all()

    plain = _track(None)
    data = json.loads(json.dumps(plain.to_dict(), allow_nan=False))
    assert data["contour_xyz"] is None and LipTrack.from_dict(data).contour_xyz is None
    del data["contour_xyz"]  # a track saved before the field existed
    old = LipTrack.from_dict(data)
    assert old.contour_xyz is None and old.n_frames == 5

    empty = _track(xy[:0], detected=np.zeros(0, bool))
    assert LipTrack.from_dict(json.loads(json.dumps(empty.to_dict()))).contour_xyz.shape == (0, N_CONTOUR_POINTS, 3)


class _ContourBackend(FakeBackend):
    """The fake backend plus contour points on every face, except at the given frame times."""

    def __init__(self, *, skip_s: tuple[float, ...] = ()) -> None:
        super().__init__(lambda t: [FakeFace(x_px=320, y_px=300, scale_px=120, opening=0.1)])
        self.skip_s = skip_s

    def process(self, frame_rgb: np.ndarray, *, t_s: float) -> list[FaceObservation]:
        out = super().process(frame_rgb, t_s=t_s)
        if any(abs(t_s - s) < 1e-9 for s in self.skip_s):
            return out
        contour = np.full((N_CONTOUR_POINTS, 3), t_s, np.float32)
        return [dataclasses.replace(o, contour_xyz=contour) for o in out]


def _video(n: int) -> Video:
    frames = np.full((n, 48, 64, 3), 128, np.uint8)
    return Video(frames=frames, timestamps_s=np.arange(n) / 10.0, width=64, height=48, source="c.mp4")


def test_tracker_carries_contour_and_none_without_it() -> None:
    video = _video(4)
    track = track_lips(video, backend=_ContourBackend(skip_s=(0.2,)))
    assert track.contour_xyz is not None and track.contour_xyz.shape == (4, N_CONTOUR_POINTS, 3)
    np.testing.assert_array_equal(track.contour_xyz[[0, 1, 3], 0, 0], np.float32([0.0, 0.1, 0.3]))
    assert np.isnan(track.contour_xyz[2]).all()  # backend gave no contour in that frame
    tracker = LipTracker(backend=_ContourBackend())
    frame = tracker.update(video.frames[0], 0.0)
    assert frame.contour_xyz is not None and frame.contour_xyz.shape == (N_CONTOUR_POINTS, 3)
    fake = track_lips(video, backend=FakeBackend(lambda t: [FakeFace(x_px=32, y_px=30, scale_px=20)]))
    assert fake.contour_xyz is None


# -- jaw_contour_frames --------------------------------------------------------------------------


def test_still_head_without_jaw_motion_gives_the_contour_itself() -> None:
    feats = jaw_contour_frames(_track(np.repeat(BASE[None], 6, axis=0)))
    assert feats.shape == (6, 50) and feats.dtype == np.float64
    np.testing.assert_allclose(feats, np.repeat(BASE[None, :25].reshape(1, 50), 6, axis=0), atol=1e-4)


def test_head_motion_is_removed_and_jaw_motion_kept() -> None:
    opening = np.array([0.0, 5.0, 12.0, 20.0, 8.0, 0.0, 15.0])
    feats = jaw_contour_frames(_track(_moving_head(opening)))
    assert feats.shape == (7, 50)
    # without head motion the output is BASE + jaw motion under ONE similarity (the take's mean frame)
    truth = np.stack([(BASE + o * JAW_DIR)[:25] for o in opening]).reshape(-1, 2)
    got = feats.reshape(-1, 2)
    a = np.c_[truth, np.ones(len(truth))]
    fit_x, res_x, *_ = np.linalg.lstsq(a, got[:, 0], rcond=None)
    fit_y, res_y, *_ = np.linalg.lstsq(a, got[:, 1], rcond=None)
    assert np.sqrt(max(res_x[0], res_y[0]) / len(truth)) < 1e-3  # px (float32 storage)
    assert fit_x[0] == pytest.approx(fit_y[1], rel=1e-6) and fit_x[1] == pytest.approx(-fit_y[0], abs=1e-6)
    # the chin's aligned y follows the opening
    assert np.corrcoef(feats[:, 1], opening)[0, 1] > 0.999


def test_gaps_take_the_nearest_detected_row_and_frames_select() -> None:
    opening = np.array([0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0])
    detected = np.array([False, True, True, False, False, True, False])
    xy = _moving_head(opening)
    feats = jaw_contour_frames(_track(xy, detected=detected))
    for i, src in enumerate([1, 1, 2, 2, 5, 5, 5]):  # detected: 1, 2, 5
        np.testing.assert_array_equal(feats[i], feats[src], err_msg=str(i))
    assert not np.allclose(feats[1], feats[2])
    # a tie (frame 3 between detected 2 and 4) takes the earlier one
    tie = jaw_contour_frames(_track(_moving_head(opening[:5]), detected=np.array([True, True, True, False, True])))
    np.testing.assert_array_equal(tie[3], tie[2])
    sel = jaw_contour_frames(_track(xy, detected=detected), frames=np.array([5, 0, 2]))
    np.testing.assert_array_equal(sel, feats[[5, 0, 2]])
    assert jaw_contour_frames(_track(_moving_head(opening)), frames=np.array([], np.int64)).shape == (0, 50)


def test_jaw_contour_errors() -> None:
    with pytest.raises(InputError, match=r"backend 'test' has no contour points \(contour_xyz is None\)"):
        jaw_contour_frames(_track(None))
    with pytest.raises(InputError, match=r"no frame with a face and contour points \(of 3 frames\)"):
        jaw_contour_frames(_track(_moving_head(np.zeros(3)), detected=np.zeros(3, bool)))
    xy = _moving_head(np.zeros(3))
    with pytest.raises(InputError, match=r"frames holds indices outside \[0, 2\]"):
        jaw_contour_frames(_track(xy), frames=np.array([0, 3]))
    with pytest.raises(InputError, match=r"frames has dtype float64 .* pass a 1-D array of frame indices"):
        jaw_contour_frames(_track(xy), frames=np.array([0.0, 1.0]))
    with pytest.raises(InputError, match=r"track is a dict, not a LipTrack"):
        jaw_contour_frames({})  # type: ignore[arg-type]
    flat = xy.copy()
    flat[1, 25:] = flat[1, 25]
    with pytest.raises(InputError, match=r"frame 1: the contour reference points coincide"):
        jaw_contour_frames(_track(flat))
    bad = dataclasses.replace(_track(xy), contour_xyz=np.zeros((3, 25, 3), np.float32))
    with pytest.raises(InputError, match=r"contour_xyz has shape \(3, 25, 3\); pass a track whose contour_xyz is \(3, 35, 3\)"):
        jaw_contour_frames(bad)


# -- MediaPipe on a synthetic talking clip (the chin follows the opening) -----------------------


def test_mediapipe_backend_fills_contour_and_the_chin_follows_the_opening() -> None:
    from lipauth.synth import make_talking_clip
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    clip = make_talking_clip(None, duration_s=2.0, fps=30.0, size=(640, 480), audio=None, seed=1, head_motion=True)
    video = Video(frames=clip.frames, timestamps_s=clip.timestamps_s, width=640, height=480, source="synth.mp4")
    backend = MediaPipeBackend()
    try:
        track = track_lips(video, backend=backend)
    finally:
        backend.close()
    assert track.contour_xyz is not None and track.contour_xyz.shape == (track.n_frames, N_CONTOUR_POINTS, 3)
    assert track.contour_xyz.dtype == np.float32 and np.isfinite(track.contour_xyz[track.detected]).all()
    # chin below the mouth, reference points (eyes, forehead) above it, all inside the face box
    chin_y = track.contour_xyz[:, 0, 1]
    assert (chin_y > track.landmarks_px[:, :, 1].max(axis=1)).all()
    assert (track.contour_xyz[:, 25:, 1] < track.landmarks_px[:, :, 1].min(axis=1)[:, None]).all()
    feats = jaw_contour_frames(track)
    r = np.corrcoef(feats[:, 1], clip.opening)[0, 1]
    assert r > 0.8, r
