"""Blow detection on synthetic sounds with known answers (real recordings: test_liveness_realdata.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lipauth.errors import ConfigError, InputError
from lipauth.features.breath import blow_probability, blow_segments, breath_frames
from lipauth.synth.control import random_syllable_schedule
from lipauth.synth.voice import blow_noise, voiced_syllables
from lipauth.types import Audio

SR = 16000


def _audio(x: np.ndarray, start_s: float = 0.0) -> Audio:
    return Audio(samples=np.asarray(x, dtype=np.float32), sample_rate=SR, start_s=start_s)


def _blow(windows, duration_s=6.0, seed=0, level=0.1):
    return blow_noise(windows, duration_s=duration_s, sample_rate=SR, band_hz=(60.0, 2500.0), level=level, seed=seed)


def _fan(n: int, level: float, seed: int = 0) -> np.ndarray:
    from scipy import signal

    rng = np.random.default_rng(seed)
    b, a = signal.butter(2, 900, fs=SR)
    x = signal.lfilter(b, a, rng.standard_normal(n))
    t = np.arange(n) / SR
    x = x / np.std(x) + 0.5 * np.sin(2 * np.pi * 100 * t)
    return level * x / np.sqrt(np.mean(x**2))


@pytest.mark.parametrize("level", [0.02, 0.1, 0.4])
def test_blow_found_where_it_is(level: float) -> None:
    windows = [(1.0, 2.5), (4.0, 5.0)]
    x = _blow(windows, level=level) + 1e-4 * np.random.default_rng(1).standard_normal(6 * SR)
    bf = breath_frames(_audio(x))
    segs = blow_segments(bf.times_s, bf.probability)
    assert len(segs) == 2
    for (a, b), (s, e, p) in zip(windows, segs):
        assert abs(s - a) < 0.2 and abs(e - b) < 0.2 and p > 0.5


def test_speech_silence_click_not_blow() -> None:
    voice = voiced_syllables(random_syllable_schedule(6.0, seed=3), sample_rate=SR, seed=3)
    bf = breath_frames(_audio(voice))
    # the synthetic voice has breathy syllable edges: a few frames, never a long segment
    assert (bf.probability > 0.5).mean() <= 0.03
    assert all(e - s < 0.3 for s, e, _ in blow_segments(bf.times_s, bf.probability))
    silence = 1e-4 * np.random.default_rng(0).standard_normal(6 * SR)
    assert (breath_frames(_audio(silence)).probability > 0.5).mean() == 0.0
    clicks = silence.copy()
    for k in range(1, 6):  # 5-ms taps
        clicks[k * SR : k * SR + 80] += np.random.default_rng(k).uniform(-0.5, 0.5, 80)
    bf = breath_frames(_audio(clicks))
    assert blow_segments(bf.times_s, bf.probability) == []


def test_steady_fan_is_floor_blow_over_fan_is_found() -> None:
    fan = _fan(8 * SR, 10 ** (-40 / 20))
    bf = breath_frames(_audio(fan))
    assert (bf.probability > 0.5).mean() <= 0.01
    windows = [(2.0, 3.5), (5.0, 6.2)]
    bf = breath_frames(_audio(fan + _blow(windows, duration_s=8.0, level=0.1)))
    segs = blow_segments(bf.times_s, bf.probability)
    assert [round(s) for s, _, _ in segs] == [2, 5]


def test_video_timestamps_and_start_offset() -> None:
    windows = [(1.0, 2.5)]
    x = _blow(windows, duration_s=4.0)
    t_video = np.arange(0, 4.0, 1 / 25)
    t, p = blow_probability(_audio(x), timestamps_s=t_video)
    assert t.shape == p.shape == t_video.shape
    inside = (t > 1.2) & (t < 2.3)
    assert p[inside].min() > 0.5 and p[(t < 0.8) | (t > 2.8)].max() < 0.2
    # audio starting 0.5 s after the first frame moves the blow by 0.5 s on the video axis
    _, p2 = blow_probability(_audio(x, start_s=0.5), timestamps_s=t_video)
    assert p2[(t > 1.7) & (t < 2.8)].min() > 0.5 and p2[t < 1.3].max() < 0.2


def test_bad_input() -> None:
    with pytest.raises(InputError, match="too short"):
        breath_frames(_audio(np.zeros(100)))
    with pytest.raises(InputError, match="pass a lipauth.types.Audio"):
        breath_frames(np.zeros(16000))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sample_rate=4000"):
        breath_frames(Audio(samples=np.zeros(8000, np.float32), sample_rate=4000))
    with pytest.raises(ConfigError, match="floor_window_s"):
        breath_frames(_audio(np.zeros(SR)), floor_window_s=0.1)
    with pytest.raises(InputError, match="same length"):
        blow_segments(np.zeros(3), np.zeros(4))
    with pytest.raises(InputError, match="timestamps_s"):
        blow_probability(_audio(np.zeros(SR)), timestamps_s=np.array([[0.0]]))
