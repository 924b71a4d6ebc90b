"""Synthetic voice and breath: voiced syllables in step with the mouth, blow noise.

Voiced syllables are a glottal pulse train (Rosenberg-like pulses, F0 with jitter and a
slow drift) filtered by two or three formant resonators of the syllable's vowel, times an
amplitude envelope that follows the mouth opening. Blowing is band-limited turbulent
noise with a slowly wandering level. Everything is 16 kHz mono float32 by default and
deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np

from lipauth.errors import ConfigError
from lipauth.synth.control import VOWELS, SyllableSchedule, _check_windows

__all__ = ["voiced_syllables", "voice_from_opening", "blow_noise", "formant_filter"]


def _check_rate(sample_rate: int) -> int:
    if int(sample_rate) != sample_rate or not 4000 <= sample_rate <= 192000:
        raise ConfigError(f"sample_rate={sample_rate!r} must be an integer from 4000 to 192000 Hz, e.g. 16000")
    return int(sample_rate)


def _pulse_train(n: int, f0_hz: np.ndarray, sample_rate: int, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Glottal flow derivative pulses at a time-varying F0 [shape=(n,)]."""
    out = np.zeros(n, dtype=np.float64)
    t = 0
    # Rosenberg pulse (opening 40 %, closing 16 % of the period), differentiated
    while t < n:
        f0 = float(f0_hz[min(t, n - 1)]) * (1.0 + jitter * float(rng.standard_normal()))
        period = max(int(round(sample_rate / max(f0, 40.0))), 8)
        tp, tn = int(0.4 * period), max(int(0.16 * period), 2)
        k = np.arange(tp + tn)
        flow = np.where(k < tp, 0.5 * (1 - np.cos(np.pi * k / tp)), np.cos(0.5 * np.pi * (k - tp) / tn))
        pulse = np.diff(flow, prepend=0.0)
        seg = out[t : t + pulse.size]
        seg += pulse[: seg.size] * (1.0 + 0.1 * float(rng.standard_normal()))  # shimmer
        t += period
    return out


def formant_filter(
    signal: np.ndarray, formants_hz: tuple[float, ...], *, sample_rate: int = 16000, bandwidth_hz: float = 90.0
) -> np.ndarray:
    """Pass ``signal`` through a cascade of 2-pole resonators, one per formant."""
    from scipy.signal import lfilter

    y = np.asarray(signal, dtype=np.float64)
    for f in formants_hz:
        if not 0 < f < sample_rate / 2:
            continue
        r = np.exp(-np.pi * (bandwidth_hz + 0.05 * f) / sample_rate)
        theta = 2 * np.pi * f / sample_rate
        a = [1.0, -2 * r * np.cos(theta), r * r]
        gain = 1 - 2 * r * np.cos(theta) + r * r  # unit gain at DC
        y = lfilter([gain], a, y)
    return y


def voiced_syllables(
    schedule: SyllableSchedule,
    *,
    sample_rate: int = 16000,
    lead_s: float = 0.02,
    seed: int = 0,
    jitter: float = 0.01,
    level: float = 0.3,
    n_formants: int = 3,
) -> np.ndarray:
    """Voice each syllable of ``schedule`` with its vowel and F0.

    Parameters
    ----------
    schedule : SyllableSchedule
    sample_rate : int
        Output rate in Hz.
    lead_s : float
        The voice envelope runs this far ahead of the opening: the amplitude at time
        ``t`` is the opening at ``t + lead_s``.
    seed : int
        Seed for the jitter, shimmer and aspiration noise.
    jitter : float
        Relative period-to-period F0 jitter (standard deviation).
    level : float
        Peak amplitude of a fully open syllable.
    n_formants : int
        2 or 3 formant resonances.

    Returns
    -------
    np.ndarray [shape=(round(duration_s * sample_rate),), dtype=float32]
        Samples in [-1, 1]; zero outside the syllables.
    """
    sample_rate = _check_rate(sample_rate)
    if n_formants not in (2, 3):
        raise ConfigError(f"n_formants={n_formants!r} must be 2 or 3")
    rng = np.random.default_rng(seed)
    n = int(round(schedule.duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    env = schedule.opening_at(t + lead_s)
    out = np.zeros(n, dtype=np.float64)
    for s in schedule.syllables:
        a = max(int((s.start_s - lead_s) * sample_rate) - 1, 0)
        b = min(int(np.ceil((s.end_s - lead_s) * sample_rate)) + 1, n)
        if b <= a:
            continue
        m = b - a
        drift = s.f0_hz * (1.0 + 0.04 * np.sin(np.linspace(0.0, np.pi, m)))  # a small rise and fall
        src = _pulse_train(m, drift, sample_rate, rng, jitter)
        src += 0.02 * rng.standard_normal(m)  # aspiration
        formants = VOWELS[s.vowel][0][:n_formants]
        voiced = formant_filter(src, formants, sample_rate=sample_rate)
        peak = np.max(np.abs(voiced))
        if peak > 0:
            voiced /= peak
        seg_env = env[a:b] / max(s.opening, 1e-6)
        out[a:b] += level * s.opening * voiced * np.clip(seg_env, 0.0, 1.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def voice_from_opening(
    opening: np.ndarray,
    timestamps_s: np.ndarray,
    *,
    duration_s: float,
    sample_rate: int = 16000,
    lead_s: float = 0.02,
    seed: int = 0,
    f0_hz: float = 170.0,
    jitter: float = 0.01,
    level: float = 0.3,
) -> np.ndarray:
    """Voice a per-frame opening signal (the vowel "a", amplitude = opening).

    Used when the caller gives ``opening`` directly instead of a schedule.

    Returns
    -------
    np.ndarray [shape=(round(duration_s * sample_rate),), dtype=float32]
    """
    sample_rate = _check_rate(sample_rate)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    env = np.clip(np.interp(t + lead_s, timestamps_s, opening, left=0.0, right=0.0), 0.0, 1.0)
    src = _pulse_train(n, np.full(n, f0_hz), sample_rate, rng, jitter) + 0.02 * rng.standard_normal(n)
    voiced = formant_filter(src, VOWELS["a"][0], sample_rate=sample_rate)
    peak = np.max(np.abs(voiced)) if n else 0.0
    if peak > 0:
        voiced /= peak
    return np.clip(level * voiced * env, -1.0, 1.0).astype(np.float32)


def blow_noise(
    windows_s: list[tuple[float, float]] | tuple[tuple[float, float], ...],
    *,
    duration_s: float,
    sample_rate: int = 16000,
    band_hz: tuple[float, float] = (300.0, 4000.0),
    level: float = 0.2,
    ramp_s: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Band-limited turbulent noise (blowing, breathing out) inside ``windows_s``.

    Parameters
    ----------
    windows_s : sequence of (start_s, end_s)
    duration_s : float
        Length of the output.
    band_hz : (float, float)
        Pass band of the 4th-order Butterworth filter applied to white noise.
    level : float
        RMS-ish level inside the windows (the peak stays below 1).
    ramp_s : float
        Fade in / out at each window edge.

    Returns
    -------
    np.ndarray [shape=(round(duration_s * sample_rate),), dtype=float32]
    """
    from scipy.signal import butter, sosfilt

    sample_rate = _check_rate(sample_rate)
    lo, hi = float(band_hz[0]), float(band_hz[1])
    if not 0 < lo < hi < sample_rate / 2:
        raise ConfigError(f"band_hz={band_hz!r} must satisfy 0 < low < high < sample_rate/2 ({sample_rate / 2:g} Hz)")
    windows = _check_windows("blow_windows_s", windows_s)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    sos = butter(4, [lo, hi], btype="bandpass", fs=sample_rate, output="sos")
    noise = sosfilt(sos, rng.standard_normal(n))
    noise /= max(float(np.std(noise)), 1e-9)
    # slow turbulence: level wanders by +-30 % at a few Hz
    wander = 1.0 + 0.3 * np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6.3)) * np.sin(2 * np.pi * 0.7 * t)
    env = np.zeros(n)
    for a, b in windows:
        rise = np.clip((t - a) / max(ramp_s, 1e-6), 0.0, 1.0)
        fall = np.clip((b - t) / max(ramp_s, 1e-6), 0.0, 1.0)
        env = np.maximum(env, np.minimum(rise, fall))
    return np.clip(level * noise * wander * env / 1.0, -0.99, 0.99).astype(np.float32)
