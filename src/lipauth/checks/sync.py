"""Audio-visual sync liveness: do the lips move with the voice recorded at the same time?

Method (a learned audio-to-lip mapping, scored by correlation over candidate lags):

1. Audio: 40 log-mel bands on a 10-ms grid covering the video (and the lag search
   range), normalised per clip (each band minus its mean, divided by the clip's overall
   log-mel standard deviation, so loudness and microphone colour cancel).
2. Lips: the shape features ``SYNC_LIP_FEATURES`` of :class:`~lipauth.types.LipFeatures`
   (opening, width, areas, thicknesses, aspect ratio) and their velocities, each z-scored
   over the clip's valid frames, so speaker and face size cancel.
3. A ridge regression maps the log-mel context at ``t + k * 40 ms`` (``k = -4..4``) to the
   lip features at ``t``. Prediction is linear, so the predicted lip track for every
   candidate lag comes from one pass over the audio grid.
4. For each lag ``d`` (audio content late by ``d``; searched over ``+-max_offset_ms`` in
   10-ms steps) the score is the mean over lip features of the Pearson correlation
   between predicted and observed features over the frames the audio covers.
   The estimated offset is the best lag; the confidence is how far the best correlation
   stands above the others (``(r_best - median_d r) / (1.4826 * MAD_d r)``, a robust
   z-score as in SyncNet's "median minus min").
5. The liveness score is the best correlation within ``+-tolerance_ms`` of zero lag:
   genuine speech scores high, a shifted or swapped track low.

The weights ship in ``lipauth/checks/models/sync_ridge.npz`` (about 10 KB), trained by
``scripts/train_sync.py``; the file records the data it was trained on and the tuned
threshold (see :func:`load_sync_model`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import ConfigError, InputError, SilentAudioError, TooShortError
from lipauth.types import Audio, CheckResult, LipFeatures

__all__ = [
    "MIN_OVERLAP_S",
    "SILENT_PEAK_DBFS",
    "SYNC_LIP_FEATURES",
    "SyncModel",
    "SyncResult",
    "check_sync",
    "fit_sync_model",
    "load_sync_model",
    "sync_correlations",
]

log = logging.getLogger(__name__)

_SYNC_SHAPES: tuple[str, ...] = (
    "opening",
    "width",
    "inner_area",
    "outer_area",
    "aspect_ratio",
    "upper_thickness",
    "lower_thickness",
)
#: LipFeatures columns the mapping predicts: shape features and (``d_`` prefix) their
#: time derivatives (``LipFeatures.velocity``); the velocities sharpen the lag peak
#: (GRID s1 clips 0-49 vs 50-99: 500-ms offsets within 40 ms 90% -> 94%)
SYNC_LIP_FEATURES: tuple[str, ...] = _SYNC_SHAPES + tuple(f"d_{n}" for n in _SYNC_SHAPES)
#: shortest audio/video overlap the check accepts, seconds
MIN_OVERLAP_S = 1.0
#: audio whose peak is below this level (dBFS) is treated as silent (no microphone signal)
SILENT_PEAK_DBFS = -60.0
#: lip motion below this (robust 5-95 % range of the inner-lip opening, face units) counts
#: as a still face: the spoof/live photo stills as 3-s clips with camera noise track to
#: 0.0004-0.004 and a repeated GRID frame to 0.0001, while speech in GRID s1 clips 0-49
#: spans at least 0.065 (chosen on those; held-out clips 50-99 are checked by the tests)
STILL_LIP_RANGE = 0.01
#: fewest voiced frames (WebRTC VAD) for the check to say there is speech, seconds
MIN_SPEECH_S = 0.3
_HOP_S = 0.01
_MODEL_RATE = 16000
_DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "sync_ridge.npz"


# --------------------------------------------------------------------------------------
# model


@dataclass(frozen=True, eq=False)
class SyncModel:
    """A ridge mapping from log-mel context to z-scored lip-shape features.

    Attributes
    ----------
    weights : np.ndarray [shape=(n_context * n_mels, n_lip), dtype=float32]
        Rows ordered context-major (``k = -C..C``), then mel band.
    bias : np.ndarray [shape=(n_lip,), dtype=float32]
    lip_features : tuple of str
        Predicted ``LipFeatures.shape`` columns.
    context_s : np.ndarray [shape=(n_context,), dtype=float64]
        Audio times relative to the frame time, seconds.
    n_mels : int
    window_s : float
        Log-mel analysis window, seconds.
    threshold : float
        Default decision threshold on the score.
    tolerance_ms : float
        Lags within this of zero count as in sync.
    trained_on : str
        The data the weights and the threshold come from.
    """

    weights: np.ndarray
    bias: np.ndarray
    lip_features: tuple[str, ...] = SYNC_LIP_FEATURES
    context_s: np.ndarray = field(default_factory=lambda: np.arange(-4, 5) * 0.04)
    n_mels: int = 40
    window_s: float = 0.04
    threshold: float = 0.3
    tolerance_ms: float = 80.0
    trained_on: str = ""

    def save(self, path: str | Path) -> Path:
        """Write the model as a compressed ``.npz`` (float32 weights)."""
        path = Path(path)
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            lip_features=np.array(self.lip_features),
            context_s=np.asarray(self.context_s, dtype=np.float64),
            n_mels=np.int64(self.n_mels),
            window_s=np.float64(self.window_s),
            threshold=np.float64(self.threshold),
            tolerance_ms=np.float64(self.tolerance_ms),
            trained_on=np.array(self.trained_on),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> SyncModel:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: sync model not found; pass the .npz written by scripts/train_sync.py")
        with np.load(path, allow_pickle=False) as z:
            return cls(
                weights=z["weights"].astype(np.float32),
                bias=z["bias"].astype(np.float32),
                lip_features=tuple(str(s) for s in z["lip_features"]),
                context_s=z["context_s"].astype(np.float64),
                n_mels=int(z["n_mels"]),
                window_s=float(z["window_s"]),
                threshold=float(z["threshold"]),
                tolerance_ms=float(z["tolerance_ms"]),
                trained_on=str(z["trained_on"]),
            )


_MODEL_CACHE: dict[str, SyncModel] = {}


def load_sync_model(path: str | Path | None = None) -> SyncModel:
    """The shipped sync model (or one from ``path``), cached per path.

    The shipped weights and threshold: see ``SyncModel.trained_on`` and
    ``scripts/train_sync.py`` (trained on GRID s1 clips 0-49 in name order plus the first
    half of each talking_heads clip; GRID s1 clips 50-99 are held out for reporting).
    """
    key = str(path or _DEFAULT_MODEL)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = SyncModel.load(key)
    return _MODEL_CACHE[key]


# --------------------------------------------------------------------------------------
# result


def _array(dtype: str, doc: str) -> Any:
    return field(default_factory=lambda: np.zeros(0, dtype=dtype), metadata={"dtype": dtype, "doc": doc})


@dataclass(frozen=True, eq=False)
class SyncResult(CheckResult):
    """The outcome of :func:`check_sync`.

    Attributes (beyond :class:`~lipauth.types.CheckResult`)
    ----------
    offset_ms : float
        Estimated lag of the audio behind the lips (positive: the voice comes late).
    confidence : float
        Robust z-score of the best lag's correlation against all lags (higher = the best
        lag stands out more; about 3 or more is a clear peak).
    lags_ms : np.ndarray [shape=(n_lags,), float64]
    correlations : np.ndarray [shape=(n_lags,), float32]
        Mean correlation of predicted and observed lip features at each lag.
    window_times_s : np.ndarray [shape=(n_windows,), float64]
        Centre of each agreement window (video axis).
    window_agreement : np.ndarray [shape=(n_windows,), float32]
        Correlation within each window at the estimated offset (NaN where the window has
        too few usable frames).
    """

    check: str = "sync"
    offset_ms: float = float("nan")
    confidence: float = float("nan")
    lags_ms: np.ndarray = _array("float64", "(n_lags,) ms")
    correlations: np.ndarray = _array("float32", "(n_lags,)")
    window_times_s: np.ndarray = _array("float64", "(n_windows,) seconds")
    window_agreement: np.ndarray = _array("float32", "(n_windows,)")


# --------------------------------------------------------------------------------------
# core


def _lip_matrix(features: LipFeatures, names: tuple[str, ...]) -> np.ndarray:
    """Columns of ``features`` by name, ``d_<name>`` for a velocity [shape=(n, len(names))]."""
    cols = []
    for n in names:
        if n.startswith("d_"):
            try:
                cols.append(features.velocity[:, features.shape_names.index(n[2:])])
            except ValueError:
                raise KeyError(f"unknown shape feature {n[2:]!r}; known: {list(features.shape_names)}") from None
        else:
            cols.append(features.column(n))
    return np.stack(cols, axis=1).astype(np.float64)


def _zscore(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mu = x[mask].mean(axis=0)
    sd = x[mask].std(axis=0)
    return (x - mu) / np.maximum(sd, 1e-9)


def _audio_grid(audio: Audio, t0: float, t1: float, model: SyncModel) -> tuple[float, np.ndarray, np.ndarray]:
    """Normalised log-mel on a 10-ms grid from ``t0`` to ``t1``.

    Returns ``(grid_t0, mel [shape=(G, n_mels)], inside [shape=(G,), bool])``.
    """
    from lipauth.features.audio import log_mel, resample_audio

    # the mel bands span 50 Hz-8 kHz: any other rate is resampled to the 16 kHz the model saw
    audio = resample_audio(audio, sample_rate=_MODEL_RATE)
    n = int(np.ceil((t1 - t0) / _HOP_S)) + 1
    grid = t0 + np.arange(n) * _HOP_S
    mel = log_mel(audio, timestamps_s=grid, n_mels=model.n_mels, window_s=model.window_s).astype(np.float64)
    half = model.window_s / 2
    inside = (grid - half >= audio.start_s - 1e-9) & (grid + half <= audio.end_s + 1e-9)
    if inside.sum() < 2:
        inside = (grid >= audio.start_s) & (grid <= audio.end_s)
    mu = mel[inside].mean(axis=0)
    sd = mel[inside].std()
    mel = (mel - mu) / max(float(sd), 1e-6)
    mel[~inside] = 0.0
    return float(grid[0]), mel, inside


def _context_stack(mel: np.ndarray, idx: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Rows of log-mel context at grid indices ``idx`` [shape=(len(idx), n_ctx * n_mels)]."""
    g = np.clip(idx[:, None] + steps[None, :], 0, mel.shape[0] - 1)
    return mel[g].reshape(idx.size, -1)


def _predict_grid(mel: np.ndarray, model: SyncModel) -> np.ndarray:
    """Predicted z-scored lip features at every grid point [shape=(G, n_lip)]."""
    steps = np.round(np.asarray(model.context_s) / _HOP_S).astype(np.int64)
    n_mels = model.n_mels
    w = model.weights.astype(np.float64).reshape(steps.size, n_mels, -1)
    out = np.zeros((mel.shape[0], w.shape[2])) + model.bias
    G = mel.shape[0]
    for k, s in enumerate(steps):
        src = np.clip(np.arange(G) + s, 0, G - 1)
        out += mel[src] @ w[k]
    return out


def _corr_rows(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over columns of Pearson r between a[l] and b over ``mask[l]``.

    a : (L, n, m), b : (n, m), mask : (L, n) -> (L,)
    """
    w = mask[:, :, None].astype(np.float64)
    cnt = np.maximum(w.sum(axis=1), 1.0)
    ma = (a * w).sum(axis=1) / cnt
    mb = (b[None] * w).sum(axis=1) / cnt
    da = (a - ma[:, None, :]) * w
    db = (b[None] - mb[:, None, :]) * w
    num = (da * db).sum(axis=1)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    r = num / np.maximum(den, 1e-12)
    return r.mean(axis=1)


def _prepare(
    features: LipFeatures, audio: Audio, lags_ms: np.ndarray, model: SyncModel, frames: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted lips per lag ``(L, n, m)``, observed z-scored lips ``(n, m)``, mask ``(L, n)``."""
    lags_s = np.asarray(lags_ms, dtype=np.float64) / 1000.0
    t = features.timestamps_s
    valid = features.valid.copy()
    if frames is not None:
        valid &= frames
    if valid.sum() < 2:
        raise InputError("too few valid lip frames for the sync check; pass a clip with the face visible")
    lip = _zscore(_lip_matrix(features, model.lip_features), valid)
    t0 = float(t[0] + lags_s.min() - 0.3)
    t1 = float(t[-1] + lags_s.max() + 0.3)
    g0, mel, inside = _audio_grid(audio, t0, t1, model)
    pred = _predict_grid(mel, model)
    idx = np.round((t[None, :] + lags_s[:, None] - g0) / _HOP_S).astype(np.int64)
    idx = np.clip(idx, 0, mel.shape[0] - 1)
    mask = valid[None, :] & inside[idx]
    return pred[idx], lip, mask


def _masked_corr(pred: np.ndarray, lip: np.ndarray, mask: np.ndarray, min_frames: int) -> np.ndarray:
    r = _corr_rows(pred, lip, mask)
    r[mask.sum(axis=1) < min_frames] = np.nan
    return r


def sync_correlations(
    features: LipFeatures,
    audio: Audio,
    *,
    lags_ms: np.ndarray,
    model: SyncModel | None = None,
    frames: np.ndarray | None = None,
    min_frames: int = 10,
) -> np.ndarray:
    """Correlation of predicted and observed lip features at each lag.

    Parameters
    ----------
    features : LipFeatures
    audio : Audio
    lags_ms : np.ndarray [shape=(n_lags,)]
        Candidate lags of the audio behind the lips, milliseconds.
    model : SyncModel, optional
        Defaults to the shipped model.
    frames : np.ndarray [shape=(n_frames,), bool], optional
        Restrict to these frames (e.g. one time window).
    min_frames : int
        Lags with fewer usable frames get NaN.

    Returns
    -------
    np.ndarray [shape=(n_lags,), float64]
        Mean over the model's lip features of the Pearson correlation (NaN where fewer
        than ``min_frames`` frames have both lips and audio).
    """
    model = model or load_sync_model()
    pred, lip, mask = _prepare(features, audio, np.asarray(lags_ms, dtype=np.float64), model, frames)
    return _masked_corr(pred, lip, mask, min_frames)


def fit_sync_model(
    clips: list[tuple[LipFeatures, Audio]],
    *,
    alpha: float = 100.0,
    lip_features: tuple[str, ...] = SYNC_LIP_FEATURES,
    context_frames: int = 4,
    context_step_s: float = 0.04,
    n_mels: int = 40,
    window_s: float = 0.04,
    threshold: float = 0.3,
    tolerance_ms: float = 80.0,
    trained_on: str = "",
) -> SyncModel:
    """Fit the ridge mapping on genuine (in-sync) clips.

    Parameters
    ----------
    clips : list of (LipFeatures, Audio)
        Genuine talking clips with their own audio.
    alpha : float
        Ridge penalty (on per-clip normalised inputs).

    Returns
    -------
    SyncModel
    """
    if not clips:
        raise InputError("fit_sync_model got no clips; pass a list of (LipFeatures, Audio) pairs of genuine speech")
    if not alpha > 0:
        raise ConfigError(f"alpha={alpha!r}; pass a positive ridge penalty")
    context_s = np.arange(-context_frames, context_frames + 1) * context_step_s
    proto = SyncModel(
        weights=np.zeros((context_s.size * n_mels, len(lip_features)), np.float32),
        bias=np.zeros(len(lip_features), np.float32),
        lip_features=tuple(lip_features),
        context_s=context_s,
        n_mels=n_mels,
        window_s=window_s,
    )
    steps = np.round(context_s / _HOP_S).astype(np.int64)
    xs, ys = [], []
    for feats, audio in clips:
        t = feats.timestamps_s
        g0, mel, inside = _audio_grid(audio, float(t[0]) - 0.3, float(t[-1]) + 0.3, proto)
        idx = np.clip(np.round((t - g0) / _HOP_S).astype(np.int64), 0, mel.shape[0] - 1)
        use = feats.valid & inside[idx]
        if use.sum() < 10:
            continue
        lip = _zscore(_lip_matrix(feats, lip_features), use)
        xs.append(_context_stack(mel, idx[use], steps))
        ys.append(lip[use])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    b = my - mx @ w
    return dataclasses.replace(
        proto,
        weights=w.astype(np.float32),
        bias=b.astype(np.float32),
        threshold=float(threshold),
        tolerance_ms=float(tolerance_ms),
        trained_on=trained_on,
    )


# --------------------------------------------------------------------------------------
# the check


def _robust_z(r: np.ndarray, value: float) -> float:
    finite = r[np.isfinite(r)]
    med = float(np.median(finite))
    mad = float(np.median(np.abs(finite - med))) * 1.4826
    return (value - med) / max(mad, 1e-6)


def _windows(t: np.ndarray, window_s: float, hop_s: float) -> np.ndarray:
    if t[-1] - t[0] <= window_s:
        return np.array([(t[0] + t[-1]) / 2])
    return np.arange(t[0] + window_s / 2, t[-1] - window_s / 2 + 1e-9, hop_s)


def check_sync(
    features: LipFeatures,
    audio: Audio,
    *,
    max_offset_ms: float = 1000.0,
    model: SyncModel | None = None,
    threshold: float | None = None,
    window_s: float = 1.5,
) -> SyncResult:
    """Check that the lips move with the voice, and estimate the audio/video offset.

    Parameters
    ----------
    features : LipFeatures
        From :func:`lipauth.features.extract_lip_features` (the shape columns are used).
    audio : Audio
        The clip's audio on the same time axis (``lipauth.io.load_audio``).
    max_offset_ms : float
        Search lags in ``[-max_offset_ms, max_offset_ms]`` (10-ms steps).
    model : SyncModel, optional
        Defaults to the shipped model (:func:`load_sync_model`).
    threshold : float, optional
        Minimum score to accept; defaults to ``model.threshold``, which was tuned on
        GRID s1 clips 0-49 (out-of-fold scores of genuine vs shifted and swapped audio;
        see ``scripts/train_sync.py``).
    window_s : float
        Length of the per-window agreement windows, seconds (hop = half of it).

    Returns
    -------
    SyncResult
        ``score`` = best correlation within ``+-model.tolerance_ms`` of zero lag. Reasons:
        ``STILL_FACE_WITH_VOICE`` (speech but the lips do not move: a photo or frozen
        video), ``NO_LIP_MOTION`` (lips still, no speech either), ``NO_SPEECH`` (no voice
        activity), ``AV_DESYNC`` (the voice follows the lips, correlation above the threshold, but
        at an offset outside the tolerance),
        ``LOW_CONFIDENCE`` (the voice does not follow the lips at any offset).

    Raises
    ------
    InputError
        Wrong types, or audio and video do not overlap in time.
    SilentAudioError
        The audio peak is below ``SILENT_PEAK_DBFS``.
    TooShortError
        Audio and video overlap for less than ``MIN_OVERLAP_S``.
    ConfigError
        ``max_offset_ms`` outside [40, 5000] or a bad ``threshold``/``window_s``.
    """
    from lipauth.features.audio import voice_activity

    if not isinstance(features, LipFeatures):
        raise InputError(
            f"features is a {type(features).__name__}; pass LipFeatures from lipauth.features.extract_lip_features"
        )
    if not isinstance(audio, Audio):
        raise InputError(f"audio is a {type(audio).__name__}; pass an Audio from lipauth.io.load_audio")
    if not isinstance(max_offset_ms, (int, float)) or not 40 <= max_offset_ms <= 5000:
        raise ConfigError(f"max_offset_ms={max_offset_ms!r}; pass a number of milliseconds in [40, 5000]")
    if not isinstance(window_s, (int, float)) or not 0.5 <= window_s <= 30:
        raise ConfigError(f"window_s={window_s!r}; pass a window length in seconds in [0.5, 30]")
    model = model or load_sync_model()
    thr = model.threshold if threshold is None else threshold
    if not isinstance(thr, (int, float)) or not -1.0 <= thr <= 1.0:
        raise ConfigError(f"threshold={threshold!r}; pass a correlation in [-1, 1]")
    if audio.n_samples == 0:
        raise TooShortError(f"{audio.source or 'audio'}: no samples (0 s of audio); pass the clip's recorded audio")
    t = features.timestamps_s
    v_start, v_end = float(t[0]), float(t[-1])
    overlap_s = min(v_end, audio.end_s) - max(v_start, audio.start_s)
    if overlap_s <= 0:
        raise InputError(
            f"{audio.source or 'audio'}: audio ({audio.start_s:.2f}-{audio.end_s:.2f} s) and video "
            f"({v_start:.2f}-{v_end:.2f} s) do not overlap in time; pass the audio recorded with this video"
        )
    if overlap_s < MIN_OVERLAP_S:
        raise TooShortError(
            f"{audio.source or 'audio'}: audio and video overlap for {overlap_s:.2f} s; the sync check needs at "
            f"least {MIN_OVERLAP_S:.1f} s: record a longer clip"
        )
    peak = float(np.max(np.abs(audio.samples)))
    peak_db = 20 * np.log10(peak) if peak > 0 else float("-inf")
    if peak_db < SILENT_PEAK_DBFS:
        raise SilentAudioError(
            f"{audio.source or 'audio'}: audio is silent (peak {peak_db:.0f} dBFS < {SILENT_PEAK_DBFS:.0f}); "
            "check the microphone or pass the recorded audio"
        )

    voiced = voice_activity(audio, timestamps_s=t)
    frame_s = float(np.median(np.diff(t))) if t.size > 1 else 0.04
    speech_s = float(voiced[features.valid].sum()) * frame_s
    opening = features.column("opening")[features.valid]
    lip_range = float(np.percentile(opening, 95) - np.percentile(opening, 5)) if opening.size else 0.0
    reasons: list[str] = []
    has_speech = speech_s >= MIN_SPEECH_S
    lips_move = lip_range >= STILL_LIP_RANGE
    details: dict[str, Any] = {
        "speech_s": round(speech_s, 3),
        "lip_range": lip_range,
        "overlap_s": round(overlap_s, 3),
        "tolerance_ms": model.tolerance_ms,
        "model": model.trained_on,
    }
    if not lips_move:
        reasons.append("STILL_FACE_WITH_VOICE" if has_speech else "NO_LIP_MOTION")
    if not has_speech:
        reasons.append("NO_SPEECH")
    empty = np.zeros(0)
    if reasons:
        return SyncResult(
            score=float("nan"),
            threshold=float(thr),
            accepted=False,
            reasons=tuple(reasons),
            details=details,
            lags_ms=empty,
            correlations=empty.astype(np.float32),
            window_times_s=empty,
            window_agreement=empty.astype(np.float32),
        )

    lags = np.arange(-max_offset_ms, max_offset_ms + 1e-9, 10.0)
    pred, lip, mask = _prepare(features, audio, lags, model, None)
    r = _masked_corr(pred, lip, mask, 10)
    if not np.any(np.isfinite(r)):
        raise TooShortError(
            f"{audio.source or 'audio'}: too few frames with both a face and audio; record a longer clip"
        )
    best = int(np.nanargmax(r))
    offset_ms = float(lags[best])
    confidence = _robust_z(r, float(r[best]))
    near = np.abs(lags) <= model.tolerance_ms
    score = float(np.nanmax(r[near])) if np.any(np.isfinite(r[near])) else float("nan")
    accepted = bool(np.isfinite(score) and score >= thr)
    if not accepted:
        in_tol = abs(offset_ms) <= model.tolerance_ms
        # the voice does follow the lips, only at another offset: a desync, not a mismatch
        reasons.append("AV_DESYNC" if (not in_tol and float(r[best]) >= thr) else "LOW_CONFIDENCE")
    # per-window agreement at the estimated offset
    centres = _windows(t, window_s, window_s / 2)
    agree = np.full(centres.size, np.nan, dtype=np.float32)
    for i, c in enumerate(centres):
        frames = np.abs(t - c) <= window_s / 2
        agree[i] = _masked_corr(pred[best : best + 1], lip, mask[best : best + 1] & frames[None, :], 10)[0]
    details.update({"best_correlation": float(r[best]), "zero_lag_correlation": float(r[np.argmin(np.abs(lags))])})
    return SyncResult(
        score=score,
        threshold=float(thr),
        accepted=accepted,
        reasons=tuple(reasons),
        details=details,
        offset_ms=offset_ms,
        confidence=float(confidence),
        lags_ms=lags,
        correlations=r.astype(np.float32),
        window_times_s=centres,
        window_agreement=agree,
    )
