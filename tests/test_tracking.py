"""lipauth.tracking: pipeline logic with the fake backend, geometry, config, MediaPipe on synth."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from lipauth.errors import BackendUnavailableError, ConfigError, InputError, NoFaceError, NoFramesError
from lipauth.tracking import FaceObservation, LandmarkBackend, LipTracker, TrackingConfig, track_lips
from lipauth.tracking.backends.fake import FakeBackend, FakeFace, fake_face_points
from lipauth.tracking.geometry import (
    CANONICAL_LIPS_XYZ,
    fit_similarity,
    normalise_lips,
    pose_from_rotation,
    rotation_from_pose,
)
from lipauth.types import LIP_GROUPS, LipTrack, QualityFlag, Video

MOUTH_WIDTH = float(CANONICAL_LIPS_XYZ[10, 0] - CANONICAL_LIPS_XYZ[0, 0])


def textured_video(n: int = 12, *, size: tuple[int, int] = (640, 480), fps: float = 30.0, luma: int = 128) -> Video:
    """Frames of mid-grey noise (sharp, not dark) with exact timestamps."""
    rng = np.random.default_rng(0)
    w, h = size
    base = np.clip(luma + rng.normal(0, 40, (h, w, 1)), 0, 255).astype(np.uint8)
    frames = np.repeat(base[None], n, axis=0).repeat(3, axis=3)
    return Video(frames=frames, timestamps_s=np.arange(n) / fps, width=w, height=h, nominal_fps=fps,
                 measured_fps=fps, source="synthetic.mp4")  # fmt: skip


def opening_signal(t_s: float) -> float:
    return 0.1 * (1 + math.sin(2 * math.pi * 2.0 * t_s))


def one_face(t_s: float) -> list[FakeFace]:
    return [FakeFace(x_px=320, y_px=300, scale_px=120, opening=opening_signal(t_s))]


# -- protocol, results -------------------------------------------------------------------


def test_fake_backend_satisfies_protocol() -> None:
    assert isinstance(FakeBackend(one_face), LandmarkBackend)
    assert not isinstance(object(), LandmarkBackend)


def test_track_follows_known_opening_exactly() -> None:
    video = textured_video(30)
    track = track_lips(video, backend=FakeBackend(one_face))
    assert isinstance(track, LipTrack)
    assert track.n_frames == 30 and track.detected.all()
    assert track.backend == "fake" and (track.width, track.height) == (640, 480)
    truth = np.array([opening_signal(t) for t in video.timestamps_s])
    measured = track.inner_opening()
    # inner mid points of the canonical mouth are 0.0038 apart at rest
    np.testing.assert_allclose(measured, truth + (CANONICAL_LIPS_XYZ[35, 1] - CANONICAL_LIPS_XYZ[25, 1]), atol=1e-4)
    np.testing.assert_allclose(track.pose, 0.0, atol=1e-3)
    assert (track.quality == 0).all()
    # labial box contains every outer lip point, with margin, inside the face box
    lm = track.landmarks_px
    assert (track.labial_box[:, 0] < lm[:, :20, 0].min(axis=1)).all()
    assert (track.labial_box[:, 3] > lm[:, :20, 1].max(axis=1)).all()
    assert (track.face_box[:, 0] < track.labial_box[:, 0]).all()


def test_streaming_equals_whole_clip() -> None:
    def scene(t_s: float) -> list[FakeFace]:
        if 0.2 <= t_s < 0.3:
            return []
        faces = [FakeFace(x_px=300 + 100 * t_s, y_px=280, scale_px=110 * (1 + t_s), yaw_deg=20 * t_s,
                          roll_deg=-10 * t_s, opening=opening_signal(t_s))]  # fmt: skip
        if t_s > 0.5:
            faces.append(FakeFace(x_px=80, y_px=100, scale_px=40))
        return faces

    video = textured_video(25)
    whole = track_lips(video, backend=FakeBackend(scene))
    tracker = LipTracker(backend=FakeBackend(scene), source=video.source)
    frames = [tracker.update(frame, t) for t, frame in video.iter_frames()]
    streamed = tracker.result()
    assert [f.detected for f in frames] == whole.detected.tolist()
    for name in ("timestamps_s", "detected", "face_box", "labial_box", "landmarks_px", "landmarks_norm", "pose",
                 "quality", "n_faces"):  # fmt: skip
        np.testing.assert_array_equal(getattr(whole, name), getattr(streamed, name), err_msg=name)
    np.testing.assert_array_equal(frames[3].landmarks_norm, whole.landmarks_norm[3])


def test_gaps_are_nan_and_flagged() -> None:
    def scene(t_s: float) -> list[FakeFace]:
        return [] if 0.1 < t_s < 0.25 else one_face(t_s)

    video = textured_video(12)
    track = track_lips(video, backend=FakeBackend(scene))
    gap = (video.timestamps_s > 0.1) & (video.timestamps_s < 0.25)
    assert gap.sum() == 4
    np.testing.assert_array_equal(track.detected, ~gap)
    assert np.isnan(track.landmarks_norm[gap]).all() and np.isnan(track.face_box[gap]).all()
    assert np.isfinite(track.landmarks_norm[~gap]).all()
    np.testing.assert_array_equal(track.has_flag(QualityFlag.NO_FACE), gap)
    assert (track.n_faces[gap] == 0).all()
    assert track.detection_rate == pytest.approx(8 / 12)


def test_no_face_at_all_raises_naming_clip_and_frames() -> None:
    with pytest.raises(NoFaceError, match=r"synthetic\.mp4: no face found in any of its 7 frames"):
        track_lips(textured_video(7), backend=FakeBackend(lambda t: []))


def test_no_frames_raises() -> None:
    tracker = LipTracker(backend=FakeBackend(one_face), source="empty.webm")
    with pytest.raises(NoFramesError, match=r"empty\.webm: no frames were tracked"):
        tracker.result()


def test_primary_face_is_largest_and_most_central() -> None:
    big_central = FakeFace(x_px=330, y_px=280, scale_px=120, opening=0.05)
    small_corner = FakeFace(x_px=90, y_px=90, scale_px=50, opening=0.2)
    bigger_far_corner = FakeFace(x_px=40, y_px=420, scale_px=130, opening=0.3)
    for faces in ([small_corner, big_central], [big_central, small_corner], [bigger_far_corner, big_central]):
        track = track_lips(textured_video(3), backend=FakeBackend(lambda t, f=faces: f))
        expected = fake_face_points(big_central)[0][:, :2]
        np.testing.assert_allclose(track.landmarks_px[0], expected, atol=1e-4)
        assert (track.n_faces == 2).all()
        assert track.has_flag(QualityFlag.MULTIPLE_FACES).all()


def test_detector_only_faces_count_but_are_never_primary() -> None:
    class DetectorOnly(FakeBackend):
        def process(self, frame_rgb: np.ndarray, *, t_s: float) -> list[FaceObservation]:
            obs = super().process(frame_rgb, t_s=t_s)
            return [FaceObservation(face_box=np.array([200, 100, 500, 450], np.float32)), *obs]

    track = track_lips(textured_video(3), backend=DetectorOnly(lambda t: [FakeFace(x_px=100, y_px=120, scale_px=60)]))
    assert track.detected.all() and (track.n_faces == 2).all()
    np.testing.assert_allclose(track.landmarks_px[0], fake_face_points(FakeFace(x_px=100, y_px=120, scale_px=60))[0][:, :2], atol=1e-4)


def test_progress_reports_done_and_total() -> None:
    calls: list[tuple[int, int]] = []
    track_lips(textured_video(5), backend=FakeBackend(one_face), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_given_backend_is_reset_not_closed_and_tracker_reset_restarts() -> None:
    backend = FakeBackend(one_face)
    track_lips(textured_video(4), backend=backend)
    assert backend.n_resets_ == 1 and backend.n_processed_ == 4
    tracker = LipTracker(backend=backend)
    for t, frame in textured_video(3).iter_frames():
        tracker.update(frame, t)
    tracker.reset()
    for t, frame in textured_video(2).iter_frames():
        tracker.update(frame, t)
    assert tracker.result().n_frames == 2 and backend.n_resets_ == 3


# -- quality flags -------------------------------------------------------------------------


def test_quality_flags() -> None:
    cfg = TrackingConfig()
    small = track_lips(textured_video(2), backend=FakeBackend(lambda t: [FakeFace(scale_px=25)]))
    assert small.has_flag(QualityFlag.FACE_TOO_SMALL).all()
    assert (small.face_box[:, 2] - small.face_box[:, 0] < cfg.min_face_width_px).all()
    turned = track_lips(textured_video(2), backend=FakeBackend(lambda t: [FakeFace(yaw_deg=40)]))
    assert turned.has_flag(QualityFlag.EXTREME_POSE).all() and not turned.has_flag(QualityFlag.FACE_TOO_SMALL).any()
    np.testing.assert_allclose(turned.pose[:, 0], 40, atol=1e-3)
    nodding = track_lips(textured_video(2), backend=FakeBackend(lambda t: [FakeFace(pitch_deg=-28)]))
    assert nodding.has_flag(QualityFlag.EXTREME_POSE).all()
    dark = track_lips(textured_video(2, luma=15), backend=FakeBackend(one_face))
    assert dark.has_flag(QualityFlag.TOO_DARK).all()
    flat = textured_video(2)
    flat = Video(frames=np.full_like(flat.frames, 120), timestamps_s=flat.timestamps_s, width=640, height=480)
    blurred = track_lips(flat, backend=FakeBackend(one_face))
    assert blurred.has_flag(QualityFlag.BLURRED).all() and not blurred.has_flag(QualityFlag.TOO_DARK).any()
    relaxed = track_lips(flat, backend=FakeBackend(one_face), config=TrackingConfig(min_lip_sharpness=0))
    assert not relaxed.has_flag(QualityFlag.BLURRED).any()


# -- bad input / config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_face_width_px": -1}, r"TrackingConfig\.min_face_width_px=-1 is out of range; allowed 0\.0 to 10000\.0"),
        ({"max_abs_yaw_deg": 91}, r"TrackingConfig\.max_abs_yaw_deg=91 is out of range; allowed 0\.0 to 90\.0"),
        ({"max_abs_pitch_deg": float("nan")}, r"TrackingConfig\.max_abs_pitch_deg=nan is out of range"),
        ({"min_face_luma": 300}, r"TrackingConfig\.min_face_luma=300 is out of range; allowed 0\.0 to 255\.0"),
        ({"min_lip_sharpness": -5}, r"TrackingConfig\.min_lip_sharpness=-5 is out of range"),
        ({"labial_margin": 3}, r"TrackingConfig\.labial_margin=3 is out of range; allowed 0\.0 to 2\.0"),
    ],
)
def test_config_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrackingConfig(**kwargs)


def test_bad_frames_and_arguments() -> None:
    tracker = LipTracker(backend=FakeBackend(one_face), source="cam")
    with pytest.raises(InputError, match=r"cam: frame must be an RGB uint8 array of shape \(h, w, 3\), got float64"):
        tracker.update(np.zeros((48, 64, 3)), 0.0)
    with pytest.raises(InputError, match=r"got list"):
        tracker.update([[1, 2, 3]], 0.0)  # type: ignore[arg-type]
    tracker.update(np.zeros((48, 64, 3), np.uint8), 0.5)
    with pytest.raises(InputError, match=r"cam: frame time 0\.5 s is not after the previous 0\.5 s"):
        tracker.update(np.zeros((48, 64, 3), np.uint8), 0.5)
    with pytest.raises(InputError, match=r"cam: frame size changed from 64x48 to 32x48; call reset\(\)"):
        tracker.update(np.zeros((48, 32, 3), np.uint8), 1.0)
    with pytest.raises(InputError, match=r"backend object is not a LandmarkBackend"):
        LipTracker(backend=object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"config must be a TrackingConfig, got dict"):
        LipTracker(backend=FakeBackend(one_face), config={"min_face_luma": 3})  # type: ignore[arg-type]


def test_mediapipe_backend_config_validated_and_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    with pytest.raises(ConfigError, match=r"MediaPipeBackend\.max_faces=0 is out of range; allowed 1 to 8"):
        MediaPipeBackend(max_faces=0)
    with pytest.raises(ConfigError, match=r"MediaPipeBackend\.detector_interval_frames=-1 is out of range"):
        MediaPipeBackend(detector_interval_frames=-1)
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install --no-deps mediapipe==0\.10\.21"):
        MediaPipeBackend()


def test_face_observation_shapes_checked() -> None:
    with pytest.raises(InputError, match=r"FaceObservation\.lips_xyz must have shape \(40, 3\), got \(20, 3\)"):
        FaceObservation(face_box=np.zeros(4, np.float32), lips_xyz=np.zeros((20, 3), np.float32))


def test_import_is_light() -> None:
    import subprocess

    code = "import sys, lipauth.tracking; print(sorted(m for m in ('cv2', 'mediapipe', 'av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- geometry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("has_depth", [True, False])
def test_normalised_landmarks_invariant_to_pose_scale_translation(has_depth: bool) -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        face = FakeFace(
            x_px=float(rng.uniform(50, 600)),
            y_px=float(rng.uniform(50, 450)),
            scale_px=float(rng.uniform(60, 400)),
            yaw_deg=float(rng.uniform(-30, 30)) if has_depth else 0.0,
            pitch_deg=float(rng.uniform(-25, 25)) if has_depth else 0.0,
            roll_deg=float(rng.uniform(-30, 30)),
            opening=float(rng.uniform(0, 0.3)),
            width_gain=float(rng.uniform(-0.3, 0.2)),
        )
        lips, stable, _, truth = fake_face_points(face)
        # 0.5 px noise on the stable points the fit uses
        stable = stable + rng.normal(0, 0.5, stable.shape).astype(np.float32)
        if not has_depth:
            lips[:, 2] = np.nan
            stable[:, 2] = np.nan
        out = normalise_lips(lips, stable, has_depth=has_depth)
        assert out is not None
        norm, (yaw, pitch, roll) = out
        err = np.linalg.norm(norm - truth, axis=1).max()
        assert err < 0.05 * MOUTH_WIDTH, (face, err)
        assert roll == pytest.approx(face.roll_deg, abs=1.5)
        if has_depth:
            assert yaw == pytest.approx(face.yaw_deg, abs=2.0) and pitch == pytest.approx(face.pitch_deg, abs=2.0)
        else:
            assert math.isnan(yaw) and math.isnan(pitch)


def test_pose_round_trip_and_conventions() -> None:
    for pose in [(0, 0, 0), (25, -10, 5), (-30, 20, -40), (10, 0, 170)]:
        got = pose_from_rotation(rotation_from_pose(*pose))
        np.testing.assert_allclose(got, pose, atol=1e-9)
    # yaw > 0: the nose tip moves to the image left; pitch > 0: down; roll > 0: clockwise
    lips0, stable0, _, _ = fake_face_points(FakeFace())
    nose = 6
    assert fake_face_points(FakeFace(yaw_deg=20))[1][nose, 0] < stable0[nose, 0]
    assert fake_face_points(FakeFace(pitch_deg=20))[1][nose, 1] > stable0[nose, 1]
    right_corner = LIP_GROUPS["corners"][1]
    assert fake_face_points(FakeFace(roll_deg=20))[0][right_corner, 1] > lips0[right_corner, 1]


def test_fit_ignores_missing_points_and_needs_enough() -> None:
    lips, stable, _, truth = fake_face_points(FakeFace(scale_px=150, roll_deg=12, yaw_deg=10))
    partial = stable.copy()
    partial[[9, 10, 11, 12]] = np.nan  # no face sides, no forehead
    out = normalise_lips(lips, partial, has_depth=True)
    assert out is not None and np.abs(out[0] - truth).max() < 1e-3
    partial[:10] = np.nan
    assert fit_similarity(partial, has_depth=True) is None
    assert normalise_lips(lips, partial, has_depth=True) is None


def test_2d_backend_gives_roll_only() -> None:
    track = track_lips(textured_video(3), backend=FakeBackend(lambda t: [FakeFace(roll_deg=15)], has_depth=False))
    np.testing.assert_allclose(track.pose[:, 2], 15, atol=1e-3)
    assert np.isnan(track.pose[:, :2]).all() and not track.has_flag(QualityFlag.EXTREME_POSE).any()


# -- MediaPipe on synthetic clips with known ground truth (lipauth.synth) ------------------------


@pytest.fixture(scope="module")
def mediapipe_backend():  # noqa: ANN201
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    backend = MediaPipeBackend()
    yield backend
    backend.close()


def _synth_track(backend, **kwargs):  # noqa: ANN001, ANN202
    from lipauth.synth import make_talking_clip

    clip = make_talking_clip(None, duration_s=3.0, fps=30.0, size=(640, 480), audio=None, seed=1, **kwargs)
    video = Video(frames=clip.frames, timestamps_s=clip.timestamps_s, width=640, height=480, source="synth.mp4")
    return clip, track_lips(video, backend=backend)


@pytest.mark.parametrize("head_motion", [False, True])
def test_mediapipe_opening_follows_synth_ground_truth(mediapipe_backend, head_motion: bool) -> None:  # noqa: ANN001
    clip, track = _synth_track(mediapipe_backend, head_motion=head_motion)
    assert track.detected.all() and track.backend == "mediapipe-facemesh"
    r = np.corrcoef(track.inner_opening(), clip.opening)[0, 1]
    assert r >= 0.95, r
    assert (track.n_faces == 1).all() and not track.has_flag(QualityFlag.MULTIPLE_FACES).any()


def test_mediapipe_head_motion_and_scale_barely_move_normalised_lips(mediapipe_backend) -> None:  # noqa: ANN001
    clip, track = _synth_track(mediapipe_backend, head_motion=True, opening=np.zeros(90))
    scale = clip.head_transform[:, 3]
    assert np.ptp(clip.head_transform[:, 2]) > 10 and scale.max() / scale.min() > 1.2  # real motion drawn
    # in pixels the mouth moves and scales a lot ...
    px_centre = track.landmarks_px.mean(axis=1)
    assert np.ptp(px_centre[:, 0]) > 20
    # ... normalised, every landmark stays within 5% of the mouth width of its median
    lm = track.landmarks_norm
    mouth_width = np.median(track.mouth_width())
    dev = np.linalg.norm(lm - np.median(lm, axis=0), axis=2).max(axis=1) / mouth_width
    assert dev.max() < 0.05, dev.max()


def test_mediapipe_streaming_equals_whole_clip(mediapipe_backend) -> None:  # noqa: ANN001
    from lipauth.synth import make_talking_clip

    clip = make_talking_clip(None, duration_s=1.0, fps=30.0, size=(320, 240), face_width_px=110, audio=None, seed=2)
    video = Video(frames=clip.frames, timestamps_s=clip.timestamps_s, width=320, height=240, source="s.mp4")
    whole = track_lips(video, backend=mediapipe_backend)
    tracker = LipTracker(backend=mediapipe_backend)
    for t, frame in video.iter_frames():
        tracker.update(frame, t)
    streamed = tracker.result()
    for name in ("detected", "face_box", "landmarks_px", "landmarks_norm", "pose", "quality", "n_faces"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(streamed, name), err_msg=name)


def test_mediapipe_two_faces_primary_is_larger(mediapipe_backend) -> None:  # noqa: ANN001
    from lipauth.synth import make_two_face_clip

    clip = make_two_face_clip(None, duration_s=1.0, fps=30.0, size=(640, 480), seed=3, audio=None)
    video = Video(frames=clip.frames, timestamps_s=clip.timestamps_s, width=640, height=480, source="two.mp4")
    track = track_lips(video, backend=mediapipe_backend)
    assert track.detection_rate > 0.95
    assert (track.n_faces[track.detected] >= 2).mean() > 0.9
    assert track.has_flag(QualityFlag.MULTIPLE_FACES).mean() > 0.9
    # the tracked lips lie inside the primary (larger) face's box
    box = clip.face_box_px
    centre = np.nanmean(track.landmarks_px, axis=1)
    inside = (centre[:, 0] > box[:, 0]) & (centre[:, 0] < box[:, 2]) & (centre[:, 1] > box[:, 1]) & (centre[:, 1] < box[:, 3])
    assert inside[track.detected].all()


def test_track_lips_accepts_a_path(tmp_path, mediapipe_backend) -> None:  # noqa: ANN001
    from lipauth.synth import make_talking_clip

    path = tmp_path / "talk.mp4"
    clip = make_talking_clip(path, duration_s=1.0, fps=25.0, size=(320, 240), face_width_px=110, audio=None, seed=4)
    track = track_lips(path, backend=mediapipe_backend)
    assert track.n_frames == len(clip.timestamps_s) and track.detection_rate == 1.0
    np.testing.assert_allclose(track.timestamps_s, clip.timestamps_s, atol=1e-3)


def test_no_face_clip_raises_with_mediapipe(mediapipe_backend) -> None:  # noqa: ANN001
    from lipauth.synth import make_no_face_clip

    clip = make_no_face_clip(None, duration_s=0.5, fps=20.0, size=(320, 240))
    video = Video(frames=clip.frames, timestamps_s=clip.timestamps_s, width=320, height=240, source="empty_room.mp4")
    with pytest.raises(NoFaceError, match=rf"empty_room\.mp4: no face found in any of its {len(clip.timestamps_s)} frames"):
        track_lips(video, backend=mediapipe_backend)


def test_mediapipe_native_log_lines_go_to_logging_not_stderr(capfd, caplog) -> None:  # noqa: ANN001
    import logging

    from lipauth.synth import make_talking_clip
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    clip = make_talking_clip(None, duration_s=0.2, fps=10.0, size=(320, 240), face_width_px=110, audio=None)
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG, logger="lipauth.tracking.backends.mediapipe"):
        backend = MediaPipeBackend(detector_interval_frames=1)
        try:
            for i, frame in enumerate(clip.frames):
                assert len(backend.process(frame, t_s=i / 10)) == 1
            backend.reset()
            backend.process(clip.frames[0], t_s=0.0)
        finally:
            backend.close()
    assert capfd.readouterr().err == ""
    assert any(r.message.startswith("mediapipe: ") for r in caplog.records)  # routed, not lost


def test_mediapipe_accepts_non_contiguous_frames(mediapipe_backend) -> None:  # noqa: ANN001
    """A still-photo attack (one frame broadcast over time) and a strided view are tracked, not refused."""
    from lipauth.synth import make_talking_clip

    clip = make_talking_clip(None, duration_s=1.0, fps=15.0, size=(320, 240), face_width_px=120, audio=None, seed=2)
    still = np.broadcast_to(clip.frames[0], clip.frames.shape)
    assert not still.flags.c_contiguous
    video = Video(frames=still, timestamps_s=clip.timestamps_s, width=320, height=240, source="still.mp4")
    track = track_lips(video, backend=mediapipe_backend)
    assert track.detected.all()
    assert np.nanstd(track.inner_opening()) < 1e-3  # a still face barely moves (mesh jitter only)
