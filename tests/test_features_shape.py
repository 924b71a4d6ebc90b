"""Shape features, movement segmentation and extract_lip_features on synthetic clips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipauth.errors import ConfigError, InputError, InsufficientDataError
from lipauth.features import SHAPE_FEATURES, FeatureConfig, extract_lip_features, shape_from_landmarks
from lipauth.features.lip import derivative, fill_gaps
from lipauth.types import LipFeatures, LipTrack

FPS = 30.0


def _opening(t: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Deterministic syllable bursts as a function of time (same motion at any fps)."""
    starts = [0.4, 1.0, 1.7, 2.5, 3.1, 3.9, 4.6]
    out = np.zeros_like(t)
    intervals = []
    for i, s in enumerate(starts):
        d = 0.35 + 0.05 * (i % 3)
        inside = (t >= s) & (t < s + d)
        out[inside] = (0.6 + 0.3 * (i % 2)) * np.sin(np.pi * (t[inside] - s) / d) ** 2
        intervals.append((s, s + d))
    return out, intervals


def _clip(amplitude: float = 1.0, *, fps: float = FPS, duration_s: float = 5.5, **kwargs):  # noqa: ANN202
    from lipauth.synth import make_talking_clip

    t = np.arange(int(round(duration_s * fps))) / fps
    opening, intervals = _opening(t)
    return make_talking_clip(
        None,
        duration_s=duration_s,
        fps=fps,
        opening=opening * amplitude,
        speech_intervals_s=intervals,
        audio=None,
        seed=kwargs.pop("seed", 1),
        **kwargs,
    )


@pytest.fixture(scope="module")
def backend():  # noqa: ANN201
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    b = MediaPipeBackend()
    yield b
    b.close()


def _track(clip, backend):  # noqa: ANN001, ANN202
    from lipauth.tracking import track_lips

    video = clip.to_video()
    return video, track_lips(video, backend=backend)


@pytest.fixture(scope="module")
def sweep(backend):  # noqa: ANN001, ANN201
    out = {}
    for amp in (1.0, 0.5, 0.25, 0.1):
        clip = _clip(amp, noise_std=2.0)
        video, track = _track(clip, backend)
        out[amp] = (clip, track, extract_lip_features(track, video))
    return out


def _mask(intervals, t: np.ndarray) -> np.ndarray:  # noqa: ANN001
    m = np.zeros(t.shape, dtype=bool)
    for a, b, *_ in intervals:
        m |= (t >= a) & (t < b)
    return m


def test_micro_movement_index_and_energy_rise_with_amplitude(sweep) -> None:  # noqa: ANN001
    amps = sorted(sweep)
    mmi = [sweep[a][2].micro_movement_index for a in amps]
    energy = []
    for a in amps:
        clip, _, feats = sweep[a]
        m = _mask(clip.speech_intervals_s, feats.timestamps_s)
        energy.append(float(np.median(feats.motion_energy[m])))
    assert all(x < y for x, y in zip(mmi, mmi[1:])), mmi
    assert all(x < y for x, y in zip(energy, energy[1:])), energy


@pytest.mark.parametrize("with_video", [True, False])
def test_micro_movements_found_at_tenth_amplitude(sweep, with_video: bool) -> None:  # noqa: ANN001
    clip, track, feats = sweep[0.1]
    if not with_video:
        feats = extract_lip_features(track)
        assert not feats.has_appearance
    t = feats.timestamps_s
    truth = _mask(clip.speech_intervals_s, t)
    found = _mask(feats.segments, t)
    recall = (truth & found).sum() / truth.sum()
    assert recall >= 0.9, (recall, feats.segments)
    assert all(s[2] == "micro" for s in feats.segments)
    assert any(s[2] == "normal" for s in sweep[1.0][2].segments)


def test_still_face_with_noise_has_no_false_segment(backend) -> None:  # noqa: ANN001
    from lipauth.synth import make_talking_clip

    # 20 s at one false segment per minute allows 0.33: none may be found
    clip = make_talking_clip(None, duration_s=20.0, fps=FPS, opening=np.zeros(600), audio=None, noise_std=3.0, seed=3)
    video, track = _track(clip, backend)
    feats = extract_lip_features(track, video)
    assert feats.segments == ()
    assert extract_lip_features(track).segments == ()


def _summary(feats: LipFeatures) -> np.ndarray:
    width = np.median(feats.column("width"))
    cols = []
    for name in ("opening", "upper_thickness", "lower_thickness"):
        x = feats.column(name)[feats.valid]
        cols += [np.percentile(x, 50) / width, np.percentile(x, 90) / width]
    return np.array(cols)


@pytest.mark.parametrize(
    "change",
    [
        {"face_width_px": 80},
        {"face_width_px": 320},
        {"head_motion": True, "max_angle_deg": 0.0, "max_scale_change": 0.0},
        {"lighting_change": True, "light_gain_end": 0.7, "light_gamma_end": 1.0},
        {"lighting_change": True, "light_gain_end": 1.3, "light_gamma_end": 1.0},
        {"fps": 25.0},
    ],
    ids=["scale_x0.5", "scale_x2", "translation", "darker_30", "brighter_30", "fps25"],
)
def test_shape_features_invariant(backend, change: dict) -> None:  # noqa: ANN001
    ref_clip = _clip(1.0, face_width_px=160)
    _, ref_track = _track(ref_clip, backend)
    kwargs = {"face_width_px": 160, **change}
    clip = _clip(1.0, **kwargs)
    _, track = _track(clip, backend)
    ref = _summary(extract_lip_features(ref_track))
    got = _summary(extract_lip_features(track))
    # opening relative to mouth width; 5 % of the reference's 90th-percentile opening
    tol = 0.05 * np.maximum(np.abs(ref), ref[1])
    assert np.all(np.abs(got - ref) <= tol), (ref, got)


def test_shape_from_landmarks_geometry() -> None:
    # a circle of radius 0.2 sampled along the 20 outer and 20 inner points
    ang_outer = np.pi - np.arange(20) * (2 * np.pi / 20)  # from the left corner, clockwise on screen
    outer = 0.2 * np.stack([np.cos(ang_outer), -np.sin(ang_outer)], axis=1)
    inner = 0.5 * outer
    lm = np.concatenate([outer, inner])[None].astype(np.float32)
    feats = dict(zip(SHAPE_FEATURES, shape_from_landmarks(lm)[0]))
    assert feats["width"] == pytest.approx(0.4, rel=1e-5)
    assert feats["roundness"] == pytest.approx(1.0, abs=0.02)
    assert feats["outer_area"] == pytest.approx(np.pi * 0.04, rel=0.02)
    assert feats["inner_area"] == pytest.approx(np.pi * 0.01, rel=0.02)
    assert feats["upper_thickness"] == pytest.approx(0.1, rel=1e-4)
    assert feats["left_corner_x"] == pytest.approx(-0.2, rel=1e-5)
    assert feats["aspect_ratio"] == pytest.approx(1.0, rel=1e-4)


def test_derivative_is_per_second_at_any_frame_rate() -> None:
    for fps in (25.0, 30.0):
        t = np.arange(50) / fps
        v = derivative((0.3 * t)[:, None], t)
        assert np.allclose(v, 0.3)


def test_fill_gaps_short_bridged_long_masked() -> None:
    t = np.arange(20) / 10.0
    x = np.arange(20, dtype=float)[:, None]
    x[3:5] = np.nan  # 0.3 s from last to next frame: bridged
    x[8:16] = np.nan  # long
    filled, valid = fill_gaps(x, t, max_gap_s=0.3)
    assert np.isfinite(filled).all()
    assert filled[3, 0] == pytest.approx(3.0)
    assert valid[3:5].all() and not valid[8:16].any() and valid[16:].all()


def _with_gaps(track: LipTrack, lost: np.ndarray) -> LipTrack:
    det = track.detected & ~lost
    lm = track.landmarks_norm.copy()
    lm[~det] = np.nan
    return dataclasses.replace(track, detected=det, landmarks_norm=lm)


def test_gaps_never_leak_nan_and_round_trip(sweep) -> None:  # noqa: ANN001
    _, track, _ = sweep[1.0]
    lost = np.zeros(track.n_frames, dtype=bool)
    lost[10:13] = True
    lost[60:100] = True
    feats = extract_lip_features(_with_gaps(track, lost))
    for arr in (feats.shape, feats.velocity, feats.acceleration, feats.motion_energy):
        assert np.isfinite(arr).all()
    assert feats.valid[10:13].all() and not feats.valid[60:100].any()
    assert feats.shape.shape == (track.n_frames, len(SHAPE_FEATURES)) and feats.shape.dtype == np.float32
    assert feats.similarity.shape == (0,) and np.isnan(feats.micro_movement_index)
    assert feats.flow.shape == (0, len(feats.flow_names))
    back = LipFeatures.from_dict(feats.to_dict())
    assert back.flow.shape == feats.flow.shape and back.histograms.shape == feats.histograms.shape
    assert np.array_equal(back.shape, feats.shape) and back.segments == feats.segments
    assert FeatureConfig.from_dict(back.config) == FeatureConfig()


def test_round_trip_with_appearance(sweep) -> None:  # noqa: ANN001
    _, track, feats = sweep[0.5]
    assert feats.similarity.shape == (track.n_frames,)
    assert feats.flow.shape == (track.n_frames, len(feats.flow_names))
    assert feats.histograms.shape[0] == feats.histogram_times_s.shape[0] > 0
    back = LipFeatures.from_dict(feats.to_dict())
    assert np.allclose(back.histograms, feats.histograms) and back.micro_movement_index == feats.micro_movement_index


def test_too_few_detected_frames(sweep) -> None:  # noqa: ANN001
    _, track, _ = sweep[1.0]
    lost = np.ones(track.n_frames, dtype=bool)
    lost[:4] = False
    with pytest.raises(InsufficientDataError, match="at least 5"):
        extract_lip_features(_with_gaps(track, lost))


def test_bad_inputs(sweep) -> None:  # noqa: ANN001
    clip, track, _ = sweep[1.0]
    with pytest.raises(InputError, match="not a LipTrack"):
        extract_lip_features(clip)  # type: ignore[arg-type]
    short = _clip(1.0, duration_s=1.0).to_video()
    with pytest.raises(InputError, match="frames but the track has"):
        extract_lip_features(track, short)
    with pytest.raises(ConfigError, match=r"FeatureConfig.k_high=0.2 is out of range"):
        FeatureConfig(k_high=0.2)
    with pytest.raises(ConfigError, match=r"FeatureConfig.min_low=1.0 is out of range"):
        FeatureConfig(min_low=1.0)
