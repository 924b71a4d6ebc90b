"""Blow / breath detection in audio: per-frame blow probability and segments.

Blowing at the screen (or breathing out close to the microphone) is turbulent,
broadband noise with a lot of low-frequency energy and no pitch. It is told apart from

- speech: voiced frames are harmonic (a strong normalised autocorrelation peak at a
  pitch lag of 2.5-12.5 ms); unvoiced consonants (s, sh, f, t) are short and sit high in
  the spectrum;
- silence: too little energy above the running noise floor;
- clicks and taps: too short (segments under ``min_segment_s`` are dropped);
- steady fan or room noise: stationary, so it *is* the running noise floor (the 10th
  percentile of the frame energy over ``floor_window_s``); a blow must rise above it.

Frames are 32 ms Hann windows every 10 ms on the audio's own grid
(:func:`breath_frames`); :func:`blow_probability` maps them to the video's frame times when
``timestamps_s`` is given. Everything is numpy + scipy.ndimage, far faster than real time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipauth.errors import ConfigError, InputError
from lipauth.types import Audio

__all__ = [
    "BreathFrames",
    "breath_frames",
    "blow_probability",
    "blow_segments",
    "FRAME_S",
    "HOP_S",
]

FRAME_S = 0.032
HOP_S = 0.010
_MIN_RATE = 8000


@dataclass(frozen=True, eq=False)
class BreathFrames:
    """Frame-level breath features on the audio's own grid.

    Attributes
    ----------
    times_s : np.ndarray [shape=(n,), float64]
        Centre of each frame on the video time axis (``audio.start_s`` included).
    energy_db : np.ndarray [shape=(n,), float64]
        Frame power in dB relative to full scale (a full-scale sine is about -3 dB).
    floor_db : np.ndarray [shape=(n,), float64]
        Running noise floor (10th percentile of ``energy_db`` over ``floor_window_s``).
    excess_db : np.ndarray [shape=(n,), float64]
        Energy above the floor, smoothed over 50 ms.
    voicing : np.ndarray [shape=(n,), float64]
        Peak normalised autocorrelation at 80-400 Hz lags (0 = noise, 1 = periodic).
    low_ratio : np.ndarray [shape=(n,), float64]
        Share of the 50-8000 Hz power below 1.5 kHz.
    flatness : np.ndarray [shape=(n,), float64]
        Spectral flatness (geometric / arithmetic mean power) in 100-4000 Hz.
    probability : np.ndarray [shape=(n,), float64]
        Blow probability in [0, 1] (after temporal context; see :func:`breath_frames`).
    """

    times_s: np.ndarray
    energy_db: np.ndarray
    floor_db: np.ndarray
    excess_db: np.ndarray
    voicing: np.ndarray
    low_ratio: np.ndarray
    flatness: np.ndarray
    probability: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.times_s.shape[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def _check_audio(audio: Audio) -> None:
    if not isinstance(audio, Audio):
        raise InputError(f"audio is a {type(audio).__name__}; pass a lipauth.types.Audio (lipauth.io.load_audio)")
    if audio.sample_rate < _MIN_RATE:
        raise InputError(f"audio sample_rate={audio.sample_rate} Hz is too low; pass audio at >= {_MIN_RATE} Hz")
    if audio.n_samples < int(FRAME_S * audio.sample_rate) * 2:
        raise InputError(
            f"{audio.source or 'audio'}: {audio.duration_s:.3f} s of audio is too short; pass at least {2 * FRAME_S:.3f} s"
        )


def breath_frames(
    audio: Audio,
    *,
    floor_window_s: float = 3.0,
    min_excess_db: float = 9.0,
    max_voicing: float = 0.7,
    voiced_above: float = 0.85,
    min_low_ratio: float = 0.3,
    context_s: float = 0.25,
    speech_guard_s: float = 0.2,
) -> BreathFrames:
    """Breath features and the blow probability of every 10-ms frame.

    The per-frame evidence is the product of three soft gates:

    - loud enough: ``excess_db`` above ``min_excess_db`` (logistic, 1.5 dB scale), and
      at least -65 dBFS absolute;
    - unvoiced: ``voicing`` below ``max_voicing`` (logistic, 0.06 scale);
    - low-heavy: ``low_ratio`` above ``min_low_ratio`` (logistic, 0.06 scale), which
      rejects sibilants (s, sh sit at 4-8 kHz).

    It is then averaged over ``context_s`` (a blow lasts; clicks and single consonants do
    not), and zeroed within ``speech_guard_s`` of a clearly voiced loud frame (the
    breathy onsets and offsets of speech).

    Default thresholds were tuned on the ``model_oddech_learn_*`` breathing recordings
    (exhale bursts, fan noise) and GRID s1 clips whose names start with ``b``..``l``
    (speech, silence); the report uses the other breathing files and GRID clips
    (``benchmarks/accuracy_liveness.py``).

    Parameters
    ----------
    audio : Audio
        Mono audio at >= 8 kHz.
    floor_window_s : float
        Window of the running noise floor, seconds (1-30).
    min_excess_db : float
        Rise above the floor where a frame counts as half loud enough, dB.
    max_voicing, min_low_ratio : float
        Soft gate centres (see above).
    voiced_above : float
        Frames with ``voicing`` above this (and loud) in runs of >= 3 are speech; close
        breath into the microphone is low-passed, so its autocorrelation alone reaches
        0.5-0.8 and only clearly periodic frames count.
    context_s : float
        Averaging window of the evidence, seconds.
    speech_guard_s : float
        No blow this close to a voiced frame, seconds.

    Returns
    -------
    BreathFrames
    """
    from scipy import ndimage

    _check_audio(audio)
    if not (1.0 <= floor_window_s <= 30.0):
        raise ConfigError(f"floor_window_s={floor_window_s!r} is out of range; allowed 1.0 to 30.0")
    sr = int(audio.sample_rate)
    x = np.asarray(audio.samples, dtype=np.float64)
    n_win = int(round(FRAME_S * sr))
    hop = int(round(HOP_S * sr))
    n = 1 + (x.size - n_win) // hop
    idx = np.arange(n_win)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)
    win = np.hanning(n_win)
    nfft = 1 << int(np.ceil(np.log2(2 * n_win)))
    spec = np.abs(np.fft.rfft(frames * win, n=nfft, axis=1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    power = spec.sum(axis=1) / (np.sum(win**2) * nfft / 2.0)
    energy_db = 10.0 * np.log10(power + 1e-12)

    # voicing: normalised autocorrelation (of the windowed frame) at pitch lags
    ac = np.fft.irfft(spec, n=nfft, axis=1)
    ac_win = np.fft.irfft(np.abs(np.fft.rfft(win, n=nfft)) ** 2, n=nfft)
    lo_lag, hi_lag = int(sr / 400.0), int(sr / 80.0)
    r = ac[:, lo_lag : hi_lag + 1] / np.maximum(ac[:, :1], 1e-20)
    r = r / np.maximum(ac_win[lo_lag : hi_lag + 1] / ac_win[0], 1e-6)
    voicing = np.clip(r.max(axis=1), 0.0, 1.0)

    band = (freqs >= 50) & (freqs <= min(8000.0, sr / 2))
    low = (freqs >= 50) & (freqs < 1500)
    low_ratio = spec[:, low].sum(axis=1) / np.maximum(spec[:, band].sum(axis=1), 1e-20)
    fb = (freqs >= 100) & (freqs <= 4000)
    sb = spec[:, fb] + 1e-20
    flatness = np.exp(np.mean(np.log(sb), axis=1)) / np.mean(sb, axis=1)

    # running floor: 10th percentile over floor_window_s (stationary noise is the floor)
    floor_frames = max(3, int(round(floor_window_s / HOP_S)) | 1)
    smooth = ndimage.uniform_filter1d(energy_db, size=5, mode="nearest")
    floor_db = ndimage.percentile_filter(smooth, 10, size=floor_frames, mode="nearest")
    # a recording that starts/ends in a long breath still needs a floor: never above the
    # clip-wide 10th percentile + 6 dB
    floor_db = np.minimum(floor_db, np.percentile(smooth, 10) + 6.0)
    excess_db = smooth - floor_db

    loud = _sigmoid((excess_db - min_excess_db) / 1.5) * _sigmoid((energy_db + 65.0) / 2.0)
    unvoiced = _sigmoid((max_voicing - voicing) / 0.06)
    low_heavy = _sigmoid((low_ratio - min_low_ratio) / 0.06)
    evidence = loud * unvoiced * low_heavy
    ctx = max(1, int(round(context_s / HOP_S)))
    prob = ndimage.uniform_filter1d(evidence, size=ctx, mode="nearest")
    voiced = (voicing > voiced_above) & (excess_db > min_excess_db)
    guard = max(1, int(round(2 * speech_guard_s / HOP_S)) | 1)
    # a few isolated voiced frames inside a long breath are allowed (turbulence can look
    # periodic for one frame): only runs of >= 3 voiced frames count as speech
    runs = ndimage.uniform_filter1d(voiced.astype(np.float64), size=3, mode="constant") > 0.99
    near_voice = ndimage.maximum_filter1d(runs.astype(np.uint8), size=guard, mode="nearest") > 0
    prob = np.where(near_voice, 0.0, prob)

    times = audio.start_s + (np.arange(n) * hop + n_win / 2.0) / sr
    return BreathFrames(
        times_s=times, energy_db=energy_db, floor_db=floor_db, excess_db=excess_db, voicing=voicing,
        low_ratio=low_ratio, flatness=flatness, probability=np.clip(prob, 0.0, 1.0),
    )


def blow_probability(
    audio: Audio,
    *,
    timestamps_s: np.ndarray | None = None,
    frames: BreathFrames | None = None,
    **options: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Blow probability per frame.

    Parameters
    ----------
    audio : Audio
    timestamps_s : np.ndarray [shape=(n_frames,), float64], optional
        Video frame times; the probability of a video frame is the mean over the audio
        frames whose centres fall in ``[t, t_next)`` (interpolated when none do).
        Outside the audio it is 0. Default: the audio's own 10-ms grid.
    frames : BreathFrames, optional
        Precomputed :func:`breath_frames` (``options`` are then ignored).
    **options
        Passed to :func:`breath_frames`.

    Returns
    -------
    times_s, probability : np.ndarray [shape=(n_frames,), float64]
    """
    bf = frames if frames is not None else breath_frames(audio, **options)
    if timestamps_s is None:
        return bf.times_s, bf.probability
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)):
        raise InputError(f"timestamps_s has shape {t.shape}; pass finite frame times in seconds, shape (n,)")
    step = float(np.median(np.diff(t))) if t.size > 1 else HOP_S
    edges = np.append(t, t[-1] + step)
    csum = np.concatenate([[0.0], np.cumsum(bf.probability)])
    lo = np.searchsorted(bf.times_s, edges[:-1], side="left")
    hi = np.searchsorted(bf.times_s, edges[1:], side="left")
    count = hi - lo
    interp = np.interp(t + 0.5 * step, bf.times_s, bf.probability, left=0.0, right=0.0)
    mean = np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), interp)
    return t, mean


def blow_segments(
    times_s: np.ndarray,
    probability: np.ndarray,
    *,
    threshold: float = 0.5,
    min_segment_s: float = 0.15,
    merge_gap_s: float = 0.12,
) -> list[tuple[float, float, float]]:
    """Intervals where the blow probability stays above ``threshold``.

    Runs shorter than ``min_segment_s`` (clicks, a single consonant) are dropped, gaps
    shorter than ``merge_gap_s`` are bridged.

    Returns
    -------
    list of (start_s, end_s, mean_probability)
    """
    t = np.asarray(times_s, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise InputError(f"times_s {t.shape} and probability {p.shape} must be 1-D of the same length")
    if t.size == 0:
        return []
    step = float(np.median(np.diff(t))) if t.size > 1 else HOP_S
    on = p >= threshold
    runs: list[list[int]] = []
    i = 0
    while i < on.size:
        if on[i]:
            j = i
            while j + 1 < on.size and on[j + 1]:
                j += 1
            if runs and t[i] - (t[runs[-1][1]] + step) < merge_gap_s:
                runs[-1][1] = j
            else:
                runs.append([i, j])
            i = j + 1
        else:
            i += 1
    out = []
    for a, b in runs:
        start, end = float(t[a]), float(t[b] + step)
        if end - start >= min_segment_s:
            out.append((start, end, float(p[a : b + 1].mean())))
    return out
