"""Lip password: enrol a personal lip movement from 3+ takes, then match attempts against it.

A take becomes a sequence (:func:`lipauth.features.sequence.utterance_sequence`: HOG and
pixels of the aligned labial crops plus pose-normalised landmarks, each channel normalised
per take) cut to the utterance (first to last lip-movement segment, plus a margin). The
template keeps the enrolment sequences and the statistics of their mutual DTW distances.

Matching degree (:func:`match_password`): the DTW distance ``d`` from the attempt to each
enrolled take (:func:`lipauth.features.sequence.dtw_distance`), combined over the takes
(:data:`PasswordConfig.combine`), relative to the attempt's own mean DTW distance ``c``
to a cohort of background takes shipped with the learned metric (other movements of
the training data and other sentences, never the user's): ``c`` is the mean distance to
the takes of one cohort corpus (the training phrases; GRID sentences), the nearer corpus
of the two, and ``score = 1 - d / c`` (cohort normalisation, "Z-norm"), so 1 = identical
movement, 0 = no closer than a typical unrelated take of the material most like the
attempt. Without the
cohort (``PasswordConfig(cohort=False)`` or ``use_metric=False``): ``score = 1 - d / d_chance``
where ``d_chance = 2 * sum(channel_weight ** 2)`` is the expected distance between two
unrelated takes (per-take normalised channels have unit mean squared norm). Per-take normalisation and
DTW make it robust to the distance to the camera (scale), head pose (landmarks and crops
are aligned by a 3-D/similarity fit) and speaking speed.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.config import check_range
from lipauth.errors import (
    BackendUnavailableError,
    EnrolmentError,
    InconsistentTakesError,
    InputError,
    TemplateDecryptError,
)
from lipauth.features.sequence import (
    SequenceConfig,
    dtw_distance,
    dtw_path,
    normalise_channel,
    utterance_frames,
    utterance_sequence,
)
from lipauth.types import CheckResult, LipFeatures, LipTrack, Video

__all__ = [
    "DEFAULT_THRESHOLD",
    "PasswordConfig",
    "PasswordMetric",
    "PasswordResult",
    "PasswordTake",
    "PasswordTemplate",
    "check_password",
    "dtw_path",
    "enrol_password",
    "load_metric",
    "match_password",
    "prepare_take",
    "take_from_features",
    "train_metric",
]

log = logging.getLogger(__name__)
TEMPLATE_KIND = "lip_password"
_FORMAT_VERSION = 2

#: Default acceptance threshold on the (cohort-normalised) matching degree. Tuned on
#: MIRACL-VC1 F01 phrases 01-03 (3 enrolment takes, random splits, each phrase scored
#: against a cohort without its own takes; ``benchmarks/accuracy_password.py``) at the
#: equal-error point (0.317); reported on phrases 04-06.
DEFAULT_THRESHOLD = 0.32


METRIC_FILE = "password_metric.npz"


@dataclass(frozen=True, eq=False)
class PasswordMetric:
    """A learned linear projection of the frame features (a discriminant metric).

    ``z = (x - mean) @ projection``: PCA of the frames, then the directions that spread
    frames of different lip positions apart relative to how the same position varies from
    take to take (within-take-pair differences along DTW paths; shrinkage-regularised LDA).

    Attributes
    ----------
    mean : np.ndarray [shape=(d,), dtype=float32]
    projection : np.ndarray [shape=(d, k), dtype=float32]
    info : dict
        How it was trained (data, sizes).
    cohort : tuple of np.ndarray [shape=(n_frames_k, k), dtype=float32]
        Background takes, already projected (:meth:`apply`): the training takes and other
        sentences (:meth:`with_cohort`), for the cohort normalisation of the matching
        degree (module docstring).
    cohort_groups : tuple of int
        The group of each cohort take: a training phrase (>= 0; together one corpus) or a
        negative number (each its own corpus, e.g. -1 = GRID sentences).
    """

    mean: np.ndarray
    projection: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    cohort: tuple[np.ndarray, ...] = ()
    cohort_groups: tuple[int, ...] = ()

    @cached_property
    def metric_id(self) -> str:
        import hashlib

        h = hashlib.sha256(self.projection.tobytes() + self.mean.tobytes())
        for c in self.cohort:
            h.update(np.ascontiguousarray(c, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def without_groups(self, groups: Sequence[int]) -> PasswordMetric:
        """The same metric with the cohort takes of ``groups`` left out (leave-phrase-out evaluation)."""
        keep = [k for k, g in enumerate(self.cohort_groups) if g not in set(groups)]
        return PasswordMetric(
            mean=self.mean,
            projection=self.projection,
            info=self.info,
            cohort=tuple(self.cohort[k] for k in keep),
            cohort_groups=tuple(self.cohort_groups[k] for k in keep),
        )

    def apply(self, sequence: np.ndarray) -> np.ndarray:
        """Project a (per-take normalised) sequence and normalise it again per take.

        Parameters
        ----------
        sequence : np.ndarray [shape=(n_frames, d)]

        Returns
        -------
        np.ndarray [shape=(n_frames, k), dtype=float32]
        """
        x = np.asarray(sequence, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise InputError(
                f"sequence has shape {x.shape} but the password metric expects {self.mean.shape[0]} columns; "
                "build it with the default SequenceConfig or set PasswordConfig(metric=None)"
            )
        return normalise_channel((x - self.mean) @ self.projection).astype(np.float32)

    def with_cohort(self, sequences: Sequence[np.ndarray], group: int) -> PasswordMetric:
        """The same metric with more cohort takes (raw per-take normalised sequences, projected here).

        Parameters
        ----------
        sequences : sequence of np.ndarray [shape=(n_frames, d)]
        group : int
            Their group label (e.g. -1 for a corpus of other sentences).
        """
        extra = tuple(self.apply(s).astype(np.float16).astype(np.float32) for s in sequences)
        return PasswordMetric(
            mean=self.mean,
            projection=self.projection,
            info=self.info,
            cohort=self.cohort + extra,
            cohort_groups=self.cohort_groups + (int(group),) * len(extra),
        )

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (cohort frames as float16: about 1 KB per take)."""
        lengths = np.array([len(c) for c in self.cohort], dtype=np.int32)
        frames = np.concatenate(self.cohort) if self.cohort else np.zeros((0, self.projection.shape[1]))
        np.savez_compressed(
            path,
            mean=self.mean,
            projection=self.projection,
            info=np.frombuffer(json.dumps(self.info).encode(), dtype=np.uint8),
            cohort=frames.astype(np.float16),
            cohort_lengths=lengths,
            cohort_groups=np.array(self.cohort_groups, dtype=np.int32),
        )

    @classmethod
    def load(cls, path: str | Path) -> PasswordMetric:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(bytes(z["info"]).decode())
            cohort: tuple[np.ndarray, ...] = ()
            groups: tuple[int, ...] = ()
            if "cohort" in z.files:
                bounds = np.cumsum(z["cohort_lengths"])[:-1]
                cohort = tuple(np.ascontiguousarray(c, dtype=np.float32) for c in np.split(z["cohort"], bounds) if len(c))
                groups = tuple(int(g) for g in z["cohort_groups"])
            return cls(
                mean=z["mean"].astype(np.float32),
                projection=z["projection"].astype(np.float32),
                info=info,
                cohort=cohort,
                cohort_groups=groups,
            )


@lru_cache(maxsize=1)
def load_metric() -> PasswordMetric:
    """The metric shipped in the package (``checks/models/password_metric.npz``).

    Trained by ``benchmarks/train_password_metric.py`` on MIRACL-VC1 F01 phrases 01-03
    only (phrases 04-06 are kept for reporting).
    """
    path = Path(__file__).resolve().parent / "models" / METRIC_FILE
    if not path.exists():
        raise BackendUnavailableError(f"{path} is missing (broken install); reinstall lipauth or set PasswordConfig(metric=None)")
    return PasswordMetric.load(path)


def train_metric(
    groups: Sequence[Sequence[np.ndarray]],
    *,
    n_pca: int = 60,
    shrinkage: float = 0.3,
    n_dims: int = 40,
    info: dict | None = None,
    group_ids: Sequence[int] | None = None,
) -> PasswordMetric:
    """Learn a :class:`PasswordMetric` from takes grouped by movement (phrase).

    Parameters
    ----------
    groups : sequence of sequences of np.ndarray [shape=(n_frames, d)]
        Per-take normalised sequences (:func:`utterance_sequence`), one group per phrase,
        at least 2 takes per group.
    n_pca : int
        PCA dimensions kept before the discriminant step.
    shrinkage : float
        Within-pair covariance shrinkage towards a scaled identity (0 to 1).
    n_dims : int
        Output dimensions (at most ``n_pca``).
    group_ids : sequence of int, optional
        A label per group (e.g. the phrase number), kept with the cohort; default 0, 1, ...

    Returns
    -------
    PasswordMetric
        With every training take, projected, as its cohort.
    """
    import scipy.linalg

    check_range("train_metric", "shrinkage", shrinkage, 0.0, 1.0)
    if len(groups) < 2 or any(len(g) < 2 for g in groups):
        raise InputError("train_metric needs at least 2 groups of at least 2 takes each")
    takes = [np.asarray(t, dtype=np.float64) for g in groups for t in g]
    x = np.concatenate(takes)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(n_pca, vt.shape[0])
    pca = vt[:k].T
    diffs = []
    for g in groups:
        z = [(np.asarray(t, dtype=np.float64) - mean) @ pca for t in g]
        for a, b in itertools.combinations(range(len(z)), 2):
            path = dtw_path(z[a], z[b])
            diffs.append(np.array([z[a][i] - z[b][j] for i, j in path]))
    dd = np.concatenate(diffs)
    within = dd.T @ dd / len(dd)
    within += shrinkage * np.trace(within) / k * np.eye(k)
    zz = (x - mean) @ pca
    total = zz.T @ zz / len(zz)
    w, v = scipy.linalg.eigh(total, within)
    v = v[:, np.argsort(w)[::-1][: min(n_dims, k)]]
    meta = {"n_pca": k, "shrinkage": shrinkage, "n_dims": int(v.shape[1]), "n_takes": len(takes), **(info or {})}
    ids = list(range(len(groups))) if group_ids is None else [int(g) for g in group_ids]
    if len(ids) != len(groups):
        raise InputError(f"train_metric got {len(ids)} group_ids for {len(groups)} groups; pass one id per group")
    metric = PasswordMetric(mean=mean.astype(np.float32), projection=(pca @ v).astype(np.float32), info=meta)
    cohort = tuple(metric.apply(t).astype(np.float16).astype(np.float32) for g in groups for t in g)
    cohort_groups = tuple(gid for gid, g in zip(ids, groups) for _ in g)
    return PasswordMetric(mean=metric.mean, projection=metric.projection, info=meta, cohort=cohort, cohort_groups=cohort_groups)


@dataclass(frozen=True)
class PasswordConfig:
    """Settings of enrolment and matching.

    Attributes
    ----------
    sequence : SequenceConfig
        Frame representation and DTW band (shared with the lip commands).
    threshold : float
        Accept when the matching degree is at least this (:data:`DEFAULT_THRESHOLD`).
    combine : str
        How the distances to the enrolled takes are combined: ``"min"`` (nearest take)
        or ``"mean"``. ``"min"`` measured better on MIRACL F01 phrases 01-03.
    min_takes : int
        Enrolment takes required (3 or more).
    consistency_ratio : float
        A take whose mean distance to the others exceeds this multiple of the median
        distance among the others is refused as inconsistent. Set on MIRACL F01 phrases
        01-03 above the 99th percentile of genuine 3-take sets (2.5): it catches gross
        mistakes (a still or truncated take, another movement), not a similar phrase
        (a take of another MIRACL phrase gives a median ratio of only 1.6).
    margin_s : float
        Seconds kept before the first and after the last lip-movement segment when the
        utterance is cut from the clip. 0.6 measured better than 0.15 and 0.3 on MIRACL F01
        phrases 01-03 (EER 4.5% vs 7.7% and 6.7%: the rest frames around a short movement help).
    spread_ratio : float
        Second, per-user gate: the attempt's distance to the nearest enrolled take must not
        exceed this multiple of the enrolment takes' own median distance (floored at
        ``0.025 * chance_distance``), so a user whose takes are very consistent is not
        matched by any merely similar movement. 3.0: the largest genuine ratio on MIRACL F01
        phrases 01-03 is 2.25 (04-06: 1.94).
    use_metric : bool
        Project frames with the learned metric shipped in the package (:func:`load_metric`)
        before DTW (default); False compares the raw sequences.
    cohort : bool
        Normalise the matching degree by the attempt's mean DTW distance to the nearest
        corpus of the metric's cohort (module docstring; needs ``use_metric``); False: by
        the chance distance. MIRACL F01 EER 4.2 -> 2 % (phrases 04-06), other fold 6.6 ->
        3 %; GRID s1 other sentences above the threshold 91 -> 5 % (README "Lip password").
    min_motion : float
        Smallest lip-movement amplitude a take needs (5-95 percentile range of the inner-lip
        opening over the utterance, face units); a still mouth cannot be a password. Real
        takes measure 0.07 or more (MIRACL F01 and GRID s1, minimum over every clip).
    """

    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    threshold: float = DEFAULT_THRESHOLD
    combine: str = "min"
    min_takes: int = 3
    consistency_ratio: float = 2.6
    min_motion: float = 0.03
    use_metric: bool = True
    margin_s: float = 0.6
    spread_ratio: float = 3.0
    cohort: bool = True

    def __post_init__(self) -> None:
        check_range("PasswordConfig", "threshold", self.threshold, -10.0, 1.0)
        if self.combine not in ("min", "mean"):
            raise InputError(f"PasswordConfig.combine={self.combine!r}; use 'min' or 'mean'")
        check_range("PasswordConfig", "min_takes", self.min_takes, 3, 50)
        check_range("PasswordConfig", "consistency_ratio", self.consistency_ratio, 1.0, 100.0)
        check_range("PasswordConfig", "min_motion", self.min_motion, 0.0, 1.0)
        check_range("PasswordConfig", "margin_s", self.margin_s, 0.0, 5.0)
        check_range("PasswordConfig", "spread_ratio", self.spread_ratio, 1.0, 1e9)

    @property
    def chance_distance(self) -> float:
        """Expected DTW distance between unrelated takes (per-take normalised: 2 x mean squared norm)."""
        if self.use_metric:
            return 2.0
        s = self.sequence
        return 2.0 * (s.hog_weight**2 + s.pixel_weight**2 + s.landmark_weight**2 + s.shape_weight**2)


@dataclass(frozen=True, eq=False)
class PasswordTake:
    """One take of a lip password, ready to enrol or match.

    Attributes
    ----------
    sequence : np.ndarray [shape=(n_frames, d), dtype=float32]
        Per-take normalised utterance sequence (:func:`utterance_sequence`).
    motion : float
        Lip-movement amplitude: 5-95 percentile range of the inner-lip opening over the
        utterance (face units; about 0 for a still mouth).
    duration_s : float
        Length of the utterance cut from the clip.
    source : str
        File name or ``"<array>"`` (for messages).
    """

    sequence: np.ndarray
    motion: float
    duration_s: float
    source: str = "<array>"


def _utterance_span(features: LipFeatures, margin_s: float) -> tuple[float, float] | None:
    segs = [s for s in features.segments if s[1] > s[0]]
    if not segs:
        return None
    return min(s[0] for s in segs) - margin_s, max(s[1] for s in segs) + margin_s


def take_from_features(
    track: LipTrack,
    features: LipFeatures,
    crops: np.ndarray | None,
    *,
    config: PasswordConfig | None = None,
    source: str = "<array>",
) -> PasswordTake:
    """A :class:`PasswordTake` from a clip's track, features and labial crops.

    The utterance is the span from the first to the last lip-movement segment (plus
    ``sequence.margin_s``); a take without any segment keeps every valid frame and gets
    ``motion = 0``.

    Raises
    ------
    InsufficientDataError
        Fewer than 3 usable frames.
    """
    cfg = config or PasswordConfig()
    span = _utterance_span(features, cfg.margin_s)
    idx = utterance_frames(features) if span is None else utterance_frames(features, *span)
    if idx.size < 3:
        idx = utterance_frames(features)
    seq = utterance_sequence(track, features, crops, frames=idx, config=cfg.sequence)
    if cfg.use_metric:
        seq = load_metric().apply(seq)
    opening = np.asarray(track.inner_opening(), dtype=np.float64)[idx]
    opening = opening[np.isfinite(opening)]
    motion = float(np.percentile(opening, 95) - np.percentile(opening, 5)) if opening.size else 0.0
    t = features.timestamps_s[idx]
    return PasswordTake(sequence=seq, motion=motion, duration_s=float(t[-1] - t[0]) if t.size else 0.0, source=source)


def prepare_take(
    video: Video, *, track: LipTrack | None = None, config: PasswordConfig | None = None
) -> PasswordTake:
    """Track (unless ``track`` is given), extract features and crops, and cut the utterance.

    Parameters
    ----------
    video : Video
        The clip (eager or lazy).
    track : LipTrack, optional
        Its lip track, when already computed.
    config : PasswordConfig, optional

    Raises
    ------
    NoFaceError, InsufficientDataError
        No usable face in the clip.
    """
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.tracking import track_lips

    cfg = config or PasswordConfig()
    tr = track if track is not None else track_lips(video)
    feats = extract_lip_features(tr, video)
    crops = labial_crops(video, tr) if cfg.sequence.needs_crops else None
    return take_from_features(tr, feats, crops, config=cfg, source=video.source or "<video>")


def _seq(take: PasswordTake | np.ndarray) -> np.ndarray:
    return take.sequence if isinstance(take, PasswordTake) else np.asarray(take, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class PasswordTemplate:
    """An enrolled lip password (what the store keeps, encrypted).

    Attributes
    ----------
    sequences : tuple of np.ndarray [shape=(n_frames_k, d), dtype=float32]
        The enrolment takes' sequences.
    pair_distances : np.ndarray [shape=(n_pairs,), dtype=float64]
        DTW distances between every pair of enrolment takes.
    config : PasswordConfig
    label : str
        The user's name for this password (e.g. ``"default"``, ``"bank"``).
    created_at : float
        Unix time of enrolment.
    """

    sequences: tuple[np.ndarray, ...]
    pair_distances: np.ndarray
    config: PasswordConfig
    label: str = "default"
    created_at: float = 0.0

    @property
    def n_takes(self) -> int:
        return len(self.sequences)

    @property
    def spread(self) -> float:
        """Median distance between enrolment takes (the user's own take-to-take spread)."""
        return float(np.median(self.pair_distances)) if self.pair_distances.size else 0.0

    def to_bytes(self) -> bytes:
        """Serialise (``.npz`` without pickle; the store encrypts these bytes)."""
        meta = {
            "kind": TEMPLATE_KIND,
            "version": _FORMAT_VERSION,
            "label": self.label,
            "created_at": self.created_at,
            "sequence": self.config.sequence.to_dict(),
            "threshold": self.config.threshold,
            "combine": self.config.combine,
            "min_takes": self.config.min_takes,
            "consistency_ratio": self.config.consistency_ratio,
            "min_motion": self.config.min_motion,
            "margin_s": self.config.margin_s,
            "spread_ratio": self.config.spread_ratio,
            "use_metric": self.config.use_metric,
            "cohort": self.config.cohort,
            "metric_id": load_metric().metric_id if self.config.use_metric else "",
        }
        buf = io.BytesIO()
        arrays = {f"seq{k}": s for k, s in enumerate(self.sequences)}
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), pairs=self.pair_distances, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PasswordTemplate:
        """Inverse of :meth:`to_bytes`; :class:`TemplateDecryptError` when the bytes are not a template."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                n = sum(1 for k in z.files if k.startswith("seq"))
                seqs = tuple(np.asarray(z[f"seq{k}"], dtype=np.float32) for k in range(n))
                pairs = np.asarray(z["pairs"], dtype=np.float64)
        except (ValueError, KeyError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TemplateDecryptError(f"lip password template bytes are not readable ({exc}); enrol again") from None
        if meta.get("kind") != TEMPLATE_KIND or meta.get("version") != _FORMAT_VERSION:
            raise TemplateDecryptError(
                f"template kind/version {meta.get('kind')!r}/{meta.get('version')!r} is not "
                f"{TEMPLATE_KIND!r}/{_FORMAT_VERSION}; enrol again with this lipauth version"
            )
        if meta.get("use_metric") and meta.get("metric_id") != load_metric().metric_id:
            raise TemplateDecryptError(
                f"template was enrolled with password metric {meta.get('metric_id')!r}, this lipauth has "
                f"{load_metric().metric_id!r}; enrol the user again"
            )
        cfg = PasswordConfig(
            use_metric=bool(meta.get("use_metric", False)),
            cohort=bool(meta.get("cohort", False)),
            sequence=SequenceConfig.from_dict(meta["sequence"]),
            threshold=float(meta["threshold"]),
            combine=str(meta["combine"]),
            min_takes=int(meta["min_takes"]),
            consistency_ratio=float(meta["consistency_ratio"]),
            min_motion=float(meta["min_motion"]),
            margin_s=float(meta["margin_s"]),
            spread_ratio=float(meta["spread_ratio"]),
        )
        return cls(sequences=seqs, pair_distances=pairs, config=cfg, label=str(meta["label"]), created_at=float(meta["created_at"]))


def enrol_password(
    takes: Sequence[PasswordTake], *, label: str = "default", config: PasswordConfig | None = None
) -> PasswordTemplate:
    """Build a template from 3 or more takes of the same lip movement.

    Parameters
    ----------
    takes : sequence of PasswordTake
        From :func:`prepare_take` (all with the same ``config``).
    label : str
    config : PasswordConfig, optional

    Returns
    -------
    PasswordTemplate

    Raises
    ------
    EnrolmentError
        Fewer than ``min_takes`` takes, a take with too little lip motion, or a take
        inconsistent with the others (the message names it).
    """
    cfg = config or PasswordConfig()
    if not label or len(label) > 200:
        raise EnrolmentError(f"password label {label!r} must be 1 to 200 characters")
    if len(takes) < cfg.min_takes:
        raise EnrolmentError(f"got {len(takes)} enrolment take(s); record at least {cfg.min_takes} takes of the same lip movement")
    for k, take in enumerate(takes):
        if not isinstance(take, PasswordTake):
            raise EnrolmentError(f"take {k + 1} is a {type(take).__name__}; pass PasswordTake objects from prepare_take()")
        if take.motion < cfg.min_motion:
            raise EnrolmentError(
                f"take {k + 1} ({take.source}) has too little lip motion (peak {take.motion:.3f} < {cfg.min_motion} face units); "
                "move the lips clearly and record it again"
            )
    seqs = [_seq(t) for t in takes]
    widths = {s.shape[1] for s in seqs}
    if len(widths) != 1:
        raise EnrolmentError(f"takes have different feature widths {sorted(widths)}; prepare every take with the same config")
    n = len(seqs)
    dist = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        dist[i, j] = dist[j, i] = dtw_distance(seqs[i], seqs[j], band=cfg.sequence.band)
    for i in range(n):
        others = [dist[a, b] for a, b in itertools.combinations([k for k in range(n) if k != i], 2)]
        ref = max(float(np.median(others)), 0.05 * cfg.chance_distance)  # floor: near-identical takes
        own = float(np.mean([dist[i, k] for k in range(n) if k != i]))
        if own > cfg.consistency_ratio * ref:
            raise InconsistentTakesError(
                f"take {i + 1} ({takes[i].source}) does not match the other takes (distance {own:.2f} vs {ref:.2f} among "
                f"them, ratio above {cfg.consistency_ratio}); record it again with the same lip movement"
            )
    pairs = np.array([dist[i, j] for i, j in itertools.combinations(range(n), 2)])
    return PasswordTemplate(sequences=tuple(seqs), pair_distances=pairs, config=cfg, label=label, created_at=time.time())


def match_password(template: PasswordTemplate, take: PasswordTake | np.ndarray) -> tuple[float, np.ndarray]:
    """Matching degree of an attempt and its DTW distance to each enrolled take.

    Returns
    -------
    score : float
        ``1 - d / c``, ``c`` the mean distance to the nearest cohort corpus (or ``d_chance``; module
        docstring); higher = more similar.
    distances : np.ndarray [shape=(n_takes,), dtype=float64]

    Raises
    ------
    InputError
        The attempt's feature width differs from the template's (other config).
    """
    score, d, _ = _match(template, _attempt(template, take))
    return score, d


def _attempt(template: PasswordTemplate, take: PasswordTake | np.ndarray) -> np.ndarray:
    q = _seq(take)
    if q.ndim != 2 or q.shape[1] != template.sequences[0].shape[1]:
        raise InputError(
            f"attempt sequence has shape {q.shape} but the template's takes have {template.sequences[0].shape[1]} columns; "
            "prepare the attempt with the template's config"
        )
    return q


def _dtw_to_many(query: np.ndarray, references: Sequence[np.ndarray], *, band: float) -> np.ndarray:
    """:func:`dtw_distance` (closed ends) of one query to many references in one pass.

    The same recursion over anti-diagonals as :func:`dtw_distance`, vectorised across the
    references (padded with infinite cost): one Python loop of ``n + max(m)`` steps instead
    of one per reference, per bucket of references of similar length (at most 2x apart, so
    that little is padded; 40 cohort takes: 50 -> 5 ms). Equal to
    ``[dtw_distance(query, r, band=band) for r in references]`` up to rounding.

    Parameters
    ----------
    query : np.ndarray [shape=(n, d)]
    references : sequence of np.ndarray [shape=(m_k, d)]
    band : float
        As in :func:`dtw_distance`.

    Returns
    -------
    np.ndarray [shape=(len(references),), dtype=float64]
    """
    lengths = np.array([len(r) for r in references])
    out = np.zeros(len(references))
    order = np.argsort(lengths, kind="stable")
    bucket: list[int] = []
    for k in [*order.tolist(), -1]:
        if bucket and (k < 0 or lengths[k] > 2 * lengths[bucket[0]]):
            out[bucket] = _dtw_batch(query, [references[b] for b in bucket], band=band)
            bucket = []
        bucket.append(k)
    return out


def _dtw_batch(query: np.ndarray, references: Sequence[np.ndarray], *, band: float) -> np.ndarray:
    x = np.asarray(query, dtype=np.float64)
    n = x.shape[0]
    lengths = np.array([len(r) for r in references])
    r_count, m_max = len(references), int(lengths.max())
    cost = np.full((r_count, n, m_max), np.inf)
    fi = np.arange(n)[:, None] / max(n - 1, 1)
    x2 = (x**2).sum(1)[:, None]
    for k, ref in enumerate(references):
        y = np.asarray(ref, dtype=np.float64)
        m = len(y)
        c = np.maximum(x2 + (y**2).sum(1)[None, :] - 2.0 * x @ y.T, 0.0)
        fj = np.arange(m)[None, :] / max(m - 1, 1)
        slack = 1.0 / max(min(n, m) - 1, 1)
        cost[k, :, :m] = np.where(np.abs(fi - fj) <= band + slack, c, np.inf)
    n_diag = n + m_max
    skew = np.full((r_count, n_diag + 1, n + 1), np.inf)
    ii, jj = np.meshgrid(np.arange(1, n + 1), np.arange(1, m_max + 1), indexing="ij")
    skew[:, (ii + jj).ravel(), ii.ravel()] = cost.reshape(r_count, -1)
    acc = np.full((r_count, n_diag + 1, n + 1), np.inf)
    acc[:, 0, 0] = 0.0
    for k in range(2, n_diag + 1):
        lo, hi = max(1, k - m_max), min(n, k - 1) + 1
        best = np.minimum(np.minimum(acc[:, k - 2, lo - 1 : hi - 1], acc[:, k - 1, lo - 1 : hi - 1]), acc[:, k - 1, lo:hi])
        acc[:, k, lo:hi] = skew[:, k, lo:hi] + best
    ends = n + lengths
    return acc[np.arange(r_count), ends, n] / ends


_COHORT_CACHE: OrderedDict[tuple, float] = OrderedDict()
_COHORT_LOCK = threading.Lock()


def _cohort_distance(q: np.ndarray, metric: PasswordMetric, *, band: float) -> float:
    """Mean DTW distance of ``q`` to the nearer cohort corpus (cached per attempt: it does
    not depend on the template, so one attempt checked against several templates pays once)."""
    import hashlib

    key = (hashlib.blake2b(np.ascontiguousarray(q).tobytes(), digest_size=16).digest(), q.shape, q.dtype.str, metric.metric_id, band)
    with _COHORT_LOCK:
        if key in _COHORT_CACHE:
            _COHORT_CACHE.move_to_end(key)
            return _COHORT_CACHE[key]
    dc = _dtw_to_many(q, metric.cohort, band=band)
    corpus = np.minimum(np.array(metric.cohort_groups, dtype=np.int64), 0)
    norm = max(min(float(dc[corpus == k].mean()) for k in np.unique(corpus)), 1e-6)
    with _COHORT_LOCK:
        _COHORT_CACHE[key] = norm
        while len(_COHORT_CACHE) > 256:
            _COHORT_CACHE.popitem(last=False)
    return norm


def _match(template: PasswordTemplate, q: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(score, distances to the enrolled takes, normalising distance)``."""
    cfg = template.config
    d = np.array([dtw_distance(q, s, band=cfg.sequence.band) for s in template.sequences])
    combined = float(d.min() if cfg.combine == "min" else d.mean())
    norm = cfg.chance_distance
    if cfg.use_metric and cfg.cohort:
        cohort = load_metric().cohort
        if not cohort:
            raise BackendUnavailableError(
                "the password metric has no cohort takes; retrain it with benchmarks/train_password_metric.py "
                "or set PasswordConfig(cohort=False)"
            )
        if cohort[0].shape[1] != q.shape[1]:
            raise InputError(
                f"attempt sequence has {q.shape[1]} columns but the password metric's cohort has {cohort[0].shape[1]}; "
                "prepare takes with prepare_take() or set PasswordConfig(cohort=False)"
            )
        norm = _cohort_distance(q, load_metric(), band=cfg.sequence.band)
    return 1.0 - combined / norm, d, norm


@dataclass(frozen=True, eq=False)
class PasswordResult(CheckResult):
    """:class:`CheckResult` of :func:`check_password`, plus the per-take distances.

    Attributes
    ----------
    distances : tuple of float
        DTW distance to each enrolled take.
    """

    distances: tuple[float, ...] = ()


def check_password(
    template: PasswordTemplate, take: PasswordTake, *, threshold: float | None = None
) -> PasswordResult:
    """Does the attempt repeat the enrolled lip movement?

    Parameters
    ----------
    template : PasswordTemplate
    take : PasswordTake
        The attempt (:func:`prepare_take` with ``template.config``).
    threshold : float, optional
        Overrides ``template.config.threshold`` (:data:`DEFAULT_THRESHOLD`).

    Returns
    -------
    PasswordResult
        ``check="password"``; reasons ``NO_LIP_MOTION`` (a still mouth never matches),
        ``MISMATCH`` (score below threshold) and ``OUTSIDE_SPREAD`` (farther from the
        nearest enrolled take than ``spread_ratio`` times the enrolment spread).
    """
    if not isinstance(template, PasswordTemplate):
        raise InputError(f"template is a {type(template).__name__}; pass a PasswordTemplate (enrol_password)")
    if not isinstance(take, PasswordTake):
        raise InputError(f"take is a {type(take).__name__}; pass a PasswordTake (prepare_take)")
    thr = template.config.threshold if threshold is None else float(threshold)
    score, d, norm = _match(template, _attempt(template, take))
    reasons: list[str] = []
    if take.motion < template.config.min_motion:
        reasons.append("NO_LIP_MOTION")
    if not score >= thr:
        reasons.append("MISMATCH")
    cfg = template.config
    gate = cfg.spread_ratio * max(template.spread, 0.025 * cfg.chance_distance)
    if float(d.min()) > gate:
        reasons.append("OUTSIDE_SPREAD")
    return PasswordResult(
        check="password",
        score=float(score),
        threshold=thr,
        accepted=not reasons,
        reasons=tuple(reasons),
        details={
            "label": template.label,
            "n_takes": template.n_takes,
            "nearest_take": int(np.argmin(d)),
            "distance": float(d.min()),
            "enrolment_spread": template.spread,
            "spread_gate": gate,
            "cohort_distance": norm,
            "motion": take.motion,
            "duration_s": take.duration_s,
        },
        distances=tuple(float(x) for x in d),
    )
