"""The audio-visual sync model: two small towers that embed a voice window and a lip window.

The lip tower reads the 40 face-normalised lip landmarks (``LipFeatures.landmarks``) at five
times around a frame (``-80..+80 ms``), normalised per clip (mean shape removed, divided by
the clip's overall spread, so face shape and size cancel). The audio tower reads 40 log-mel
bands at nine times around the same instant (``-160..+160 ms``), normalised per clip
(:func:`audio_grid`). Each tower is a small multilayer perceptron (ReLU between layers).
A lip window and a voice window that belong together point the same way; the **lag curve**
of a clip is their agreement over its frames with the voice read ``lag`` later, for every
lag in +-1 s: with ``pooling="correlation"`` (the shipped model) the normalised
cross-correlation of the two embedding sequences, ``sum_t l_t . a_t / sqrt(sum_t |l_t|^2
sum_t |a_t|^2)`` (frames weigh by the size of their embeddings: a silent stretch, whose
embeddings are small, counts little); with ``pooling="cosine"`` (models before session 7)
the mean over frames of the cosine of the unit-length embeddings.

The shipped towers (``models/sync_towers.npz``) are linear: :func:`fit_sync_model` fits
them by canonical correlation analysis of lip and voice windows (numpy; 16 canonical
pairs, each weighted by the square root of its canonical correlation), and
``scripts/train_sync.py`` fits them on 27 people. The model format also holds multilayer
towers (ReLU between layers); small MLPs trained contrastively (PyTorch, training only:
``scripts/train_sync.py --mlp``) measured no better on held-out people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lipauth.errors import ConfigError, InputError
from lipauth.types import Audio, LipFeatures

__all__ = [
    "HOP_S",
    "SyncModel",
    "audio_grid",
    "fit_sync_model",
    "lag_cosines",
    "lag_curve",
    "lip_windows",
    "load_sync_model",
    "mean_over_frames",
]

#: audio grid step, seconds (lags are searched on this grid)
HOP_S = 0.01
_MODEL_RATE = 16000
_DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "sync_towers.npz"
_N_LANDMARKS = 40
#: how a lag's agreement pools the frames (:class:`SyncModel` ``pooling``)
POOLINGS = ("correlation", "cosine")


@dataclass(frozen=True, eq=False)
class SyncModel:
    """Two towers: ``lip_layers`` and ``audio_layers``, each a list of ``(W, b)``.

    Attributes
    ----------
    lip_layers, audio_layers : tuple of (np.ndarray, np.ndarray)
        ``x @ W + b`` per layer, ReLU between layers (not after the last).
    lip_taps_s : np.ndarray [shape=(n_lip_taps,)]
        Times around a frame at which the lip landmarks are read, seconds.
    audio_taps_s : np.ndarray [shape=(n_audio_taps,)]
        Times around a frame at which the log-mel bands are read, seconds.
    n_mels : int
    window_s : float
        Log-mel analysis window, seconds.
    threshold : float
        Default decision threshold on the score (agreement near zero lag minus the best
        agreement more than ``far_ms`` away, :func:`lipauth.checks.sync.sync_score`).
    tolerance_ms : float
        Lags within this of zero count as in sync.
    far_ms : float
        Lags further than this from zero are the clip's "elsewhere": the score is how far
        the agreement near zero lag stands above the best of them.
    pooling : {"correlation", "cosine"}
        How a lag's agreement pools the frames: the normalised cross-correlation of the two
        embedding sequences, or the mean of the per-frame cosines (the towers' outputs
        scaled to unit length).
    trained_on : str
        The data the weights and the thresholds come from.
    """

    lip_layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    audio_layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    lip_taps_s: np.ndarray = field(default_factory=lambda: np.arange(-2, 3) * 0.04)
    audio_taps_s: np.ndarray = field(default_factory=lambda: np.arange(-4, 5) * 0.04)
    n_mels: int = 40
    window_s: float = 0.04
    threshold: float = 0.3
    tolerance_ms: float = 150.0
    far_ms: float = 300.0
    pooling: str = "cosine"
    trained_on: str = ""

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling={self.pooling!r}; pass one of {', '.join(POOLINGS)}")

    def save(self, path: str | Path) -> Path:
        """Write the model as a compressed ``.npz`` (float32 weights)."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for side, layers in (("lip", self.lip_layers), ("audio", self.audio_layers)):
            for i, (w, b) in enumerate(layers):
                arrays[f"{side}_w{i}"] = np.asarray(w, np.float32)
                arrays[f"{side}_b{i}"] = np.asarray(b, np.float32)
        np.savez_compressed(
            path,
            **arrays,
            lip_taps_s=np.asarray(self.lip_taps_s, np.float64),
            audio_taps_s=np.asarray(self.audio_taps_s, np.float64),
            n_mels=np.int64(self.n_mels),
            window_s=np.float64(self.window_s),
            threshold=np.float64(self.threshold),
            tolerance_ms=np.float64(self.tolerance_ms),
            far_ms=np.float64(self.far_ms),
            pooling=np.array(self.pooling),
            trained_on=np.array(self.trained_on),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> SyncModel:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: sync model not found; pass the .npz written by scripts/train_sync.py")
        with np.load(path, allow_pickle=False) as z:

            def layers(side: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
                n = sum(1 for k in z.files if k.startswith(f"{side}_w"))
                return tuple((z[f"{side}_w{i}"].astype(np.float32), z[f"{side}_b{i}"].astype(np.float32)) for i in range(n))

            return cls(
                lip_layers=layers("lip"),
                audio_layers=layers("audio"),
                lip_taps_s=z["lip_taps_s"].astype(np.float64),
                audio_taps_s=z["audio_taps_s"].astype(np.float64),
                n_mels=int(z["n_mels"]),
                window_s=float(z["window_s"]),
                threshold=float(z["threshold"]),
                tolerance_ms=float(z["tolerance_ms"]),
                far_ms=float(z["far_ms"]) if "far_ms" in z.files else 300.0,
                pooling=str(z["pooling"]) if "pooling" in z.files else "cosine",
                trained_on=str(z["trained_on"]),
            )


_MODEL_CACHE: dict[str, SyncModel] = {}


def load_sync_model(path: str | Path | None = None) -> SyncModel:
    """The shipped sync model (or one from ``path``), cached per path."""
    key = str(path or _DEFAULT_MODEL)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = SyncModel.load(key)
    return _MODEL_CACHE[key]


# --------------------------------------------------------------------------------------
# inputs


def lip_windows(features: LipFeatures, model: SyncModel, usable: np.ndarray) -> np.ndarray:
    """Per-clip normalised lip-landmark windows, one per frame [shape=(n, n_lip_taps * 80)].

    ``usable`` marks the frames whose landmarks set the clip's mean shape and spread. Frames
    without a face (``features.valid`` false) are not read, not even as the context of their
    neighbours: their landmarks are interpolated in time from the frames with a face (a
    tracker's junk over a lost face would otherwise leak into the frames around the gap).
    """
    lm = np.asarray(features.landmarks, dtype=np.float64)
    if lm.shape[0] != features.n_frames or lm.shape[1:] != (_N_LANDMARKS, 2):
        raise InputError(
            "features carry no lip landmarks (LipFeatures.landmarks is empty); make them with "
            "lipauth.features.extract_lip_features from a track"
        )
    t = features.timestamps_s
    x = lm.reshape(lm.shape[0], -1).copy()
    face = np.asarray(features.valid, dtype=bool)
    if face.any() and not face.all():
        for j in range(x.shape[1]):
            x[~face, j] = np.interp(t[~face], t[face], x[face, j])
    x = x - x[usable].mean(axis=0)
    x = x / max(float(x[usable].std()), 1e-9)
    cols = []
    for d in np.asarray(model.lip_taps_s):
        tt = np.clip(t + d, t[0], t[-1])
        j = np.clip(np.searchsorted(t, tt) - 1, 0, max(t.size - 2, 0))
        if t.size > 1:
            w = np.clip((tt - t[j]) / np.maximum(t[j + 1] - t[j], 1e-9), 0.0, 1.0)[:, None]
            cols.append(x[j] * (1 - w) + x[j + 1] * w)
        else:
            cols.append(x)
    return np.concatenate(cols, axis=1)


def audio_grid(audio: Audio, t0: float, t1: float, model: SyncModel) -> tuple[float, np.ndarray, np.ndarray]:
    """Normalised log-mel on a 10-ms grid from ``t0`` to ``t1``.

    Each band minus its mean, divided by the clip's overall log-mel standard deviation
    (over the part of the grid the recording covers), so loudness and microphone colour
    cancel. Returns ``(grid_t0, mel [shape=(G, n_mels)], inside [shape=(G,), bool])``.
    """
    from lipauth.features.audio import log_mel, resample_audio

    audio = resample_audio(audio, sample_rate=_MODEL_RATE)
    n = int(np.ceil((t1 - t0) / HOP_S)) + 1
    grid = t0 + np.arange(n) * HOP_S
    mel = log_mel(audio, timestamps_s=grid, n_mels=model.n_mels, window_s=model.window_s).astype(np.float64)
    half = model.window_s / 2
    inside = (grid - half >= audio.start_s - 1e-9) & (grid + half <= audio.end_s + 1e-9)
    if inside.sum() < 2:
        inside = (grid >= audio.start_s) & (grid <= audio.end_s)
    if inside.any():
        mel = (mel - mel[inside].mean(axis=0)) / max(float(mel[inside].std()), 1e-6)
    mel[~inside] = 0.0
    return float(grid[0]), mel, inside


def _audio_windows(mel: np.ndarray, model: SyncModel) -> np.ndarray:
    """Log-mel context at every grid point [shape=(G, n_audio_taps * n_mels)]."""
    steps = np.round(np.asarray(model.audio_taps_s) / HOP_S).astype(np.int64)
    g = np.clip(np.arange(mel.shape[0])[:, None] + steps[None, :], 0, mel.shape[0] - 1)
    return mel[g].reshape(mel.shape[0], -1)


def _tower(x: np.ndarray, layers: tuple[tuple[np.ndarray, np.ndarray], ...], unit: bool = True) -> np.ndarray:
    h = x.astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            np.maximum(h, 0.0, out=h)
    return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-9) if unit else h


# --------------------------------------------------------------------------------------
# the lag curve


def lag_curve(
    features: LipFeatures,
    audio: Audio,
    *,
    lags_ms: np.ndarray,
    model: SyncModel | None = None,
    frames: np.ndarray | None = None,
    min_frames: int = 10,
    min_share: float = 0.0,
) -> np.ndarray:
    """Agreement of lip and voice embeddings over the clip's frames, at each lag (the
    model's ``pooling``: normalised cross-correlation or mean cosine).

    Parameters
    ----------
    features : LipFeatures
        With ``landmarks`` (from :func:`lipauth.features.extract_lip_features`).
    audio : Audio
    lags_ms : np.ndarray [shape=(n_lags,)]
        Candidate lags of the audio behind the lips, milliseconds.
    model : SyncModel, optional
        Defaults to the shipped model.
    frames : np.ndarray [shape=(n_frames,), bool], optional
        Restrict to these frames (e.g. one time window).
    min_frames : int
        Lags with fewer frames that have both lips and audio get NaN.
    min_share : float
        ... or with fewer than this share of the best-covered lag's frames.

    Returns
    -------
    np.ndarray [shape=(n_lags,), float64]
    """
    model = model or load_sync_model()
    cos, mask = lag_cosines(features, audio, np.asarray(lags_ms, dtype=np.float64), model, frames)
    return mean_over_frames(cos, mask, min_frames, min_share)


def mean_over_frames(cos: np.ndarray, mask: np.ndarray, min_frames: int = 10, min_share: float = 0.0) -> np.ndarray:
    """Mean of ``cos`` over the frames ``mask`` keeps, per row; NaN with fewer than ``min_frames``
    frames or fewer than ``min_share`` of the best-covered row's."""
    n = mask.sum(axis=1)
    r = np.where(mask, cos, 0.0).sum(axis=1) / np.maximum(n, 1)
    r[(n < min_frames) | (n < min_share * (n.max() if n.size else 0))] = np.nan
    return r


def lag_cosines(
    features: LipFeatures, audio: Audio, lags_ms: np.ndarray, model: SyncModel, frames: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Agreement per (lag, frame) [shape=(L, n)] and where it is defined [shape=(L, n), bool].

    Its mean over a lag's defined frames (:func:`mean_over_frames`) is the lag's agreement:
    with ``pooling="cosine"`` each frame's cosine of the unit-length embeddings; with
    ``"correlation"`` each frame's product ``l_t . a_t`` divided by the lag's RMS embedding
    sizes ``sqrt(mean_t |l_t|^2 mean_t |a_t|^2)`` (over the same frames), so that the mean
    is the normalised cross-correlation of the two sequences.
    """
    valid = features.valid.copy()
    if frames is not None:
        valid &= frames
    if valid.sum() < 2:
        raise InputError("too few valid lip frames for the sync check; pass a clip with the face visible")
    t = features.timestamps_s
    lags_s = lags_ms / 1000.0
    unit = model.pooling == "cosine"
    el = _tower(lip_windows(features, model, valid), model.lip_layers, unit)
    margin = float(np.max(np.abs(model.audio_taps_s))) + 0.05
    g0, mel, inside = audio_grid(audio, float(t[0] + lags_s.min() - margin), float(t[-1] + lags_s.max() + margin), model)
    ea = _audio_windows(mel, model)
    idx = np.clip(np.round((t[None, :] + lags_s[:, None] - g0) / HOP_S).astype(np.int64), 0, mel.shape[0] - 1)
    used = np.unique(idx)
    emb = np.zeros((mel.shape[0], el.shape[1]), np.float32)
    emb[used] = _tower(ea[used], model.audio_layers, unit)
    cos = np.einsum("lnd,nd->ln", emb[idx], el).astype(np.float64)
    mask = valid[None, :] & inside[idx]
    if not unit:
        n = np.maximum(mask.sum(axis=1), 1)
        power_l = np.where(mask, np.sum(el.astype(np.float64) ** 2, axis=1)[None, :], 0.0).sum(axis=1) / n
        power_a = np.where(mask, np.sum(emb.astype(np.float64) ** 2, axis=1)[idx], 0.0).sum(axis=1) / n
        cos /= np.sqrt(np.maximum(power_l * power_a, 1e-18))[:, None]
    return cos, mask


# --------------------------------------------------------------------------------------
# a linear baseline in numpy


def fit_sync_model(
    clips: list[tuple[LipFeatures, Audio]],
    *,
    n_components: int = 16,
    regularisation: float = 1.0,
    weighting: str = "canonical",
    pooling: str = "correlation",
    threshold: float = 1.0,
    tolerance_ms: float = 150.0,
    far_ms: float = 300.0,
    trained_on: str = "",
) -> SyncModel:
    """Linear towers by canonical correlation analysis of lip and voice windows.

    Parameters
    ----------
    clips : list of (LipFeatures, Audio)
        Genuine talking clips with their own audio (features with ``landmarks``).
    n_components : int
        Embedding size (canonical pairs kept).
    regularisation : float
        Ridge added to each covariance, as a share of its mean eigenvalue (1.0: measured
        on held-out people against 0.01-10, docs/notes/sync.md).
    weighting : {"canonical", "none"}
        ``"canonical"``: both towers' outputs for pair ``k`` scaled by the square root of
        its canonical correlation (over the largest), so that weak pairs count less.
    pooling : {"correlation", "cosine"}
        How the lag curve pools the frames (:class:`SyncModel`). The shipped recipe (16
        pairs, canonical weighting, correlation) against the previous one (4 pairs, no
        weighting, cosine): docs/notes/sync.md.

    Returns
    -------
    SyncModel
    """
    if not clips:
        raise InputError("fit_sync_model got no clips; pass a list of (LipFeatures, Audio) pairs of genuine speech")
    if not regularisation > 0 or n_components < 1:
        raise ConfigError(f"regularisation={regularisation!r}, n_components={n_components!r}; pass positive values")
    if weighting not in ("canonical", "none"):
        raise ConfigError(f"weighting={weighting!r}; pass 'canonical' or 'none'")
    proto = SyncModel(lip_layers=(), audio_layers=(), pooling=pooling)
    xs, ys = [], []
    for feats, audio in clips:
        t = feats.timestamps_s
        g0, mel, inside = audio_grid(audio, float(t[0]) - 0.3, float(t[-1]) + 0.3, proto)
        idx = np.clip(np.round((t - g0) / HOP_S).astype(np.int64), 0, mel.shape[0] - 1)
        use = feats.valid & inside[idx]
        if use.sum() < 10:
            continue
        xs.append(_audio_windows(mel, proto)[idx[use]])
        ys.append(lip_windows(feats, proto, use)[use])
    if not xs:
        raise InputError("fit_sync_model: no clip has 10 frames with both a face and audio")
    x, y = np.concatenate(xs), np.concatenate(ys)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    wa, wl, rho = _cca(x - mx, y - my, n_components, regularisation)
    if weighting == "canonical":
        scale = np.sqrt(rho / max(float(rho.max()), 1e-12))
        wa, wl = wa * scale, wl * scale
    return SyncModel(
        lip_layers=((wl.astype(np.float32), (-my @ wl).astype(np.float32)),),
        audio_layers=((wa.astype(np.float32), (-mx @ wa).astype(np.float32)),),
        threshold=float(threshold),
        tolerance_ms=float(tolerance_ms),
        far_ms=float(far_ms),
        pooling=pooling,
        trained_on=trained_on,
    )


def _cca(xc: np.ndarray, yc: np.ndarray, k: int, reg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Audio and lip projections of the ``k`` leading canonical pairs, and their canonical correlations."""
    n = xc.shape[0]
    cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
    cxx += reg * np.trace(cxx) / cxx.shape[0] * np.eye(cxx.shape[0])
    cyy += reg * np.trace(cyy) / cyy.shape[0] * np.eye(cyy.shape[0])

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(c)
        return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T

    ix, iy = inv_sqrt(cxx), inv_sqrt(cyy)
    u, s, vt = np.linalg.svd(ix @ cxy @ iy)
    return ix @ u[:, :k], iy @ vt.T[:, :k], s[:k]
