"""Synthetic challenge-response sessions for the liveness tests and benchmark.

A session is a synth face (``lipauth.synth.make_talking_clip``) that purses its lips in
the challenge's blow windows, with real exhale bursts from ``../shared/data/breathing``
placed in those windows (a human lag of 0.1-0.3 s), at a chosen loudness, optionally over
steady fan noise. Attacks change one ingredient (see :data:`ATTACKS`).

Exhale bursts: runs where the 100-ms energy envelope stays more than 10 dB above the
file's 10th-percentile level for at least 0.3 s and whose power is mostly below 1.5 kHz
(air hitting the microphone), longest first.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from lipauth.challenge import Challenge
from lipauth.types import Audio

SR = 16000
#: breathing files used to build sessions (held out from the detector's tuning)
SESSION_BREATH_FILES = (
    "model_oddech_test_different_breathing.wav",
    "model_oddech_test_main_stopping_breathing3.wav",
    "model_oddech_walidate_main_audio_without_noise.wav",
)
ATTACKS = ("replay_new_challenge", "speech_instead", "sound_still_mouth", "pursed_no_sound", "photo_breath_audio")


def envelope_bursts(samples: np.ndarray, *, sample_rate: int = SR, min_s: float = 0.3, rise_db: float = 10.0) -> list[tuple[int, int]]:
    """``(start, end)`` sample indices of envelope bursts (definition in the module docstring)."""
    from scipy import ndimage

    hop = sample_rate // 100
    n = samples.size // hop
    e = 10 * np.log10(np.mean(samples[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-12)
    sm = ndimage.uniform_filter1d(e, 10)
    on = sm > np.percentile(sm, 10) + rise_db
    out = []
    i = 0
    while i < n:
        if on[i]:
            j = i
            while j + 1 < n and on[j + 1]:
                j += 1
            if (j - i + 1) / 100.0 >= min_s:
                out.append((i * hop, (j + 1) * hop))
            i = j + 1
        else:
            i += 1
    return out


def _low_share(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / SR)
    return float(spec[(f > 50) & (f < 1500)].sum() / max(spec[(f > 50) & (f < 8000)].sum(), 1e-20))


@lru_cache(maxsize=4)
def exhale_bursts(root: Path, files: tuple[str, ...] = SESSION_BREATH_FILES) -> tuple[np.ndarray, ...]:
    """Exhale bursts (float32 at 16 kHz, each at least 0.8 s) from the breathing files."""
    from lipauth.io import load_audio

    out = []
    for name in files:
        x = load_audio(root / name, sample_rate=SR).samples
        for a, b in envelope_bursts(x):
            seg = x[a:b]
            if seg.size >= 0.8 * SR and _low_share(seg) > 0.8:
                out.append(seg)
    out.sort(key=lambda s: -s.size)
    return tuple(out)


def fan_noise(n: int, rng: np.random.Generator, *, level_db: float) -> np.ndarray:
    """Steady fan noise: low-passed noise plus a 100-Hz hum with harmonics, RMS at ``level_db`` dBFS."""
    from scipy import signal

    b, a = signal.butter(2, 900, fs=SR)
    x = signal.lfilter(b, a, rng.standard_normal(n))
    t = np.arange(n) / SR
    x = x / np.std(x) + 0.5 * np.sin(2 * np.pi * 100 * t) + 0.25 * np.sin(2 * np.pi * 200 * t)
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)).astype(np.float32)


def breath_audio(
    windows: list[tuple[float, float]],
    duration_s: float,
    bursts: tuple[np.ndarray, ...],
    rng: np.random.Generator,
    *,
    level_db: float = -30.0,
    fan_db: float | None = None,
    lag_s: tuple[float, float] = (0.1, 0.3),
) -> Audio:
    """Real exhale bursts (synthetic blow noise when ``bursts`` is empty) placed in ``windows`` (RMS ``level_db`` dBFS), optional fan noise."""
    n = int(round(duration_s * SR))
    y = np.zeros(n, dtype=np.float64)
    for a, b in windows:
        start = a + rng.uniform(*lag_s)
        length = int((b - start + rng.uniform(-0.05, 0.15)) * SR)
        if not bursts:  # no real recordings: synthetic turbulent noise
            from lipauth.synth.voice import blow_noise

            burst = blow_noise([(0.0, length / SR)], duration_s=length / SR + 0.01, sample_rate=SR,
                               band_hz=(60.0, 2500.0), seed=int(rng.integers(1 << 30))).astype(np.float64)
        else:
            burst = bursts[int(rng.integers(len(bursts)))].astype(np.float64)
        while burst.size < length:  # long window: join two bursts
            burst = np.concatenate([burst, bursts[int(rng.integers(len(bursts)))]])
        seg = burst[:length] / (np.sqrt(np.mean(burst[:length] ** 2)) + 1e-12) * 10 ** (level_db / 20)
        ramp = min(int(0.05 * SR), length // 4)
        fade = np.ones(length)
        fade[:ramp] = np.linspace(0, 1, ramp)
        fade[-ramp:] = np.linspace(1, 0, ramp)
        i0 = int(start * SR)
        seg = (seg * fade)[: max(0, n - i0)]
        y[i0 : i0 + seg.size] += seg
    if fan_db is not None:
        y += fan_noise(n, rng, level_db=fan_db)
    else:
        y += 1e-4 * rng.standard_normal(n)  # microphone self-noise
    return Audio(samples=np.clip(y, -1, 1).astype(np.float32), sample_rate=SR, start_s=0.0, codec="pcm_f32le", source="<session>")


def make_session(
    challenge: Challenge,
    bursts: tuple[np.ndarray, ...],
    *,
    seed: int = 0,
    mouth: str = "blow",
    sound: str = "breath",
    level_db: float = -30.0,
    fan_db: float | None = None,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    face_width_px: float = 150,
    extra_s: float = 0.4,
    always: bool = False,
):
    """A synth clip answering ``challenge``.

    mouth : "blow" (pursed in the windows), "still" (neutral throughout), "speak"
        (random syllables instead of blowing), "photo" (a still image).
    sound : "breath" (real exhale bursts in the windows), "silence", "speech" (voiced syllables).
    always : blow (mouth and sound) from 0.3 s to the end instead of in the windows.
    extra_s : seconds of rest after the schedule (a replayed answer is padded this way).
    """
    from lipauth.synth import make_talking_clip
    from lipauth.synth.clip import make_still_clip
    from lipauth.synth.control import blow_schedule

    rng = np.random.default_rng(seed)
    windows = challenge.prompt_windows("blow") or challenge.prompt_windows()
    duration = challenge.duration_s + extra_s
    if always:
        windows = [(0.3, duration - 0.1)]
    n = int(round(duration * fps))
    t = np.arange(n) / fps
    if sound == "breath":
        audio = breath_audio(windows, duration, bursts, rng, level_db=level_db, fan_db=fan_db)
    elif sound == "silence":
        x = 1e-4 * rng.standard_normal(int(duration * SR))
        if fan_db is not None:
            x = x + fan_noise(x.size, rng, level_db=fan_db)
        audio = Audio(samples=x.astype(np.float32), sample_rate=SR, source="<session>")
    elif sound == "speech":
        audio = "syllables"
    else:
        raise ValueError(sound)
    common = dict(duration_s=duration, fps=fps, size=size, face_width_px=face_width_px, seed=seed)
    if mouth == "photo":
        return make_still_clip(audio=audio, **common)
    if mouth == "blow":
        # human lag: the lips follow the prompt 0.1-0.2 s late
        lag = float(rng.uniform(0.1, 0.2))
        opening, width = blow_schedule([(a + lag, min(b + lag, duration - 0.05)) for a, b in windows], t)
        return make_talking_clip(opening=opening, width=width, audio=audio, noise_std=2.0, **common)
    if mouth == "still":
        return make_talking_clip(opening=np.zeros(n), width=np.zeros(n), audio=audio, noise_std=2.0, **common)
    if mouth == "speak":
        return make_talking_clip(audio=audio, noise_std=2.0, **common)
    raise ValueError(mouth)


def motion_trace(kind: str, *, seed: int = 0, duration_s: float = 6.0, rate_hz: float = 60.0, tremor_gain: float = 1.0) -> list[dict]:
    """Synthetic DeviceMotion samples: ``"hand"`` (8-12 Hz tremor + slow drift + sensor
    noise), ``"rig"`` (still on a table: quantisation-level noise only), ``"emulator"``
    (constant values)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz + rng.uniform(0, 0.002, n)
    t[0] = 0.0
    g = np.array([0.0, 6.9, 6.9])  # phone tilted 45 degrees towards the face
    acc = np.tile(g, (n, 1))
    beta = np.full(n, 45.0)
    gamma = np.zeros(n)
    if kind == "hand":
        f = rng.uniform(8.5, 11.5)
        amp = tremor_gain * rng.uniform(0.04, 0.1)
        for k in range(3):
            acc[:, k] += amp * np.sin(2 * np.pi * (f + rng.normal(0, 0.3)) * t + rng.uniform(0, 6.28))
        acc += rng.normal(0, 0.01, (n, 3))
        drift = np.cumsum(rng.normal(0, 0.05, n))
        beta += 2.0 * np.sin(2 * np.pi * 0.2 * t) + drift
        gamma += 1.5 * np.sin(2 * np.pi * 0.13 * t + 1) + 0.1 * rng.standard_normal(n)
    elif kind == "rig":
        acc += np.round(rng.normal(0, 0.003, (n, 3)) / 0.0024) * 0.0024
    elif kind != "emulator":
        raise ValueError(kind)
    beta = np.clip(beta, -180, 180)
    return [
        {"t_ms": float(1000 * t[i]), "ax": float(acc[i, 0]), "ay": float(acc[i, 1]), "az": float(acc[i, 2]),
         "alpha": 10.0, "beta": float(beta[i]), "gamma": float(gamma[i])}
        for i in range(n)
    ]


def make_speech_session(challenge: Challenge, *, seed: int = 0, extra_s: float = 0.4, mouth: str = "speak",
                        sound: str = "syllables", lag_s: float | None = None):
    """A synth face answering a speech challenge: fluent speech (voiced syllables with matching
    lip motion) in the speak windows, resting between them.

    The person reacts to each prompt with one reaction lag (0.1-0.25 s per session, +-0.04 s
    per edge): speech starts with a word at the window start + lag and stops (mid-word or in
    a pause between words) at the window end + lag; words of 1-4 syllables (0.15-0.3 s)
    with pauses of 0.05-0.2 s between them (reading a prompted text aloud).

    mouth : "speak" (on schedule), "always" (speaking throughout), "still" (neutral mouth).
    sound : "syllables" (the synth voice following the lips) or "silence".
    """
    from lipauth.synth import make_talking_clip
    from lipauth.synth.control import random_syllable_schedule

    rng = np.random.default_rng(seed)
    fps = 25.0
    dur = round((challenge.duration_s + extra_s) * fps) / fps
    t = np.arange(round(dur * fps)) / fps
    lag = float(rng.uniform(0.1, 0.25)) if lag_s is None else lag_s
    if mouth == "always":
        on = t >= 0.3
        spoken = random_syllable_schedule(dur, seed=seed).opening_at(t) * on
    else:
        spoken = np.zeros(t.size)
        for i, (a, b) in enumerate(challenge.prompt_windows("speak")):
            start = a + lag + float(rng.uniform(-0.04, 0.04))
            stop = b + lag + float(rng.uniform(-0.04, 0.04))
            words = random_syllable_schedule(b - a + 1.0, seed=seed * 100 + i, lead_in_s=0.0, rest_s=(0.05, 0.2))
            inside = (t >= start) & (t < stop)
            spoken[inside] = words.opening_at(t[inside] - start)
    opening = np.zeros(t.size) if mouth == "still" else spoken
    audio = "syllables" if sound == "syllables" else "silence"
    if mouth == "still" and sound == "syllables":  # voice on schedule, mouth still
        from lipauth.synth.voice import voice_from_opening

        audio = voice_from_opening(spoken, t, duration_s=dur, sample_rate=SR)
    return make_talking_clip(opening=opening, audio=audio, duration_s=dur, fps=fps, size=(320, 240),
                             face_width_px=150, seed=seed, noise_std=2.0)
