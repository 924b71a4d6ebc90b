"""Voice print: a speaker embedding from Resemblyzer's shipped weights, run in numpy.

Resemblyzer (Jemine, 2019; the GE2E speaker encoder of "Real-Time Voice Cloning") ships
``pretrained.pt``: a 3-layer LSTM (40 mel bands in, 256 hidden) with a 256-d linear
projection. This module reads those weights straight from the installed package **without
torch** (the file is torch's legacy pickle format: a pickle of tensor descriptions followed
by the raw float32 storages) and re-implements the front end and the network in numpy:

* audio at 16 kHz, volume raised to -30 dBFS (never lowered), long silences cut with the
  WebRTC VAD (mode 3, 30-ms frames, 8-frame moving average, 6-frame dilation);
* mel power spectrogram: 25-ms periodic Hann window, 10-ms hop, centred frames with
  reflect padding, 40 Slaney mel bands 0-8 kHz (librosa's defaults that Resemblyzer used);
* partial utterances of 160 frames (1.6 s) at 1.3 per second; each through the LSTM, the
  last layer's final hidden state -> linear -> ReLU -> L2 norm; the utterance embedding is
  the L2-normalised mean of the partials.

Install the weights with the optional extra ``pip install 'lipauth[voice]'`` (it installs
the ``resemblyzer`` package; use ``pip install --no-deps resemblyzer`` to avoid torch,
which lipauth never imports). Cosine similarity of two embeddings is in [0, 1] (ReLU
outputs); it is a liveness/consistency signal, not a password on its own.
"""

from __future__ import annotations

import logging
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import BackendUnavailableError, InputError, TooShortError
from lipauth.types import Audio

__all__ = ["VoiceEncoder", "load_voice_encoder", "voice_embedding", "voice_similarity"]

log = logging.getLogger(__name__)

_RATE = 16000
_HOP = 160
_N_FFT = 400
_N_MELS = 40
_PARTIAL_FRAMES = 160
_TARGET_DBFS = -30.0


# --------------------------------------------------------------------------------------
# weights


class _TorchLegacyUnpickler(pickle.Unpickler):
    """Reads the tensor descriptions of a legacy (non-zip) torch checkpoint."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *_: ("tensor", storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name == "FloatStorage":
            return name
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the voice-encoder weights")

    def persistent_load(self, pid: Any) -> Any:
        # ("storage", storage_type, key, location, n_elements)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return {"type": pid[1], "key": str(pid[2]), "size": int(pid[4])}


def _read_legacy_torch(path: Path) -> dict[str, np.ndarray]:
    with path.open("rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)  # noqa: S301 (trusted file shipped by a registry package)
        obj = _TorchLegacyUnpickler(f).load()
        keys = pickle.load(f)  # noqa: S301
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            (n,) = struct.unpack("<q", f.read(8))
            storages[str(key)] = np.frombuffer(f.read(4 * n), dtype="<f4")
    state = obj["model_state"]
    out = {}
    for name, (_, storage, offset, size, stride) in state.items():
        flat = storages[storage["key"]]
        count = int(np.prod(size)) if size else 1
        if size and stride[-1] != 1:
            raise pickle.UnpicklingError(f"{name}: non-contiguous tensor in the voice-encoder weights")
        out[name] = flat[offset : offset + count].reshape(size).astype(np.float32)
    return out


class VoiceEncoder:
    """The Resemblyzer speaker encoder in numpy.

    Parameters
    ----------
    weights : dict of str to np.ndarray
        The ``model_state`` tensors (``lstm.weight_ih_l0`` ... ``linear.bias``).
    """

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.layers_ = []
        for k in range(3):
            w_ih = weights[f"lstm.weight_ih_l{k}"].astype(np.float64)
            w_hh = weights[f"lstm.weight_hh_l{k}"].astype(np.float64)
            b = (weights[f"lstm.bias_ih_l{k}"] + weights[f"lstm.bias_hh_l{k}"]).astype(np.float64)
            self.layers_.append((w_ih.T.copy(), w_hh.T.copy(), b))
        self.linear_w_ = weights["linear.weight"].astype(np.float64).T.copy()
        self.linear_b_ = weights["linear.bias"].astype(np.float64)

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of mel spectrograms.

        Parameters
        ----------
        mels : np.ndarray [shape=(batch, n_frames, 40), float]

        Returns
        -------
        np.ndarray [shape=(batch, 256), float32], L2-normalised, non-negative.
        """
        x = np.asarray(mels, dtype=np.float64)
        for w_ih, w_hh, b in self.layers_:
            batch, steps, _ = x.shape
            hidden = w_hh.shape[0]
            proj = x @ w_ih + b  # (batch, steps, 4 * hidden)
            h = np.zeros((batch, hidden))
            c = np.zeros((batch, hidden))
            outs = np.empty((batch, steps, hidden))
            for t in range(steps):
                z = proj[:, t] + h @ w_hh
                i = 1.0 / (1.0 + np.exp(-z[:, :hidden]))
                f = 1.0 / (1.0 + np.exp(-z[:, hidden : 2 * hidden]))
                g = np.tanh(z[:, 2 * hidden : 3 * hidden])
                o = 1.0 / (1.0 + np.exp(-z[:, 3 * hidden :]))
                c = f * c + i * g
                h = o * np.tanh(c)
                outs[:, t] = h
            x = outs
        e = np.maximum(h @ self.linear_w_ + self.linear_b_, 0.0)
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)).astype(np.float32)


_ENCODER: list[VoiceEncoder] = []


def _weights_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "the voice print needs the weights of the resemblyzer package; pip install 'lipauth[voice]' "
            "(or pip install --no-deps resemblyzer: torch is not needed)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise BackendUnavailableError(f"{path}: resemblyzer is installed without pretrained.pt; reinstall it")
    return path


def load_voice_encoder() -> VoiceEncoder:
    """The encoder with Resemblyzer's weights (read once, without importing resemblyzer or torch)."""
    if not _ENCODER:
        _ENCODER.append(VoiceEncoder(_read_legacy_torch(_weights_path())))
    return _ENCODER[0]


# --------------------------------------------------------------------------------------
# front end


def _slaney_mel(n_fft: int = _N_FFT, n_mels: int = _N_MELS, sr: int = _RATE) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney scale and norm)."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_f = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]


def _mel_frames(wav: np.ndarray) -> np.ndarray:
    """Mel power spectrogram [shape=(n_frames, 40), float32] (centred, reflect-padded)."""
    pad = _N_FFT // 2
    y = np.pad(wav.astype(np.float64), pad, mode="reflect") if wav.size > pad else np.pad(wav.astype(np.float64), pad)
    n_frames = 1 + (y.size - _N_FFT) // _HOP
    idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)  # periodic Hann
    spec = np.abs(np.fft.rfft(y[idx] * window, axis=1)) ** 2
    return (spec @ _slaney_mel().T).astype(np.float32)


def _trim_long_silences(wav: np.ndarray) -> np.ndarray:
    import webrtcvad
    from scipy.ndimage import binary_dilation

    n = 30 * _RATE // 1000
    wav = wav[: wav.size - wav.size % n]
    pcm = (np.round(np.clip(wav, -1, 1) * 32767)).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[i * 2 * n : (i + 1) * 2 * n], _RATE) for i in range(wav.size // n)], float)
    width = 8
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    ret = np.cumsum(padded)
    ret[width:] = ret[width:] - ret[:-width]
    mask = np.round(ret[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(7))
    return wav[np.repeat(mask, n)]


def _preprocess(audio: Audio) -> np.ndarray:
    from lipauth.features.audio import resample_audio

    wav = resample_audio(audio, sample_rate=_RATE).samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(wav**2))) if wav.size else 0.0
    if rms <= 0:
        raise InputError(f"{audio.source or 'audio'}: audio is silent; a voice print needs speech")
    change_db = _TARGET_DBFS - 20 * np.log10(rms)
    if change_db > 0:
        wav = wav * 10 ** (change_db / 20)
    return _trim_long_silences(wav)


def voice_embedding(audio: Audio, *, rate: float = 1.3, min_coverage: float = 0.75) -> np.ndarray:
    """The speaker embedding of an utterance.

    Parameters
    ----------
    audio : Audio
        Speech at any rate (resampled to 16 kHz).
    rate : float
        Partial utterances (1.6 s each) per second.
    min_coverage : float
        Keep a zero-padded last partial when it holds at least this share of real frames.

    Returns
    -------
    np.ndarray [shape=(256,), float32]
        L2-normalised, non-negative.

    Raises
    ------
    InputError
        Silent audio. ``TooShortError``: under 0.5 s of speech after trimming silences.
    BackendUnavailableError
        The resemblyzer weights are not installed.
    """
    if not isinstance(audio, Audio):
        raise InputError(f"audio is a {type(audio).__name__}; pass an Audio from lipauth.io.load_audio")
    encoder = load_voice_encoder()
    wav = _preprocess(audio)
    if wav.size < _RATE // 2:
        raise TooShortError(
            f"{audio.source or 'audio'}: {wav.size / _RATE:.2f} s of speech; a voice print needs at least 0.5 s"
        )
    n_frames = int(np.ceil((wav.size + 1) / _HOP))
    step = int(np.round((_RATE / rate) / _HOP))
    starts = list(range(0, max(1, n_frames - _PARTIAL_FRAMES + step + 1), step))
    last_cov = (wav.size - starts[-1] * _HOP) / (_PARTIAL_FRAMES * _HOP)
    if last_cov < min_coverage and len(starts) > 1:
        starts = starts[:-1]
    need = (starts[-1] + _PARTIAL_FRAMES) * _HOP
    if need > wav.size:
        wav = np.pad(wav, (0, need - wav.size))
    mel = _mel_frames(wav)
    partials = np.stack([mel[s : s + _PARTIAL_FRAMES] for s in starts])
    emb = encoder.embed_partials(partials).mean(axis=0)
    return (emb / np.linalg.norm(emb)).astype(np.float32)


def voice_similarity(a: np.ndarray | Audio, b: np.ndarray | Audio) -> float:
    """Cosine similarity of two voice prints (embeddings or Audio), in [0, 1]."""
    ea = voice_embedding(a) if isinstance(a, Audio) else np.asarray(a, dtype=np.float64)
    eb = voice_embedding(b) if isinstance(b, Audio) else np.asarray(b, dtype=np.float64)
    return float(np.dot(ea, eb) / max(np.linalg.norm(ea) * np.linalg.norm(eb), 1e-12))
