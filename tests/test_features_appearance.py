"""lipauth.features appearance, flow, histograms, magnification on tracked synth clips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipauth.errors import ConfigError, InputError
from lipauth.features.appearance import (
    FLOW_FEATURES,
    LabialCropper,
    cosine_similarity_series,
    flow_summary,
    labial_crops,
    micro_movement_index,
    reference_mouth,
)
from lipauth.features.histograms import spatiotemporal_histograms
from lipauth.features.magnify import magnify_labial, write_magnified
from lipauth.types import LipTrack, Video

SIZE = (480, 360)
FACE_WIDTH_PX = 170.0


@pytest.fixture(scope="module")
def backend():  # noqa: ANN201
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    b = MediaPipeBackend()
    yield b
    b.close()


_CACHE: dict[tuple, tuple] = {}


def synth(backend, *, amplitude: float = 1.0, fps: float = 30.0, duration_s: float = 3.0, noise_std: float = 2.0,
          head_motion: bool = False, seed: int = 1) -> tuple:  # noqa: ANN001
    """(clip, video, track) of a clip whose syllable openings are scaled by ``amplitude``."""
    key = (amplitude, fps, duration_s, noise_std, head_motion, seed)
    if key not in _CACHE:
        from lipauth.synth import make_talking_clip, random_syllable_schedule
        from lipauth.tracking import track_lips

        t = np.arange(int(round(duration_s * fps))) / fps
        opening = amplitude * random_syllable_schedule(duration_s, seed=seed).opening_at(t)
        clip = make_talking_clip(
            None, duration_s=duration_s, fps=fps, size=SIZE, face_width_px=FACE_WIDTH_PX, opening=opening,
            noise_std=noise_std, head_motion=head_motion, audio=None, seed=seed, max_scale_change=0.25,
        )  # fmt: skip
        video = clip.to_video()
        _CACHE[key] = (clip, video, track_lips(video, backend=backend))
    return _CACHE[key]


def talking(backend):  # noqa: ANN001, ANN201
    return synth(backend, amplitude=1.0)


# -- crops ------------------------------------------------------------------------------


def test_crops_shape_range_and_zero_without_face(backend) -> None:  # noqa: ANN001
    clip, video, track = talking(backend)
    crops = labial_crops(video, track, size=(64, 32))
    assert crops.shape == (video.n_frames, 32, 64) and crops.dtype == np.float32
    assert crops.min() >= 0.0 and crops.max() <= 1.0
    # photometric normalisation: mean ~0.5, contrast ~0.25 (one std) per crop
    assert np.allclose(crops.mean(axis=(1, 2)), 0.5, atol=0.05)
    # frames without a face give zeros
    detected = track.detected.copy()
    detected[[5, 6, 40]] = False
    gappy = dataclasses.replace(track, detected=detected)
    crops_gap = labial_crops(video, gappy)
    assert (crops_gap[[5, 6, 40]] == 0).all()
    np.testing.assert_array_equal(crops_gap[detected], crops[detected])


def test_streaming_cropper_equals_whole_clip(backend) -> None:  # noqa: ANN001
    _, video, track = talking(backend)
    crops = labial_crops(video, track)
    cropper = LabialCropper(reference_norm=reference_mouth(track.landmarks_norm))
    for i, (_, frame) in enumerate(video.iter_frames()):
        np.testing.assert_array_equal(cropper.update(frame, track.landmarks_px[i], track.landmarks_norm[i]), crops[i])
    # a lazy video is decoded once, in order, with the same result
    passes = []

    def decode():  # noqa: ANN202
        passes.append(1)
        yield from zip(video.timestamps_s.tolist(), video.frames)

    lazy = dataclasses.replace(video, frames=None, _frame_iter=decode)
    np.testing.assert_array_equal(labial_crops(lazy, track), crops)
    assert len(passes) == 1
    # without normalised landmarks the outer corners align the crop: still the mouth
    corner = LabialCropper().update(video.frames[0], track.landmarks_px[0])
    assert np.corrcoef(corner.ravel(), crops[0].ravel())[0, 1] > 0.8


def _fixed_box_crops(video: Video, track: LipTrack) -> np.ndarray:
    """Unaligned baseline: one fixed box (the clip's median labial box), same photometry."""
    import cv2

    x0, y0, x1, y1 = np.nanmedian(track.labial_box, axis=0).astype(int)
    out = []
    for frame in video.frames:
        grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        c = cv2.resize(grey, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
        out.append(np.clip(0.5 + (c - c.mean()) / (4 * c.std()), 0, 1))
    return np.asarray(out)


def test_crops_are_aligned_under_head_roll_scale_and_shift(backend) -> None:  # noqa: ANN001
    clip, video, track = synth(backend, amplitude=0.0, head_motion=True, noise_std=0.0)
    assert np.ptp(clip.head_transform[:, 2]) > 10 and np.ptp(clip.head_transform[:, 3]) > 0.2  # real motion drawn
    aligned = labial_crops(video, track)
    fixed = _fixed_box_crops(video, track)
    spread_aligned = float(aligned.std(axis=0).mean())
    spread_fixed = float(fixed.std(axis=0).mean())
    assert spread_aligned < 0.35 * spread_fixed, (spread_aligned, spread_fixed)
    sim = cosine_similarity_series(aligned, track.detected)
    assert np.median(sim) > 0.98, np.median(sim)


def test_brightness_change_barely_changes_crops_and_similarity(backend) -> None:  # noqa: ANN001
    _, video, track = talking(backend)
    crops = labial_crops(video, track)
    sim = cosine_similarity_series(crops, track.detected)
    speech_change = float(np.abs(crops[3:] - crops[:-3]).mean())  # lips moving for 0.1 s
    for gain in (0.7, 1.3):
        frames = np.clip(video.frames.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
        lit = labial_crops(dataclasses.replace(video, frames=frames), track)
        change = float(np.abs(lit - crops).mean())  # x1.3 saturates the brightest skin
        assert change < 0.03 and change < 0.5 * speech_change, (gain, change, speech_change)
        np.testing.assert_allclose(cosine_similarity_series(lit, track.detected), sim, atol=0.02)


# -- cosine similarity, micro-movement index ---------------------------------------------


def test_cosine_similarity_series_definition_and_gaps() -> None:
    rng = np.random.default_rng(0)
    crops = rng.random((6, 8, 8)).astype(np.float32)
    crops[2] = crops[1]  # identical -> 1
    crops[4] = 1.0 - crops[3]  # inverted contrast -> -1
    valid = np.array([True, True, True, False, True, True])
    sim = cosine_similarity_series(crops, valid)
    assert sim[0] == 1.0 and sim[3] == 1.0  # undefined: first frame, invalid frame
    assert sim[2] == pytest.approx(1.0)
    a, b = crops[4] - crops[4].mean(), crops[2] - crops[2].mean()  # frame 4 vs previous valid frame 2
    assert sim[4] == pytest.approx(float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-5)
    flat = np.zeros((3, 8, 8), dtype=np.float32)  # flat crops: undefined, not NaN
    assert (cosine_similarity_series(flat, np.ones(3, bool)) == 1.0).all()


def test_micro_movement_index_rises_with_amplitude_and_still_stays_at_floor(backend) -> None:  # noqa: ANN001
    amplitudes = (0.0, 0.1, 0.2, 0.5, 1.0)  # 0.0: a still face with camera noise
    index = []
    for amp in amplitudes:
        _, video, track = synth(backend, amplitude=amp)
        crops = labial_crops(video, track)
        index.append(micro_movement_index(cosine_similarity_series(crops, track.detected), track.detected))
    assert all(b > a for a, b in zip(index, index[1:])), dict(zip(amplitudes, index))
    assert index[0] < 0.8 * index[1], index
    assert index[-1] > 5.0 * index[0], index


def test_micro_movement_index_of_pure_noise_is_near_one() -> None:
    rng = np.random.default_rng(3)
    base = rng.random((32, 64)).astype(np.float32)
    crops = base + rng.normal(0, 0.02, (60, 32, 64)).astype(np.float32)
    valid = np.ones(60, bool)
    index = micro_movement_index(cosine_similarity_series(crops, valid), valid)
    assert 1.0 <= index < 1.6, index


# -- flow -----------------------------------------------------------------------------------


def test_flow_opening_follows_opening_velocity(backend) -> None:  # noqa: ANN001
    clip, video, track = talking(backend)
    crops = labial_crops(video, track)
    flow = flow_summary(crops, track.detected, timestamps_s=track.timestamps_s)
    assert flow.shape == (video.n_frames, len(FLOW_FEATURES)) and np.isfinite(flow).all()
    assert (flow[0] == 0).all()  # no previous frame
    velocity = np.gradient(clip.opening, clip.timestamps_s)
    col = {name: flow[:, i] for i, name in enumerate(FLOW_FEATURES)}
    assert np.corrcoef(col["opening"][1:], velocity[1:])[0, 1] > 0.7
    assert np.corrcoef(col["lower_vy"][1:], velocity[1:])[0, 1] > 0.6
    assert (col["mean_magnitude"] >= 0).all()
    # per second vs per frame: a factor of the frame rate
    per_frame = flow_summary(crops, track.detected)
    np.testing.assert_allclose(flow[1:], per_frame[1:] * clip.fps, rtol=1e-4, atol=1e-6)


# -- histograms ---------------------------------------------------------------------------------


def test_histograms_fixed_length_no_nan_and_frame_rate_independent_windows(backend) -> None:  # noqa: ANN001
    results = {}
    for fps in (25.0, 30.0):
        _, video, track = synth(backend, fps=fps)
        crops = labial_crops(video, track)
        results[fps] = spatiotemporal_histograms(crops, track.timestamps_s, track.detected)
    (d25, t25), (d30, t30) = results[25.0], results[30.0]
    assert d25.shape == (13, 2 * 4 * 2 * 8) and d30.shape == d25.shape
    np.testing.assert_allclose(t25, t30)
    np.testing.assert_allclose(t25, 0.2 + 0.2 * np.arange(13))
    for d in (d25, d30):
        assert np.isfinite(d).all() and d.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, rtol=1e-5)
    # the same speech at another frame rate gives similar descriptors
    cos = (d25 * d30).sum(axis=1)
    assert np.median(cos) > 0.95, cos


def test_histograms_drop_windows_without_valid_frames_and_tell_motion_from_stillness() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(60) / 30.0
    still = np.repeat(rng.random((1, 32, 64)).astype(np.float32), 60, axis=0)
    moving = rng.random((60, 32, 64)).astype(np.float32)
    valid = np.ones(60, bool)
    valid[12:36] = False  # 0.4 - 1.2 s without a face
    d, times = spatiotemporal_histograms(still, t, valid, cells=(2, 2), n_bins=4)
    assert d.shape[1] == 2 * 2 * 2 * 4 and np.isfinite(d).all()
    # windows with fewer than half of their frames valid (0.6, 0.8, 1.0 s) are dropped
    np.testing.assert_allclose(times, [0.2, 0.4, 1.2, 1.4, 1.6])
    dm, _ = spatiotemporal_histograms(moving, t, valid, cells=(2, 2), n_bins=4)
    temporal_still, temporal_moving = d[:, 16:], dm[:, 16:]
    # still: every temporal change in the two middle bins; moving: spread over all bins
    middle = np.zeros((2, 2, 4), bool)
    middle[..., 1:3] = True
    assert (temporal_still[:, ~middle.ravel()] == 0).all()
    assert (temporal_moving[:, ~middle.ravel()] > 0).all()


# -- magnification ----------------------------------------------------------------------------------


def _labial_temporal_variance(frames: np.ndarray, track: LipTrack) -> float:
    x0, y0, x1, y1 = np.nanmedian(track.labial_box, axis=0).astype(int)
    grey = np.asarray(frames, dtype=np.float32)[:, y0:y1, x0:x1].mean(axis=3)
    return float(grey.var(axis=0).mean())


def test_magnify_amplifies_and_attenuates_lip_motion_only(backend) -> None:  # noqa: ANN001
    clip, video, track = synth(backend, amplitude=0.3)
    base = _labial_temporal_variance(clip.frames, track)
    box = np.nanmax(track.labial_box, axis=0)
    far_x = int(box[2]) + 60  # pixels right of the mouth, well beyond the soft mask
    ratios = {}
    for factor in (10.0, 0.3):
        out = np.asarray(list(magnify_labial(video, track, factor=factor)))
        assert out.shape == clip.frames.shape and out.dtype == np.uint8
        ratios[factor] = _labial_temporal_variance(out, track) / base
        np.testing.assert_array_equal(out[:, :, far_x:], clip.frames[:, :, far_x:])
        np.testing.assert_array_equal(out[:, : int(track.labial_box[:, 1].min()) - 60], clip.frames[:, : int(track.labial_box[:, 1].min()) - 60])
    assert ratios[10.0] > 5.0 and ratios[0.3] < 0.7, ratios
    # factor 1 is the identity; the input frames are never modified
    np.testing.assert_array_equal(np.asarray(list(magnify_labial(video, track, factor=1.0))), clip.frames)


def test_write_magnified_round_trip(backend, tmp_path) -> None:  # noqa: ANN001
    from lipauth.io import load_video

    _, video, track = talking(backend)
    short = dataclasses.replace(video, frames=video.frames[:10], timestamps_s=video.timestamps_s[:10])
    short_track = _head(track, 10)
    path = write_magnified(tmp_path / "mag.mp4", short, short_track, factor=5.0)
    back = load_video(path)
    assert back.n_frames == 10 and (back.width, back.height) == SIZE


def _head(track: LipTrack, n: int) -> LipTrack:
    """The first ``n`` frames of a track."""
    arrays = {f.name: getattr(track, f.name)[:n] for f in dataclasses.fields(track) if "dtype" in f.metadata}
    return dataclasses.replace(track, **arrays)


# -- bad input ----------------------------------------------------------------------------------


def test_bad_inputs_raise_specific_errors(backend) -> None:  # noqa: ANN001
    _, video, track = talking(backend)
    crops = np.zeros((5, 32, 64), np.float32)
    ok = np.ones(5, bool)
    with pytest.raises(ConfigError, match=r"size=\(4, 32\) must be \(width, height\)"):
        labial_crops(video, track, size=(4, 32))
    with pytest.raises(ConfigError, match=r"labial_crops\.margin=-0\.1 is out of range; allowed 0\.0 to 2\.0"):
        LabialCropper(margin=-0.1)
    short = dataclasses.replace(video, frames=video.frames[:5], timestamps_s=video.timestamps_s[:5])
    with pytest.raises(InputError, match=r"track has 90 frames but video <synth> has 5"):
        labial_crops(short, track)
    with pytest.raises(InputError, match=r"track is a ndarray; pass the LipTrack"):
        labial_crops(video, track.landmarks_px)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"lip_landmarks_px has shape \(20, 2\)"):
        LabialCropper().update(video.frames[0], track.landmarks_px[0][:20])
    with pytest.raises(InputError, match=r"frame has shape \(10, 10\); pass an RGB uint8 frame"):
        LabialCropper().update(np.zeros((10, 10), np.uint8), track.landmarks_px[0])
    with pytest.raises(InputError, match=r"crops has shape \(5, 32\); pass an array of shape \(n_frames"):
        cosine_similarity_series(np.zeros((5, 32)), ok)
    with pytest.raises(InputError, match=r"valid has shape \(4,\) but there are 5 frames"):
        cosine_similarity_series(crops, ok[:4])
    with pytest.raises(InputError, match=r"valid has dtype int64; pass a bool mask"):
        flow_summary(crops, np.ones(5, np.int64))
    with pytest.raises(InputError, match=r"timestamps_s must be finite and strictly increasing"):
        flow_summary(crops, ok, timestamps_s=np.array([0, 0.1, 0.1, 0.2, 0.3]))
    with pytest.raises(InputError, match=r"similarity holds NaN"):
        micro_movement_index(np.array([1.0, np.nan, 1.0]), np.ones(3, bool))
    with pytest.raises(ConfigError, match=r"micro_movement_index\.percentile=10\.0 is out of range"):
        micro_movement_index(np.ones(5), ok, percentile=10.0)
    t = np.arange(5) / 30
    with pytest.raises(InputError, match=r"timestamps_s has shape \(4,\) but there are 5 frames"):
        spatiotemporal_histograms(crops, t[:4], ok)
    with pytest.raises(ConfigError, match=r"spatiotemporal_histograms\.window_s=0\.0 is out of range"):
        spatiotemporal_histograms(crops, t, ok, window_s=0.0)
    with pytest.raises(ConfigError, match=r"cells=\(0, 2\) must be \(columns, rows\) integers"):
        spatiotemporal_histograms(crops, t, ok, cells=(0, 2))
    with pytest.raises(ConfigError, match=r"n_bins=1 is out of range; allowed integers 2 to 64"):
        spatiotemporal_histograms(crops, t, ok, n_bins=1)
    with pytest.raises(ConfigError, match=r"magnify_labial\.factor=-1\.0 is out of range; allowed 0\.0 to 100\.0"):
        magnify_labial(video, track, factor=-1.0)
    with pytest.raises(ConfigError, match=r"magnify_labial\.high_hz=0\.4 is out of range"):
        magnify_labial(video, track, low_hz=0.5, high_hz=0.4)
    blind = dataclasses.replace(track, detected=np.zeros(track.n_frames, bool))
    with pytest.raises(InputError, match=r"<synth>: the track has no frame with a face; nothing to magnify"):
        magnify_labial(video, blind)
