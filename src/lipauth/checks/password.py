"""Lip password: enrol a personal lip movement from 3+ takes, then match attempts against it.

A take is the phrase with rest around it (a page records 3 s, the phrase is about 1 s).
:func:`take_from_features` finds the phrase inside the take (``features.matcher.take_frames``:
lip motion against the take's own rest level, and the voice when the take has audio), so
rest of any length before and after changes nothing, and builds its sequence with the
matcher shared with the lip commands (:mod:`lipauth.features.matcher`: six channels, HOG,
pixels, landmarks, jaw contour and two deep lip maps, each aligned by DTW free at both ends).
The template keeps the enrolment takes' :func:`~lipauth.features.matcher.sketch` es.

Matching degree (:func:`match_password`): the fused distance from the attempt to the enrolled
takes (each channel's distance the mean of its two nearest takes), each channel divided by the
attempt's own yardstick (its mean distance to a background cohort shipped in the package:
MIRACL-VC1 F01 phrases 01-03 and GRID s1 sentences, never the user's; or the smaller mean
distance to scrambled copies of the enrolled takes), ``score = 1 - distance``: 1 = identical
movement, 0 = no closer than a typical unrelated take.

Enrolment refuses takes that do not agree (:func:`enrol_password`): each take is verified
against the others in the same units (``features.matcher.take_consistency``); the lip
commands use the same rule.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lipauth.config import check_range
from lipauth.errors import (
    EnrolmentError,
    InputError,
    TemplateDecryptError,
)
from lipauth.features.matcher import (
    COHORT_FILE,
    MATCH_SEQUENCE,
    MAX_INCONSISTENCY,
    Cohort,
    MatcherConfig,
    check_consistency,
    fused_distances,
    load_cohort,
    sketch,
    take_frames,
)
from lipauth.features.sequence import SequenceConfig, utterance_sequence
from lipauth.types import CheckResult, LipFeatures, LipTrack, Video

__all__ = [
    "COHORT_FILE",
    "DEFAULT_THRESHOLD",
    "PasswordConfig",
    "PasswordResult",
    "PasswordTake",
    "PasswordTemplate",
    "check_password",
    "enrol_password",
    "load_cohort",
    "match_password",
    "prepare_take",
    "take_from_features",
]

log = logging.getLogger(__name__)
TEMPLATE_KIND = "lip_password"
_FORMAT_VERSION = 4

#: Default acceptance threshold on the matching degree: the mean of the leave-phrase-out fold
#: thresholds on MIRACL-VC1 F01 phrases 01-06 (each the equal-error threshold of the other five
#: phrases, the cohort without the person; 0.191-0.198 on takes as recorded, 0.176-0.188 with
#: rest around them, mean 0.186; ``benchmarks/accuracy_password.py``), rounded up (fewer false
#: accepts). Templates enrolled before keep the threshold (0.21) and the scoring they were enrolled with.
DEFAULT_THRESHOLD = 0.19
#: fusion weights of the password (``features.matcher.MATCH_CHANNELS`` order): the commands'
#: weights without the jaw contour, which lost 1.5-2 EER points on takes with rest (MIRACL
#: F01 phrases 01-03, leave-phrase-out cohort)
PASSWORD_WEIGHTS = (1.0, 2.0, 0.3, 0.0, 10.0, 10.0)
#: weights of the motion channels (``features.matcher.MatcherConfig.delta_weights``: a channel's
#: frame-to-frame differences, normalised per take, aligned and fused like a channel): the
#: pixels and the two deep lip maps, each at its channel's weight (the HOG and landmark deltas
#: added nothing and cost time). Leave-phrase-out on MIRACL F01 phrases 01-06: docs/password.md;
#: the lip commands have none
PASSWORD_DELTA_WEIGHTS = (0.0, 2.0, 0.0, 0.0, 10.0, 10.0)
#: the password's yardstick (``features.matcher.MatcherConfig.yardstick``): the smaller of the means of
#: the attempt's distances to the cohort and to the scrambled copies (the commands: of the medians)
PASSWORD_YARDSTICK = "nearest_mean"
#: :attr:`PasswordConfig.combine` choices
COMBINE = ("nearest2", "min", "mean")

@dataclass(frozen=True)
class PasswordConfig:
    """Settings of enrolment and matching.

    Attributes
    ----------
    sequence : SequenceConfig
        Frame representation (shared with the lip commands: :data:`MATCH_SEQUENCE`).
    matcher : MatcherConfig
        Channel weights (:data:`PASSWORD_WEIGHTS`), the motion channels (:data:`PASSWORD_DELTA_WEIGHTS`),
        DTW band and open ends (0.2: 0.3 lost 2-3 EER points on MIRACL F01 phrases 01-03).
    threshold : float
        Accept when the matching degree is at least this (:data:`DEFAULT_THRESHOLD`).
    combine : str
        How the distances to the enrolled takes are combined: ``"nearest2"`` (the default: each
        channel's distance is the mean of its two nearest enrolled takes, then the channels are
        fused), ``"min"`` (the fused distance to the nearest take, before) or ``"mean"`` (of the
        fused distances). Leave-phrase-out on MIRACL F01 phrases 01-06 (docs/notes/password.md).
    min_takes : int
        Enrolment takes required (3 or more).
    max_inconsistency : float
        Enrolment: a take whose fused distance to the nearest other take (its own yardstick;
        ``features.matcher.take_consistency``, in the six channels without the motion channels,
        the units of the rule the lip commands share) exceeds this is refused and named.
        Measured on MIRACL F01 phrases 01-03 and GRID s1 / other people (docs/password.md).
    min_motion : float
        Smallest lip-movement amplitude a take needs (5-95 percentile range of the inner-lip
        opening over the phrase, face units); a still mouth cannot be a password. Real takes
        measure 0.07 or more (MIRACL F01 and GRID s1, minimum over every clip).
    """

    sequence: SequenceConfig = MATCH_SEQUENCE
    matcher: MatcherConfig = field(default_factory=lambda: MatcherConfig(
        weights=PASSWORD_WEIGHTS, delta_weights=PASSWORD_DELTA_WEIGHTS, yardstick=PASSWORD_YARDSTICK))
    threshold: float = DEFAULT_THRESHOLD
    combine: str = "nearest2"
    min_takes: int = 3
    max_inconsistency: float = MAX_INCONSISTENCY
    min_motion: float = 0.03

    def __post_init__(self) -> None:
        check_range("PasswordConfig", "threshold", self.threshold, -10.0, 1.0)
        if self.combine not in COMBINE:
            raise InputError(f"PasswordConfig.combine={self.combine!r}; use one of {COMBINE}")
        check_range("PasswordConfig", "min_takes", self.min_takes, 3, 50)
        check_range("PasswordConfig", "max_inconsistency", self.max_inconsistency, 0.0, 100.0)
        check_range("PasswordConfig", "min_motion", self.min_motion, 0.0, 1.0)

    def to_dict(self) -> dict:
        return {
            "sequence": self.sequence.to_dict(),
            "weights": list(self.matcher.weights),
            "band": self.matcher.band,
            "open_end": self.matcher.open_end,
            "delta_weights": list(self.matcher.delta_weights),
            "yardstick": self.matcher.yardstick,
            "threshold": self.threshold,
            "combine": self.combine,
            "min_takes": self.min_takes,
            "max_inconsistency": self.max_inconsistency,
            "min_motion": self.min_motion,
        }

    @classmethod
    def from_dict(cls, meta: dict) -> PasswordConfig:
        return cls(
            sequence=SequenceConfig.from_dict(meta["sequence"]),
            matcher=MatcherConfig(weights=tuple(meta["weights"]), band=float(meta["band"]), open_end=float(meta["open_end"]),
                                  delta_weights=tuple(meta.get("delta_weights", ())),
                                  yardstick=str(meta.get("yardstick", "nearest"))),
            threshold=float(meta["threshold"]),
            combine=str(meta["combine"]),
            min_takes=int(meta["min_takes"]),
            max_inconsistency=float(meta["max_inconsistency"]),
            min_motion=float(meta["min_motion"]),
        )


@dataclass(frozen=True, eq=False)
class PasswordTake:
    """One take of a lip password, ready to enrol or match.

    Attributes
    ----------
    sequence : np.ndarray [shape=(n_frames, d), dtype=float32]
        The phrase's :func:`~lipauth.features.matcher.sketch` (per-take normalised channels).
    motion : float
        Lip-movement amplitude: 5-95 percentile range of the inner-lip opening over the
        phrase (face units; about 0 for a still mouth).
    duration_s : float
        Length of the phrase found in the clip.
    source : str
        File name or ``"<array>"`` (for messages).
    """

    sequence: np.ndarray
    motion: float
    duration_s: float
    source: str = "<array>"


#: the phrase's frames are thinned to at most this rate and count before the sequence is built
#: (the deep lip maps cost ~3 ms a frame): MIRACL-VC1 is 15 fps; a 30-fps page take then costs
#: half, and a take longer than 1.6 s no more than 24 frames
MAX_FPS, MAX_FRAMES = 15.0, 24


def _thinned(idx: np.ndarray, timestamps_s: np.ndarray) -> np.ndarray:
    """Every k-th frame of ``idx`` so that the rate is at most :data:`MAX_FPS`, then evenly at most :data:`MAX_FRAMES`
    (never fewer than 3 frames when ``idx`` has 3)."""
    if idx.size < 2:
        return idx
    dt = float(np.median(np.diff(timestamps_s[idx])))
    step = max(int(round(1.0 / (MAX_FPS * dt))), 1) if dt > 0 else 1
    out = idx[::step]
    if out.size < 3:  # a phrase of 3-5 frames at 25-30 fps stays a sequence (a command needs 3)
        out = idx
    if out.size > MAX_FRAMES:
        out = out[np.round(np.linspace(0, out.size - 1, MAX_FRAMES)).astype(int)]
    return out


#: the deep lip maps (~3 ms a frame on an idle core, 3-4x that on a loaded one) are computed on
#: at most this many evenly spaced frames of the phrase and interpolated in between
MAX_DEEP_FRAMES = 12


def _key_frames(idx: np.ndarray) -> np.ndarray:
    if idx.size <= MAX_DEEP_FRAMES:
        return idx
    return idx[np.unique(np.round(np.linspace(0, idx.size - 1, MAX_DEEP_FRAMES)).astype(int))]


def _between_key_frames(deep: dict[str, np.ndarray], key: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The deep maps at the frames of ``idx`` interpolated linearly (in frame index) from those of ``key``."""
    if key.size < 2 or np.array_equal(key, idx):
        return deep
    out = {}
    for name, maps in deep.items():
        m = np.array(maps, dtype=np.float32, copy=True)
        pos = np.searchsorted(key, idx).clip(1, key.size - 1)
        lo, hi = key[pos - 1], key[pos]
        w = ((idx - lo) / np.maximum(hi - lo, 1)).clip(0.0, 1.0)[:, None].astype(np.float32)
        m[idx] = (1.0 - w) * m[lo] + w * m[hi]
        out[name] = m
    return out


def take_from_features(
    track: LipTrack,
    features: LipFeatures,
    crops: np.ndarray | None,
    *,
    config: PasswordConfig | None = None,
    source: str = "<array>",
    video: Video | None = None,
    deep: dict[str, np.ndarray] | None = None,
    speech_s: tuple[float, float] | None = None,
) -> PasswordTake:
    """A :class:`PasswordTake` from a clip's track, features and labial crops.

    The phrase is found inside the take (``features.matcher.take_frames``: rest before and
    after left out); its sequence is sketched (``features.matcher.sketch``).

    Parameters
    ----------
    video : Video, optional
        The clip: its deep lip maps are computed on the phrase's frames when ``deep`` is not
        given and the sequence config needs them.
    deep : dict, optional
        ``features.deep.deep_lip_frames`` of the clip (at least on the phrase's frames).
    speech_s : (float, float), optional
        Where the take's audio has voice (seconds from the first frame).

    Raises
    ------
    InsufficientDataError
        Fewer than 3 usable frames.
    InputError
        Deep maps needed but neither ``deep`` nor ``video`` given.
    """
    cfg = config or PasswordConfig()
    idx = _thinned(take_frames(features, speech_s=speech_s), features.timestamps_s)
    if cfg.sequence.needs_deep:
        key = _key_frames(np.intersect1d(idx, np.flatnonzero(track.detected)))
        if deep is None:
            if video is None:
                raise InputError("the password's deep lip channels need the clip: pass video= (or deep=deep_lip_frames(...))")
            from lipauth.features.deep import deep_lip_frames

            deep = deep_lip_frames(video, track, frames=key)
        deep = _between_key_frames(deep, key, idx)
    seq = utterance_sequence(track, features, crops, frames=idx, config=cfg.sequence, deep=deep)
    opening = np.asarray(track.inner_opening(), dtype=np.float64)[idx]
    opening = opening[np.isfinite(opening)]
    motion = float(np.percentile(opening, 95) - np.percentile(opening, 5)) if opening.size else 0.0
    t = features.timestamps_s[idx]
    return PasswordTake(sequence=sketch(seq, sequence_config=cfg.sequence), motion=motion,
                        duration_s=float(t[-1] - t[0]) if t.size else 0.0, source=source)


def prepare_take(
    video: Video, *, track: LipTrack | None = None, config: PasswordConfig | None = None
) -> PasswordTake:
    """Track (unless ``track`` is given), extract features and crops, and find the phrase.

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
    return take_from_features(tr, feats, crops, config=cfg, source=video.source or "<video>", video=video)


def _seq(take: PasswordTake | np.ndarray) -> np.ndarray:
    return take.sequence if isinstance(take, PasswordTake) else np.asarray(take, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class PasswordTemplate:
    """An enrolled lip password (what the store keeps, encrypted).

    Attributes
    ----------
    sequences : tuple of np.ndarray [shape=(n_frames_k, d), dtype=float32]
        The enrolment takes' sketches.
    pair_distances : np.ndarray [shape=(n_pairs,), dtype=float64]
        Fused distances between every pair of enrolment takes (the first take's yardstick).
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
        """Serialise (``.npz`` without pickle, float16 frames; the store encrypts these bytes)."""
        meta = {
            "kind": TEMPLATE_KIND,
            "version": _FORMAT_VERSION,
            "label": self.label,
            "created_at": self.created_at,
            "config": self.config.to_dict(),
            "cohort_id": load_cohort().cohort_id,
        }
        buf = io.BytesIO()
        arrays = {f"seq{k}": s.astype(np.float16) for k, s in enumerate(self.sequences)}
        np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), pairs=self.pair_distances, **arrays)
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
                f"{TEMPLATE_KIND!r}/{_FORMAT_VERSION} (version 4: takes sketched by a count sketch); "
                "enrol again with this lipauth version"
            )
        if meta.get("cohort_id") != load_cohort().cohort_id:
            raise TemplateDecryptError(
                f"template was enrolled with password cohort {meta.get('cohort_id')!r}, this lipauth has "
                f"{load_cohort().cohort_id!r}; enrol the user again"
            )
        cfg = PasswordConfig.from_dict(meta["config"])
        return cls(sequences=seqs, pair_distances=pairs, config=cfg, label=str(meta["label"]), created_at=float(meta["created_at"]))


def _check_takes(takes: Sequence[PasswordTake], label: str, cfg: PasswordConfig) -> None:
    """The rules a set of enrolment takes must pass before they are compared."""
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
    widths = {t.sequence.shape[1] for t in takes}
    if len(widths) != 1:
        raise EnrolmentError(f"takes have different feature widths {sorted(widths)}; prepare every take with the same config")


def _distances(query: np.ndarray, references: Sequence[np.ndarray], cfg: PasswordConfig, cohort: Cohort) -> np.ndarray:
    """Fused distances of ``query`` to ``references``, the query's yardstick as scale
    (``Cohort.distances``)."""
    return _matched(query, references, cfg, cohort)[0]


def _matched(query: np.ndarray, references: Sequence[np.ndarray], cfg: PasswordConfig, cohort: Cohort) -> tuple[np.ndarray, float]:
    """Fused distance of ``query`` to each of ``references`` and their combination (``cfg.combine``)."""
    d, scale = cohort.distances(query, references, sequence_config=cfg.sequence, config=cfg.matcher, sketched=True)
    fused = fused_distances(d, scale, cfg.matcher)
    if cfg.combine == "nearest2":  # per channel, the mean of its two nearest takes (NaN rows stay NaN)
        nearest = np.sort(d, axis=1)[:, : min(2, d.shape[1])].mean(axis=1, keepdims=True)
        return fused, float(fused_distances(nearest, scale, cfg.matcher)[0])
    return fused, float(fused.min() if cfg.combine == "min" else fused.mean())


def enrol_password(
    takes: Sequence[PasswordTake], *, label: str = "default", config: PasswordConfig | None = None,
    cohort: Cohort | None = None,
) -> PasswordTemplate:
    """Build a template from 3 or more takes of the same lip movement.

    Parameters
    ----------
    takes : sequence of PasswordTake
        From :func:`prepare_take` (all with the same ``config``).
    label : str
    config : PasswordConfig, optional
    cohort : Cohort, optional
        Background cohort (default: the shipped one, :func:`load_cohort`; an evaluation
        passes one without the phrases it scores).

    Returns
    -------
    PasswordTemplate

    Raises
    ------
    EnrolmentError
        Fewer than ``min_takes`` takes or a take with too little lip motion.
    InconsistentTakesError
        A take does not match the others (another phrase, another person): the message
        names every such take; record them again.
    """
    cfg = config or PasswordConfig()
    coh = cohort if cohort is not None else load_cohort()
    _check_takes(takes, label, cfg)
    seqs = [_seq(t) for t in takes]
    # the consistency rule is measured without the motion channels (the units of its limit, shared with
    # the lip commands): with them, two genuine takes with rest around them measured 0.89-0.90 and were refused
    check_consistency(
        seqs, [f"take {k + 1} ({t.source})" for k, t in enumerate(takes)], cohort=coh,
        max_inconsistency=cfg.max_inconsistency, sequence_config=cfg.sequence,
        config=dataclasses.replace(cfg.matcher, delta_weights=(), yardstick="nearest"), sketched=True, what="enrolment takes",
    )
    n = len(seqs)
    pairs = np.array([_distances(seqs[i], [seqs[j]], cfg, coh)[0] for i, j in itertools.combinations(range(n), 2)])
    return PasswordTemplate(sequences=tuple(seqs), pair_distances=pairs, config=cfg, label=label, created_at=time.time())


def match_password(
    template: PasswordTemplate, take: PasswordTake | np.ndarray, *, cohort: Cohort | None = None
) -> tuple[float, np.ndarray]:
    """Matching degree of an attempt and its fused distance to each enrolled take.

    ``cohort``: the background cohort the template was enrolled with (default the shipped one).

    Returns
    -------
    score : float
        ``1 - distance`` to the enrolled takes (combined as ``config.combine`` says); higher =
        more similar, 0 = as far as a typical unrelated take.
    distances : np.ndarray [shape=(n_takes,), dtype=float64]

    Raises
    ------
    InputError
        The attempt's width differs from the template's (other config).
    """
    q = _seq(take)
    if q.ndim != 2 or q.shape[1] != template.sequences[0].shape[1]:
        raise InputError(
            f"attempt sequence has shape {q.shape} but the template's takes have {template.sequences[0].shape[1]} columns; "
            "prepare the attempt with the template's config"
        )
    coh = cohort if cohort is not None else load_cohort()
    d, combined = _matched(q, template.sequences, template.config, coh)
    return 1.0 - combined, d


@dataclass(frozen=True, eq=False)
class PasswordResult(CheckResult):
    """:class:`CheckResult` of :func:`check_password`, plus the per-take distances.

    Attributes
    ----------
    distances : tuple of float
        Fused distance to each enrolled take.
    """

    distances: tuple[float, ...] = ()


def check_password(
    template: PasswordTemplate, take: PasswordTake, *, threshold: float | None = None, cohort: Cohort | None = None
) -> PasswordResult:
    """Does the attempt repeat the enrolled lip movement?

    Parameters
    ----------
    template : PasswordTemplate
    take : PasswordTake
        The attempt (:func:`prepare_take` with ``template.config``).
    threshold : float, optional
        Overrides ``template.config.threshold`` (:data:`DEFAULT_THRESHOLD`).
    cohort : Cohort, optional
        As for :func:`match_password`.

    Returns
    -------
    PasswordResult
        ``check="password"``; reasons ``NO_LIP_MOTION`` (a still mouth never matches) and
        ``MISMATCH`` (score below threshold).
    """
    if not isinstance(template, PasswordTemplate):
        raise InputError(f"template is a {type(template).__name__}; pass a PasswordTemplate (enrol_password)")
    if not isinstance(take, PasswordTake):
        raise InputError(f"take is a {type(take).__name__}; pass a PasswordTake (prepare_take)")
    thr = template.config.threshold if threshold is None else float(threshold)
    score, d = match_password(template, take, cohort=cohort)
    reasons: list[str] = []
    if take.motion < template.config.min_motion:
        reasons.append("NO_LIP_MOTION")
    if not score >= thr:
        reasons.append("MISMATCH")
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
            "motion": take.motion,
            "duration_s": take.duration_s,
        },
        distances=tuple(float(x) for x in d),
    )
