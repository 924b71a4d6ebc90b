"""lipauth.checks.sync and lipauth.eval.attacks on synthetic clips with known answers.

The synthetic "speaker": amplitude-modulated voiced syllables whose lip opening follows
the voice envelope. A model fitted on such clips must find a known audio shift, accept
the genuine pairing, and reject still lips, silence and misaligned audio.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipauth.checks.sync import (
    SyncModel,
    SyncResult,
    check_sync,
    fit_sync_model,
    load_sync_model,
)
from lipauth.errors import ConfigError, InputError, SilentAudioError, TooShortError
from lipauth.eval.attacks import (
    loop_track,
    shift_audio,
    silence_audio,
    still_video,
    swap_audio,
)
from lipauth.features import SHAPE_FEATURES
from lipauth.types import Audio, LipFeatures, LipTrack, Video

SR = 16000
FPS = 25.0


def _clip(seed: int, *, duration_s: float = 4.0) -> tuple[LipFeatures, Audio]:
    """Random syllables: voice (harmonics, random pitch/colour) and a matching lip opening."""
    rng = np.random.default_rng(seed)
    t_a = np.arange(int(duration_s * SR)) / SR
    env = np.zeros_like(t_a)
    x = np.zeros_like(t_a)
    s = 0.2
    while s < duration_s - 0.4:
        d = rng.uniform(0.12, 0.35)
        on = (t_a >= s) & (t_a < s + d)
        env[on] = np.sin(np.pi * (t_a[on] - s) / d) * rng.uniform(0.5, 1.0)
        f0 = rng.uniform(100, 220)
        tilt = rng.uniform(0.5, 1.5)
        x[on] += sum(np.sin(2 * np.pi * f0 * k * t_a[on]) / k**tilt for k in range(1, 20))
        s += d + rng.uniform(0.05, 0.3)
    x = 0.1 * x * env + 0.002 * rng.standard_normal(t_a.size)
    audio = Audio(samples=x.astype(np.float32), sample_rate=SR, source=f"synthetic{seed}")
    t_v = np.arange(int(duration_s * FPS)) / FPS
    opening = np.interp(t_v, t_a, env) * 0.1 + 0.005 * rng.standard_normal(t_v.size)
    shape = np.zeros((t_v.size, len(SHAPE_FEATURES)), np.float32)
    cols = {n: i for i, n in enumerate(SHAPE_FEATURES)}
    shape[:, cols["opening"]] = opening
    shape[:, cols["inner_area"]] = opening * 0.3
    shape[:, cols["outer_area"]] = 0.1 + opening * 0.4
    shape[:, cols["aspect_ratio"]] = 0.3 + opening
    shape[:, cols["width"]] = 0.5 - 0.3 * opening + 0.002 * rng.standard_normal(t_v.size)
    shape[:, cols["upper_thickness"]] = 0.05 + 0.002 * rng.standard_normal(t_v.size)
    shape[:, cols["lower_thickness"]] = 0.06 - 0.1 * opening
    n = t_v.size
    zeros = np.zeros_like(shape)
    # 40 lip points on an ellipse whose height follows the opening, with tracker jitter
    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    half_h = 0.05 + opening[:, None] * np.abs(np.sin(theta))[None, :]
    landmarks = np.stack([np.broadcast_to(0.5 * np.cos(theta), (n, 40)), half_h * np.sign(np.sin(theta) + 1e-9)], axis=-1)
    landmarks = (landmarks + 0.002 * rng.standard_normal(landmarks.shape)).astype(np.float32)
    velocity = np.gradient(shape, t_v, axis=0).astype(np.float32)
    feats = LipFeatures(
        timestamps_s=t_v,
        valid=np.ones(n, bool),
        shape=shape,
        velocity=velocity,
        acceleration=zeros,
        motion_energy=np.zeros(n, np.float32),
        similarity=np.zeros(0, np.float32),
        flow=np.zeros((0, 0), np.float32),
        histograms=np.zeros((0, 0), np.float32),
        histogram_times_s=np.zeros(0),
        shape_names=SHAPE_FEATURES,
        landmarks=landmarks,
    )
    return feats, audio


@pytest.fixture(scope="module")
def model() -> SyncModel:
    return fit_sync_model([_clip(s) for s in range(8)], threshold=0.2, trained_on="synthetic")


def test_genuine_clip_is_accepted_at_zero_offset(model: SyncModel) -> None:
    feats, audio = _clip(100)
    res = check_sync(feats, audio, model=model)
    assert isinstance(res, SyncResult)
    assert res.accepted and res.reasons == ()
    assert abs(res.offset_ms) <= 20
    assert res.score > 0.4 and res.confidence > 1.5
    assert res.lags_ms.shape == res.correlations.shape == (201,)
    assert res.window_times_s.shape == res.window_agreement.shape and res.window_agreement.size >= 3


@pytest.mark.parametrize("offset_ms", [-600, -300, 320, 480, 900])
def test_shifted_audio_offset_is_found_and_rejected(model: SyncModel, offset_ms: int) -> None:
    feats, audio = _clip(101)
    res = check_sync(feats, shift_audio(audio, offset_ms), model=model)
    assert abs(res.offset_ms - offset_ms) <= 20, res.offset_ms
    assert not res.accepted and "AV_DESYNC" in res.reasons
    # delaying the stream on the time axis is the same thing to the check
    res2 = check_sync(feats, shift_audio(audio, offset_ms, mode="delay"), model=model, max_offset_ms=1000)
    assert abs(res2.offset_ms - offset_ms) <= 20


def test_swapped_audio_is_rejected(model: SyncModel) -> None:
    feats, audio = _clip(102)
    _, other = _clip(103)
    res = check_sync(feats, swap_audio(audio, other), model=model)
    assert not res.accepted and res.score < 0.2


def test_still_lips_with_voice_and_no_speech() -> None:
    feats, audio = _clip(104)
    still = dataclasses.replace(
        feats,
        shape=np.repeat(feats.shape[:1], feats.n_frames, axis=0),
        landmarks=np.repeat(feats.landmarks[:1], feats.n_frames, axis=0),
    )
    res = check_sync(still, audio, model=load_sync_model())
    assert not res.accepted and res.reasons == ("STILL_FACE_WITH_VOICE",)
    noise = silence_audio(audio, level_dbfs=-40)
    res = check_sync(feats, noise, model=load_sync_model())
    assert not res.accepted and res.reasons == ("NO_SPEECH",)
    res = check_sync(still, noise, model=load_sync_model())
    assert set(res.reasons) == {"NO_LIP_MOTION", "NO_SPEECH"}


def test_result_and_model_round_trip(model: SyncModel, tmp_path) -> None:
    feats, audio = _clip(105)
    res = check_sync(feats, audio, model=model)
    back = SyncResult.from_dict(res.to_dict())
    assert back.offset_ms == res.offset_ms and back.accepted == res.accepted
    np.testing.assert_allclose(back.correlations, res.correlations)
    path = model.save(tmp_path / "m.npz")
    loaded = SyncModel.load(path)
    for (w1, b1), (w2, b2) in zip(loaded.lip_layers + loaded.audio_layers, model.lip_layers + model.audio_layers):
        np.testing.assert_allclose(w1, w2)
        np.testing.assert_allclose(b1, b2)
    assert loaded.trained_on == "synthetic" and loaded.threshold == 0.2 and loaded.far_ms == 300.0
    np.testing.assert_allclose(
        check_sync(feats, audio, model=loaded).correlations, res.correlations, rtol=1e-5, atol=1e-6
    )


def test_shipped_model_is_small_and_documented() -> None:
    from pathlib import Path

    import lipauth.checks.sync_model as mod

    m = load_sync_model()
    assert Path(mod._DEFAULT_MODEL).stat().st_size < 400_000
    assert m.lip_layers[0][0].shape[0] == 5 * 80 and m.audio_layers[0][0].shape[0] == 9 * 40
    assert m.lip_layers[-1][0].shape[1] == m.audio_layers[-1][0].shape[1]
    assert "leave-people-out" in m.trained_on and "27 people" in m.trained_on
    assert -0.3 < m.threshold < 0.3 and 50 <= m.tolerance_ms <= 200 and m.far_ms == 300.0
    assert m.pooling == "correlation" and m.lip_layers[-1][0].shape[1] == 16


def test_pooling_is_a_normalised_cross_correlation_and_old_files_load_as_cosine(model: SyncModel, tmp_path) -> None:
    """The lag curve of a ``pooling="correlation"`` model is sum l.a / sqrt(sum |l|^2 sum |a|^2)
    over the frames; a model file written before the field existed loads as ``"cosine"``."""
    from lipauth.checks.sync_model import _audio_windows, _tower, audio_grid, lag_curve, lip_windows

    assert model.pooling == "correlation"
    feats, audio = _clip(106)
    r = lag_curve(feats, audio, lags_ms=np.array([0.0]), model=model)
    t = feats.timestamps_s
    g0, mel, inside = audio_grid(audio, float(t[0]) - 0.3, float(t[-1]) + 0.3, model)
    idx = np.round((t - g0) / 0.01).astype(int)
    use = feats.valid & inside[idx]
    el = _tower(lip_windows(feats, model, feats.valid), model.lip_layers, unit=False)[use].astype(np.float64)
    ea = _tower(_audio_windows(mel, model)[idx], model.audio_layers, unit=False)[use].astype(np.float64)
    want = np.sum(el * ea) / np.sqrt(np.sum(el**2) * np.sum(ea**2))
    assert r[0] == pytest.approx(want, abs=1e-5)
    path = model.save(tmp_path / "m.npz")
    with np.load(path) as z:
        old = {k: z[k] for k in z.files if k != "pooling"}
    np.savez(tmp_path / "old.npz", **old)
    assert SyncModel.load(tmp_path / "old.npz").pooling == "cosine"
    with pytest.raises(ConfigError, match="pooling='mean'"):
        dataclasses.replace(model, pooling="mean")


def test_features_without_landmarks_are_refused(model: SyncModel) -> None:
    feats, audio = _clip(110)
    bare = dataclasses.replace(feats, landmarks=np.zeros((0, 40, 2), np.float32))
    with pytest.raises(InputError, match="no lip landmarks"):
        check_sync(bare, audio, model=model)


def test_bad_input(model: SyncModel) -> None:
    feats, audio = _clip(106)
    with pytest.raises(InputError, match="do not overlap in time"):
        check_sync(feats, dataclasses.replace(audio, start_s=10.0), model=model)
    with pytest.raises(TooShortError, match="overlap for 0.50 s"):
        check_sync(feats, dataclasses.replace(audio, start_s=3.46), model=model)
    with pytest.raises(TooShortError, match="no samples"):
        check_sync(feats, dataclasses.replace(audio, samples=np.zeros(0, np.float32)), model=model)
    with pytest.raises(SilentAudioError, match="audio is silent"):
        check_sync(feats, silence_audio(audio), model=model)
    with pytest.raises(InputError, match="pass LipFeatures"):
        check_sync(audio, audio, model=model)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="pass an Audio"):
        check_sync(feats, audio.samples, model=model)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_offset_ms=10"):
        check_sync(feats, audio, model=model, max_offset_ms=10)
    with pytest.raises(ConfigError, match="threshold=-3"):
        check_sync(feats, audio, model=model, threshold=-3)
    with pytest.raises(InputError, match="sync model not found"):
        SyncModel.load("/nonexistent/model.npz")


def test_any_sample_rate_and_channel_mix_just_works(model: SyncModel) -> None:
    feats, audio = _clip(107)
    t = np.arange(audio.n_samples * 3) / (SR * 3)
    x48 = np.interp(t, np.arange(audio.n_samples) / SR, audio.samples).astype(np.float32)
    res = check_sync(feats, Audio(samples=x48, sample_rate=48000), model=model)
    assert res.accepted and abs(res.offset_ms) <= 20


# -- attacks -------------------------------------------------------------------------


def test_attack_generators() -> None:
    _, audio = _clip(108, duration_s=2.0)
    rolled = shift_audio(audio, 250)
    np.testing.assert_array_equal(rolled.samples[4000:], audio.samples[:-4000])
    assert shift_audio(audio, -100, mode="delay").start_s == pytest.approx(-0.1)
    _, donor = _clip(109, duration_s=0.7)
    swapped = swap_audio(audio, donor)
    assert swapped.n_samples == audio.n_samples and swapped.start_s == audio.start_s
    np.testing.assert_array_equal(swapped.samples[: donor.n_samples], donor.samples)
    assert not silence_audio(audio).samples.any()
    frames = np.random.default_rng(0).integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    video = Video(frames=frames, timestamps_s=np.arange(10) / 25.0, width=8, height=8)
    still = still_video(video, frame_index=3)
    assert still.n_frames == 10 and all((f == frames[3]).all() for _, f in still.iter_frames())
    n = 20
    track = LipTrack(
        timestamps_s=np.arange(n) / 25.0, detected=np.ones(n, bool), face_box=np.zeros((n, 4), np.float32),
        labial_box=np.zeros((n, 4), np.float32), landmarks_px=np.arange(n * 80, dtype=np.float32).reshape(n, 40, 2),
        landmarks_norm=np.zeros((n, 40, 2), np.float32), pose=np.zeros((n, 3), np.float32),
        quality=np.zeros(n, np.uint8), n_faces=np.ones(n, np.uint8),
    )
    looped = loop_track(track, period_s=0.2)
    np.testing.assert_array_equal(looped.landmarks_px[5], track.landmarks_px[0])
    np.testing.assert_array_equal(looped.timestamps_s, track.timestamps_s)
    with pytest.raises(ConfigError, match="frame_index=10"):
        still_video(video, frame_index=10)
    with pytest.raises(ConfigError, match="mode='x'"):
        shift_audio(audio, 10, mode="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="period_s=0"):
        loop_track(track, period_s=0)
    with pytest.raises(InputError, match="donor has no samples"):
        swap_audio(audio, dataclasses.replace(donor, samples=np.zeros(0, np.float32)))


def test_loop_from_a_start_time() -> None:
    n = 50
    track = LipTrack(
        timestamps_s=np.arange(n) / 25.0, detected=np.ones(n, bool), face_box=np.zeros((n, 4), np.float32),
        labial_box=np.zeros((n, 4), np.float32), landmarks_px=np.arange(n * 80, dtype=np.float32).reshape(n, 40, 2),
        landmarks_norm=np.zeros((n, 40, 2), np.float32), pose=np.zeros((n, 3), np.float32),
        quality=np.zeros(n, np.uint8), n_faces=np.ones(n, np.uint8),
    )
    looped = loop_track(track, period_s=0.2, start_s=1.0)  # frames 25-29 over and over
    np.testing.assert_array_equal(looped.landmarks_px[0], track.landmarks_px[25])
    np.testing.assert_array_equal(looped.landmarks_px[7], track.landmarks_px[27])
    with pytest.raises(ConfigError, match="start_s=5"):
        loop_track(track, start_s=5)


def test_looped_lips_are_refused(model: SyncModel) -> None:
    feats, audio = _clip(111)
    period = int(0.5 * FPS)
    idx = np.arange(feats.n_frames) % period
    looped = dataclasses.replace(feats, landmarks=feats.landmarks[idx], shape=feats.shape[idx])
    res = check_sync(looped, audio, model=model)
    assert not res.accepted and "LOOPED_LIPS" in res.reasons and res.details["lip_repetition"] < 0.05
    # speech (random syllables, tracker jitter) does not repeat itself
    res = check_sync(feats, audio, model=model)
    assert "LOOPED_LIPS" not in res.reasons and res.details["lip_repetition"] > 0.3


@pytest.mark.slow
def test_the_demo_clip_is_in_sync(tmp_path) -> None:
    """`lipauth demo`'s synthetic talking face (the astronaut, its own synthetic voice) passes `lipauth sync`."""
    import json
    import subprocess
    import sys

    cli = [sys.executable, "-m", "lipauth.cli"]
    subprocess.run([*cli, "demo", "--out-dir", str(tmp_path)], check=True, capture_output=True, timeout=600)
    proc = subprocess.run([*cli, "sync", str(tmp_path / "demo.mp4"), "--json"], capture_output=True, text=True, timeout=600)
    res = json.loads(proc.stdout)
    assert proc.returncode == 0 and res["accepted"], res
    assert abs(res["offset_ms"]) <= 100


def _crop(feats: LipFeatures, audio: Audio, t0: float, t1: float) -> tuple[LipFeatures, Audio]:
    sel = (feats.timestamps_s >= t0) & (feats.timestamps_s < t1)
    kw = {f.name: getattr(feats, f.name)[sel] for f in dataclasses.fields(feats)
          if isinstance(getattr(feats, f.name), np.ndarray) and getattr(feats, f.name).shape[:1] == (feats.n_frames,)}
    i0, i1 = int(t0 * audio.sample_rate), int(t1 * audio.sample_rate)
    return dataclasses.replace(feats, **kw), dataclasses.replace(audio, samples=audio.samples[i0:i1], start_s=t0)


def test_face_lost_for_a_stretch_is_judged_on_the_rest(model: SyncModel) -> None:
    feats, audio = _clip(105, duration_s=6.0)
    whole = check_sync(feats, audio, model=model)
    valid = feats.valid.copy()
    valid[50:100] = False  # 2 s without a face
    # the tracker's landmarks over the gap are junk: the frames are left out, not read
    lm = feats.landmarks.copy()
    lm[50:100] = np.random.default_rng(0).standard_normal(lm[50:100].shape)
    lost = check_sync(dataclasses.replace(feats, valid=valid, landmarks=lm), audio, model=model)
    assert whole.accepted and lost.accepted, (whole.score, lost.score)
    assert abs(lost.offset_ms) <= 20
    assert lost.details["frames_used"] == whole.details["frames_used"] - 50
    assert lost.details["face_s"] == pytest.approx(whole.details["face_s"] - 2.0, abs=0.05)
    assert lost.details["speech_s"] < whole.details["speech_s"]


def test_short_clips_say_how_much_evidence_they_had(model: SyncModel) -> None:
    feats, audio = _clip(106)
    f, a = _crop(feats, audio, 1.0, 2.5)  # 1.5 s
    res = check_sync(f, a, model=model)
    assert res.accepted and abs(res.offset_ms) <= 20
    d = res.details
    assert 0.3 <= d["speech_s"] <= 1.5 and d["seconds_used"] == pytest.approx(1.5, abs=0.1)
    assert 0.0 <= d["lip_motion_s"] <= 1.5 and d["overlap_s"] == pytest.approx(1.46, abs=0.05)
    _, other = _clip(107)
    bad = check_sync(f, swap_audio(a, other), model=model)
    assert not bad.accepted and "LITTLE_SPEECH" in bad.reasons
    # a long clip rejected for another voice does not blame the length
    lf, la = _clip(108, duration_s=8.0)
    long_bad = check_sync(lf, swap_audio(la, _clip(109, duration_s=8.0)[1]), model=model)
    assert not long_bad.accepted and "LITTLE_SPEECH" not in long_bad.reasons, long_bad.details["speech_s"]
