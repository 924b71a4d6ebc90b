"""Personal lip commands: recognise a person's own small vocabulary from lip movement alone.

A carer records each word or phrase 3-10 times (:meth:`Vocabulary.add_word`); afterwards
:func:`recognise` ranks the words for a new take (DTW to every enrolled take, see
:mod:`lipauth.features.sequence`) and answers ``None`` ("not one of these") when the best
match is not convincing. :func:`listen_clip` and :class:`CommandListener` cut a long clip or
a live stream into utterances by movement segmentation and answer once per utterance.

Vocabularies are kept behind the :class:`VocabularyStore` protocol: a file store
(``config.data_dir()/vocabularies/<name>.npz``) and an in-memory one.
"""

from __future__ import annotations

import dataclasses
import io as _io
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lipauth.config import check_range, data_dir
from lipauth.errors import (
    ConfigError,
    InconsistentTakesError,
    InputError,
    InsufficientDataError,
    UnknownVocabularyError,
)
from lipauth.features.matcher import (
    MATCH_CHANNELS,
    MATCH_SEQUENCE,
    MATCH_WEIGHTS,
    MAX_INCONSISTENCY,
    MatcherConfig,
    channel_distances,
    check_consistency,
    dtw_many,
    fused_distances,
    scrambled,
    take_frames,
    yardstick,
)
from lipauth.features.sequence import (
    SequenceConfig,
    utterance_frames,
    utterance_sequence,
)
from lipauth.types import CheckResult, LipFeatures, LipTrack, Video

__all__ = [
    "MIN_TAKES",
    "CommandListener",
    "CommandResult",
    "CommandsConfig",
    "FileVocabularyStore",
    "InconsistentTakesError",
    "MemoryVocabularyStore",
    "UnknownVocabularyError",
    "Vocabulary",
    "VocabularyStore",
    "AMPLITUDE_COPIES",
    "amplitude_copies",
    "check_word",
    "clip_sequence",
    "has_utterance",
    "lips_heard",
    "loo_accuracy",
    "prefers_alt_fusion",
    "uses_alt_fusion",
    "opening_change",
    "shape_change",
    "listen_clip",
    "recognise",
    "recognise_clip",
    "take_motion",
]

log = logging.getLogger(__name__)

#: fewest takes per word
MIN_TAKES = 3
#: Size of the per-vocabulary metric (PCA dimensions, within-covariance shrinkage, output
#: dimensions): chosen on MIRACL F01 with 3-take random splits (seed 1), confirmed on
#: other splits (seed 11); 17/10 dimensions lost 1 point, 40/30 or shrinkage 0.1 were equal.
METRIC_PCA, METRIC_SHRINKAGE, METRIC_DIMS = 30, 0.3, 20
#: the channels of the late fusion (``CommandsConfig.fusion_weights``), in order: the shared matcher's
FUSION_CHANNELS: tuple[str, ...] = MATCH_CHANNELS
#: how the commands build their sequences: the shared matcher's (the lip password's) six channels
COMMANDS_SEQUENCE = MATCH_SEQUENCE
#: :func:`opening_change`: range of the inner-lip opening over (this x its smallest value + the
#: floor, face units); chosen with ``CommandsConfig.min_opening_change`` (docs/commands.md)
OPENING_REST_WEIGHT, OPENING_FLOOR = 0.25, 0.02
#: enrolment at several amplitudes: each take is also enrolled with its lip motion scaled by these
#: factors (:func:`amplitude_copies`); 0.5 measured on MIRACL F01 (docs/commands.md)
AMPLITUDE_COPIES: tuple[float, ...] = (0.5,)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CommandsConfig:
    """Decision settings of :func:`recognise`.

    Attributes
    ----------
    metric_weight : float
        Weight of the vocabulary's learned metric (``Vocabulary.metric_``) in the distance:
        ``(1 - w) * d_raw / median(d_raw) + w * d_metric / median(d_metric)`` (``d_raw`` the
        channel-fused distance when ``fusion_weights`` is set), each DTW
        distance divided by its median over the utterance's distances to every enrolled
        take. Default 0 (raw DTW only, the metric is not fitted). 0.3 measured on MIRACL
        F01 (30 random splits, 3 / 5 enrolment takes, seed 1): closed set 95.5 -> 96.3 % /
        97.0 -> 97.8 % (weights 0.2-0.5 all gained, the metric alone less; confirmed on splits
        of seed 11: 95.3 -> 96.2 %), but with its own tuned ``reject_cohort=0.62`` the
        left-out phrases 04-06 were answered "none" only 76.7 % of the time (80.5 % without
        the metric): opt in (``CommandsConfig(fusion_weights=None, metric_weight=0.3,
        reject_cohort=0.62, temperature=0.018)``, as measured: without the channel fusion)
        when the vocabulary is closed.
    fusion_weights : tuple of 6 (or 3) floats, or None
        Late fusion of the channels: the blocks of the sequences (:data:`FUSION_CHANNELS`:
        HOG, pixels, landmarks (+ shape), jaw contour, the two deep lip maps) are aligned by
        separate DTWs, each distance divided by its median over the utterance's distances
        to every enrolled take, and summed with these weights into one distance per
        enrolled take (three weights: the first three channels only; a channel the
        vocabulary's sequences lack is skipped). ``None``: one DTW over the concatenated
        sequence (the earlier default). Default (3, 4, 1, 2, 20, 5): chosen for every
        amplitude (issue 20) on MIRACL F01 split seeds 1-2 (a grid of 144, the mean top-1
        over enrolled x recognised amplitudes 1.0 / 0.5 / 0.3 pairs), reported on seeds
        21-25: 94.9 -> 96.0 % over those pairs, micro / micro (0.3) 93.8 -> 95.6 %, normal
        enrolled / micro recognised 90.5 -> 93.8 %, normal / normal 97.9 -> 97.6 %
        (docs/commands.md). The earlier (1, 2, 0.3, 4, 10, 10) (the lip password's
        ``MATCH_WEIGHTS``): jaw and deep weights chosen on split seeds 1 / 11 at full
        movement, closed set 95.9 -> 98.4 % / 98.3 -> 99.7 % over the three first channels
        (README then). Six DTWs per enrolled take.
        The first three, (1, 2, 0.3), the sequence's own
        channel weights, measured on MIRACL F01 (3 / 5 enrolment takes, 30 random splits
        each for 5 split seeds, 1-NN): 95.3 -> 95.9 % / 97.4 -> 98.1 % (every seed gained
        with 3 takes, 4 of 5 with 5); (1, 1.5, 0.3) the same, (1, 2, 0.15) less. Three
        DTWs per enrolled take instead of one. With ``metric_weight=0.3`` on top it was mixed
        (3 takes 96.2 % vs 96.3 % on the single DTW, 5 takes 98.1 % vs 97.8 %, seed 1).
    alt_fusion_weights : tuple of 6 floats, or None
        A second weight set for the late fusion, used for a vocabulary whose own enrolled
        takes are told apart better with it (:func:`uses_alt_fusion`: leave-one-out over the
        enrolled takes, at least ``alt_min_gain`` more takes right). Default (12, 8, 2, 1,
        0, 5): HOG and pixels up, the first deep map off, found by a coordinate search on the
        tuning folds of MIRACL F01 (split seeds 1-5) and GRID s1 words (even clips), the
        objective the mean top-1 over enrolled x recognised 1.0 / 0.3 on each; alone it
        costs MIRACL 1-2 points and gains GRID words 5-12 (on GRID s1 the deep
        maps measured worse before, docs/notes/commands.md). The leave-one-out choice picks
        it for 62-75 % of GRID vocabularies and 2-4 % of MIRACL ones. ``None``: one weight
        set for every vocabulary.
    alt_reject_cohort : float
        ``reject_cohort`` for vocabularies matched with ``alt_fusion_weights`` (their
        relative distances have another spread). 0.64 tuned on the GRID tuning fold (even
        clips, digits as words outside the vocabulary): no threshold answers "none" to
        >= 90 % of them at 1.0 and 0.3 there, so the balanced point (the largest minimum of
        in-vocabulary right and digits answered "none": 67 % / 65 %).
    alt_min_gain : int
        How many more enrolled takes the alternative weights must get right (leave-one-out)
        to be used. 2, chosen on the tuning folds (top-1 of the 1.0 / 0.3 pairs and how often
        the choice flips): with 1 it picks the alternative for 3-27 % of MIRACL vocabularies,
        where it is the worse set (by chance, on 18 takes); with 2 for 0-10 % (the same top-1);
        with 3 for none, but also for only half of the GRID micro vocabularies.
    reject_cohort : float
        Open-set rejection (``NOT_IN_VOCABULARY``): ``None`` when the best word's DTW
        distance exceeds this fraction of the *cohort distance*, the median distance from
        the utterance to the enrolled takes of every other word. The cohort is the
        utterance's own yardstick (a test normalisation): a poorly recorded or clipped
        utterance is far from everything, a genuine one is much closer to its word than to
        the rest. 0.72 tuned on MIRACL F01 with the default fusion weights and amplitude
        copies (``benchmarks/accuracy_commands.py --amplitudes 1.0 0.5 0.3 0.15 --tune``:
        phrases 01-03 left out in turn, split seeds 1-5; the most in-vocabulary answers
        right at 1.0 / 0.3 enrolled x recognised with >= 90 % of the left-out takes answered
        "none" at 1.0 and at 0.3: 91.1 % / 93.3 %; 0.74 drops to 81 %), reported with phrases
        04-06 left out (docs/commands.md). The earlier 0.74 was tuned the same way for the
        earlier weights at full movement only (>= 80 % "none"). With the three channels of
        the lip password only (``fusion_weights=(1, 2, 0.3)``) the same procedure gave 0.64,
        without the fusion (``fusion_weights=None``, three channels) 0.63, with
        ``metric_weight=0.3`` on top 0.62. Measured worse on the same
        data: the best distance over the word's take-to-take spread (a per-entry threshold:
        64 % right at 80 % "none"), best / second-best distance (84 %).
    reject_scrambled : float
        Open-set rejection for a one-word vocabulary (no other words for a cohort): ``None``
        when the best distance exceeds this share of the median distance to the word's takes
        scrambled in time (backwards, halves swapped). 0.73: on MIRACL F01 phrases 01-03, each
        a one-word vocabulary of 3 takes (5 random enrolments), the loosest value that answers
        "none" to >= 90 % of the other phrases' takes (own takes accepted 96.2 %); phrases
        04-06: 94.3 % accepted, 93.6 % "none" (``benchmarks/accuracy_commands.py --one-word``;
        the earlier rule, best over the takes' raw spread, compared fused with raw distances
        and answered "none" to every take).
    reject_ratio : float
        ``AMBIGUOUS`` when best / second-best distance exceeds this. 1.0 (off): on top of
        the cohort rule it gained nothing on MIRACL F01 phrases 01-03 left out.
    temperature : float
        Confidences: softmax of ``-distance / (cohort_all * temperature)`` over the words,
        where ``cohort_all`` is the median distance from the utterance to every enrolled
        take (of the amplitude set answered from). 0.018 fitted by maximum likelihood of
        the true word on MIRACL F01 closed-set test takes, enrolled x recognised at 1.0 / 0.3
        with amplitude copies, split seeds 1-5 (``accuracy_commands.py --amplitudes ...
        --tune``); on seeds 21-25 the expected calibration error is 1.0 % (docs/commands.md).
        The earlier 0.025 was fitted the same way for the earlier weights at full movement.
    max_inconsistency : float
        Enrolment: a take farther than this from its nearest other take of the word is
        refused and named (``features.matcher.check_consistency``, the lip password's rule:
        fused distance in units of the take's distances to the shipped background cohort).
        Only for vocabularies with the default sequence config (the cohort's); 100 turns it off.
    min_opening_change : float
        "No utterance" from the lips themselves (:func:`opening_change`): a take whose
        inner-lip opening varies by less than this many times ``OPENING_REST_WEIGHT x`` its
        smallest opening ``+ OPENING_FLOOR`` answers ``NO_UTTERANCE``. Absolute, not relative
        to the enrolled takes, so a person enrolled with full movements is still heard when
        they speak slightly. 0.74 = 1.05x the highest value of the tuning half of 162
        synthetic still clips (photos of 9 faces with camera noise, hand-held jitter, head
        roll, a flat yaw / nod, zoom, a lighting ramp, a painted blink; the tuning half: five
        of the faces); the other half passed 4.2 % (then answered "none" by the open-set
        rule, docs/commands.md). Genuine takes above it: MIRACL F01 phrases 100 % at full
        movement, 97 % at ``attenuate_lip_motion(factor=0.3)``; GRID s1 vocabulary words cut
        from sentences 98 % / 92 % (``benchmarks/accuracy_commands.py --amplitudes``).
        With a track the take is also heard by :func:`shape_change` (``min_width_change``,
        ``min_area_change``).
    min_width_change, min_area_change : float
        "No utterance" unless the opening or either ratio of :func:`shape_change` (mouth
        width over the eye span, inner over outer lip area: a flat face warped as a whole
        leaves them alone) varies by at least this much. 0.087 and 0.118 = 1.05x the highest
        values of the tuning half of the same still clips (the other half: 0 % and 1.4 %
        above, none that the opening did not already pass). With them the lips' evidence
        hears MIRACL F01 takes at 0.5 / 0.3 / 0.15 100 / 98.3 / 91.7 % (the opening alone
        98.3 / 96.7 / 81.7 %); still clips heard stay 0 % / 4.2 % (tuning / other faces).
    min_relative_motion : float
        Opt-in "no utterance" relative to the person (0 = off, the default): a take whose
        motion (:func:`take_motion`, the RMS deviation of its labial crop over time) is below
        this fraction of the median motion of the vocabulary's enrolled takes answers
        ``NO_UTTERANCE``. The earlier default (0.55) answered "no utterance" for most micro
        takes of a vocabulary enrolled with full movements (issue 20: 28 of 40 unseen words).
    enrol_relative_motion : float
        Enrolment: a take moving less than this fraction of the median :func:`take_motion`
        of the word's (and vocabulary's) takes is refused (a still take among moving ones).
        0.55: genuine MIRACL F01 takes measured >= 0.74x the median, a still real face
        <= 0.25x.
    min_motion : float
        "No utterance" without a vocabulary to compare with (:func:`clip_sequence`,
        enrolment of a first word): :func:`take_motion` in percent of the crop's contrast.
        A floor only for a perfectly still face: a synthetic still face measures 3.6 %, a
        still real face 6.7-11 % (MIRACL frames repeated with 2-grey-level noise; the still
        leading silences of two GRID s1 clips, another camera, 18-22 %), MIRACL F01 takes
        37-64 % (17.6-53 % after ``magnify_labial(factor=0.05)``). The camera's own noise
        decides the rest, hence ``min_relative_motion``.
    min_amplitude : float
        Listening (:func:`listen_clip`, :class:`CommandListener`) with a vocabulary enrolled
        without motions (no :attr:`Vocabulary.reference_motion`): a movement segment whose
        inner-lip opening varies by less than this many face units is skipped (the tracker
        settling on the first frames makes such segments); mostly implied by
        ``min_opening_change`` now. As the only gate, 0.005 answered "no utterance" for 11
        of 60 MIRACL takes attenuated to ~30 % of their movement (by the magnifier), and let
        a repeated MIRACL frame through at 0.008.
    """

    fusion_weights: tuple[float, ...] | None = (3.0, 4.0, 1.0, 2.0, 20.0, 5.0)
    alt_fusion_weights: tuple[float, ...] | None = (12.0, 8.0, 2.0, 1.0, 0.0, 5.0)
    alt_reject_cohort: float = 0.64
    alt_min_gain: int = 2
    metric_weight: float = 0.0
    reject_cohort: float = 0.72
    reject_scrambled: float = 0.73
    reject_ratio: float = 1.0
    temperature: float = 0.018
    max_inconsistency: float = MAX_INCONSISTENCY
    min_opening_change: float = 0.74
    min_width_change: float = 0.087
    min_area_change: float = 0.118
    min_relative_motion: float = 0.0
    enrol_relative_motion: float = 0.55
    min_motion: float = 5.0
    min_amplitude: float = 0.005

    def __post_init__(self) -> None:
        for name in ("fusion_weights", "alt_fusion_weights"):
            value = getattr(self, name)
            if value is None:
                continue
            fw = tuple(value)
            if len(fw) not in (3, len(FUSION_CHANNELS)) or any(
                not isinstance(v, (int, float)) or not 0.0 <= v <= 100.0 for v in fw
            ) or sum(fw) <= 0:
                raise ConfigError(
                    f"CommandsConfig.{name}={value!r}; pass 6 weights {FUSION_CHANNELS} "
                    "(or the first 3) from 0 to 100 with a positive sum, or None"
                )
            fw = fw + (0.0,) * (len(FUSION_CHANNELS) - len(fw))
            object.__setattr__(self, name, tuple(float(v) for v in fw))
        check_range("CommandsConfig", "alt_reject_cohort", self.alt_reject_cohort, 0.01, 100.0)
        check_range("CommandsConfig", "alt_min_gain", self.alt_min_gain, 1, 1000)
        check_range("CommandsConfig", "metric_weight", self.metric_weight, 0.0, 1.0)
        check_range("CommandsConfig", "reject_cohort", self.reject_cohort, 0.01, 100.0)
        check_range("CommandsConfig", "reject_scrambled", self.reject_scrambled, 0.01, 100.0)
        check_range("CommandsConfig", "reject_ratio", self.reject_ratio, 0.1, 1.0)
        check_range("CommandsConfig", "temperature", self.temperature, 1e-3, 100.0)
        check_range("CommandsConfig", "max_inconsistency", self.max_inconsistency, 0.0, 100.0)
        check_range("CommandsConfig", "min_amplitude", self.min_amplitude, 0.0, 1.0)
        check_range("CommandsConfig", "min_relative_motion", self.min_relative_motion, 0.0, 1.0)
        check_range("CommandsConfig", "enrol_relative_motion", self.enrol_relative_motion, 0.0, 1.0)
        check_range("CommandsConfig", "min_opening_change", self.min_opening_change, 0.0, 100.0)
        check_range("CommandsConfig", "min_width_change", self.min_width_change, 0.0, 100.0)
        check_range("CommandsConfig", "min_area_change", self.min_area_change, 0.0, 100.0)
        check_range("CommandsConfig", "min_motion", self.min_motion, 0.0, 400.0)

    def with_alt_fusion(self) -> CommandsConfig:
        """These settings matching with ``alt_fusion_weights`` and their ``alt_reject_cohort``."""
        return dataclasses.replace(self, fusion_weights=self.alt_fusion_weights, reject_cohort=self.alt_reject_cohort)


@dataclass(frozen=True, eq=False)
class CommandResult(CheckResult):
    """The answer for one utterance.

    Attributes
    ----------
    word : str or None
        The recognised word, ``None`` for "not one of these" or "no utterance".
    ranking : tuple of (word, confidence, distance)
        Every word, best first; confidences (softmax) sum to 1, distances are those to the
        word's closest take (raw DTW, or with a learned vocabulary metric the fused,
        dimensionless distance of ``CommandsConfig.metric_weight``).
    start_s, end_s : float
        The utterance's interval in the clip (seconds).

    ``score`` and ``threshold`` are in different units and are never compared with each
    other: ``score`` is the best word's softmax confidence, 0 to 1 (calibrated:
    ``CommandsConfig.temperature``; also :attr:`confidence`); ``threshold`` is the open-set
    bound on the *relative distance* (best distance over the cohort distance, or over the
    distance to the word's takes scrambled in time in a one-word vocabulary; also :attr:`max_relative_distance`): a word is
    answered only when :attr:`relative_distance` ``<= threshold`` and it is not
    ``AMBIGUOUS``. :meth:`to_dict` carries all three under those names besides ``score`` and
    ``threshold``. ``reasons``: ``NO_UTTERANCE``, ``NOT_IN_VOCABULARY``, ``AMBIGUOUS``.
    """

    check: str = "commands"
    word: str | None = None
    ranking: tuple[tuple[str, float, float], ...] = ()
    start_s: float = float("nan")
    end_s: float = float("nan")

    @property
    def confidence(self) -> float:
        """The best word's softmax confidence, 0 to 1 (the same number as ``score``)."""
        return self.score

    @property
    def relative_distance(self) -> float:
        """The best match's relative distance (``details["relative_distance"]``), the number
        :attr:`max_relative_distance` bounds; NaN when no utterance was matched."""
        return float(self.details.get("relative_distance", float("nan")))

    @property
    def max_relative_distance(self) -> float:
        """The open-set threshold on :attr:`relative_distance` (the same number as ``threshold``)."""
        return self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The fields, plus ``confidence`` (= ``score``), ``relative_distance`` and
        ``max_relative_distance`` (= ``threshold``): the two numbers that are compared, in one unit."""
        out = super().to_dict()
        extra = {"confidence": self.confidence, "relative_distance": self.relative_distance,
                 "max_relative_distance": self.max_relative_distance}
        out.update({k: v if np.isfinite(v) else None for k, v in extra.items()})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommandResult:  # type: ignore[override]
        obj = super().from_dict(data)
        ranking = tuple((str(w), float(c), float(d)) for w, c, d in obj.ranking)
        return dataclasses.replace(obj, ranking=ranking, reasons=tuple(obj.reasons), details=dict(obj.details))


# --------------------------------------------------------------------------------------
# vocabulary


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{what} {name!r} is not a valid name; use 1-64 letters, digits, '_', '-' or '.'")
    return name


def check_word(word: str) -> str:
    """``word`` stripped, or :class:`InputError` for an empty, multi-line or over-64-character word
    (the CLI checks it before tracking the takes)."""
    word = word.strip() if isinstance(word, str) else word
    if not isinstance(word, str) or not word or len(word) > 64 or "\n" in word:
        raise InputError(f"word {word!r} is not valid; pass 1-64 characters on one line")
    return word


def _check_takes_agree(word: str, seqs: list[np.ndarray], names: list[str], sc: SequenceConfig, cfg: CommandsConfig) -> None:
    """The lip password's enrolment rule (``features.matcher.check_consistency``) for a word's takes."""
    if cfg.max_inconsistency >= 100.0:
        return
    from lipauth.features.matcher import full_width, load_cohort

    if sc != MATCH_SEQUENCE or seqs[0].shape[1] != full_width(sc):
        log.debug("takes are not in the cohort's layout: enrolment consistency of %r not checked", word)
        return
    # the password's weights: MAX_INCONSISTENCY was measured with them (the commands' own fusion weights
    # are chosen for recognition across amplitudes)
    mc = MatcherConfig(weights=MATCH_WEIGHTS, band=sc.band, open_end=sc.open_end)
    check_consistency(seqs, names, cohort=load_cohort(), max_inconsistency=cfg.max_inconsistency, sequence_config=sc,
                      config=mc, what=f"takes of {word!r}")


@dataclass
class Vocabulary:
    """A person's words, each with its enrolled takes (sequences).

    Parameters
    ----------
    name : str
    sequence_config : SequenceConfig, optional
        How every take's sequence is built (queries must use the same).

    Attributes
    ----------
    takes : dict of str -> list of np.ndarray [shape=(n_frames, d), float32]
    sources : dict of str -> list of str
        Where each take came from (file names), for messages.
    spread_ : dict of str -> float
        Median pairwise DTW distance between the takes of each word (kept in the file; no
        decision reads it).
    motion_ : dict of str -> list of float
        :func:`take_motion` of each enrolled take (percent of contrast), when given to
        :meth:`add_word`: the person's own range of motion, the reference of the relative
        "no utterance" gate (:attr:`reference_motion`).
    metric_ : SequenceMetric or None
        A discriminant projection learned from this vocabulary's own enrolled takes
        (:func:`lipauth.features.metric.train_metric`: PCA then a shrinkage LDA separating
        lip positions from the take-to-take variation of the same position along DTW
        paths), refitted after a word is added or removed (lazily: :meth:`ensure_metric`,
        called by :func:`recognise` when ``CommandsConfig.metric_weight > 0``; saved with
        the vocabulary once fitted); ``None`` with fewer than 2 words or before the first
        fit. :func:`recognise` fuses DTW distances in this space with the raw ones.
    copies_ : dict of float -> dict of str -> list of np.ndarray
        Amplitude copies of the enrolled takes (:func:`amplitude_copies`, e.g. every take
        with its lip motion halved): ``copies_[factor][word]``. :func:`recognise` treats each
        factor as a vocabulary of its own and answers from the one the utterance is
        relatively closest to, so a person enrolled with full movements who later speaks
        slightly is matched against takes of their own words that move slightly.
    """

    name: str
    sequence_config: SequenceConfig = COMMANDS_SEQUENCE
    takes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    spread_: dict[str, float] = field(default_factory=dict)
    motion_: dict[str, list[float]] = field(default_factory=dict)
    metric_: Any = None
    copies_: dict[float, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    projected_: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)
    _metric_stale: bool = field(default=False, repr=False)
    _fusion_choice: dict[tuple, bool] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "vocabulary name")

    def _set_metric(self, metric: Any) -> None:
        self._metric_stale = False
        self.metric_ = metric
        self.projected_ = {} if metric is None else {w: [metric.apply(t) for t in ts] for w, ts in self.takes.items()}

    def ensure_metric(self) -> None:
        """Refit the vocabulary's metric if words changed since the last fit (lazy: enrolling
        several words one after the other fits once, at the first recognition or save)."""
        if self._metric_stale:
            self._refit_metric()

    def _refit_metric(self) -> None:
        """Learn the vocabulary's own metric from its enrolled takes (2 or more words)."""
        from lipauth.features.metric import train_metric

        if len(self.takes) < 2:
            self._set_metric(None)
            return
        groups = [self.takes[w] for w in self.words]
        self._set_metric(
            train_metric(
                groups, n_pca=METRIC_PCA, shrinkage=METRIC_SHRINKAGE, n_dims=METRIC_DIMS, info={"data": f"vocabulary {self.name}"}
            )
        )

    @property
    def words(self) -> list[str]:
        return sorted(self.takes)

    @property
    def reference_motion(self) -> float | None:
        """Median :func:`take_motion` of the enrolled takes (``None`` when none was given)."""
        values = [m for w in self.words for m in self.motion_.get(w, [])]
        return float(np.median(values)) if values else None

    def add_word(
        self,
        word: str,
        sequences: Sequence[np.ndarray],
        *,
        sources: Sequence[str] | None = None,
        motions: Sequence[float] | None = None,
        config: CommandsConfig | None = None,
        copies: dict[float, Sequence[np.ndarray]] | None = None,
    ) -> None:
        """Enrol (or replace) ``word`` from its takes' sequences.

        Parameters
        ----------
        word : str
        sequences : sequence of np.ndarray [shape=(n_frames, d)]
        sources : sequence of str, optional
            Names of the takes (for messages).
        motions : sequence of float, optional
            :func:`take_motion` of each take (percent of contrast): enables the relative "no
            utterance" gate (``CommandsConfig.min_relative_motion``) and refuses a take
            that moves far less than the others (a still take among moving ones).
        config : CommandsConfig, optional
        copies : dict of float -> sequence of np.ndarray, optional
            Amplitude copies of the takes (:func:`amplitude_copies`): for each factor, one
            sequence per take (or none: a word enrolled without copies makes the
            vocabulary match without that factor's copies).

        Raises
        ------
        InsufficientDataError
            Fewer than :data:`MIN_TAKES` takes, or a take that moves less than
            ``min_relative_motion`` of the word's (and vocabulary's) median motion.
        InconsistentTakesError
            A take disagrees strongly with the others (the message names it).
        InputError
            Bad word name, or sequences of a different width than the vocabulary's.
        """
        cfg = config or CommandsConfig()
        word = check_word(word)
        seqs = [np.asarray(s, dtype=np.float32) for s in sequences]
        names = list(sources) if sources is not None else [f"take {i + 1}" for i in range(len(seqs))]
        if len(names) != len(seqs):
            raise InputError(f"{len(names)} source names for {len(seqs)} takes; pass one name per take")
        moves = None if motions is None else [float(m) for m in motions]
        if moves is not None and (len(moves) != len(seqs) or not all(np.isfinite(m) and m >= 0 for m in moves)):
            raise InputError(f"motions {motions!r} for {len(seqs)} takes; pass one finite take_motion >= 0 per take")
        if len(seqs) < MIN_TAKES:
            raise InsufficientDataError(
                f"word {word!r} has {len(seqs)} take(s); enrol at least {MIN_TAKES} takes of each word"
            )
        widths = {s.shape[1] for s in seqs if s.ndim == 2}
        others = {s.shape[1] for ss in self.takes.values() for s in ss[:1]}
        if len(widths | others) != 1 or any(s.ndim != 2 for s in seqs):
            raise InputError(
                f"takes of {word!r} have widths {sorted(widths)} but the vocabulary uses {sorted(others)}; "
                "build every take with the vocabulary's sequence_config"
            )
        sc = self.sequence_config
        n = len(seqs)
        d = np.zeros((n, n))
        for i in range(n - 1):
            d[i, i + 1 :] = d[i + 1 :, i] = dtw_many(seqs[i], seqs[i + 1 :], band=sc.band, open_end=sc.open_end)
        _check_takes_agree(word, seqs, names, sc, cfg)
        if moves is not None:
            others_m = [m for w, ms in self.motion_.items() if w != word for m in ms]
            reference = float(np.median(moves + others_m))
            still = [names[i] for i, m in enumerate(moves) if m < cfg.enrol_relative_motion * reference]
            if still:
                raise InsufficientDataError(
                    f"takes of {word!r}: the lips hardly move in {', '.join(still)} (under "
                    f"{cfg.enrol_relative_motion:.2f}x the median motion of the takes); record them again"
                )
        copy_seqs = {float(f): [np.asarray(c, dtype=np.float32) for c in cs] for f, cs in (copies or {}).items()}
        for f, cs in copy_seqs.items():
            if not cs or any(c.ndim != 2 or c.shape[1] != seqs[0].shape[1] or len(c) < 1 for c in cs):
                raise InputError(f"amplitude copies of {word!r} at {f}: pass (n_frames, {seqs[0].shape[1]}) sequences")
        self.takes[word] = seqs
        for copies_at in self.copies_.values():
            copies_at.pop(word, None)
        for f, cs in copy_seqs.items():
            self.copies_.setdefault(f, {})[word] = cs
        self.sources[word] = names
        self.spread_[word] = float(np.median(d[np.triu_indices(n, 1)]))
        if moves is not None:
            self.motion_[word] = moves
        else:
            self.motion_.pop(word, None)
        self._metric_stale = True
        self._fusion_choice = {}

    def remove_word(self, word: str) -> None:
        if word not in self.takes:
            raise InputError(f"vocabulary {self.name!r} has no word {word!r}; known: {self.words}")
        for dct in (self.takes, self.sources, self.spread_, self.motion_):
            dct.pop(word, None)  # type: ignore[attr-defined]
        for copies_at in self.copies_.values():
            copies_at.pop(word, None)
        self._metric_stale = True
        self._fusion_choice = {}

    def to_bytes(self) -> bytes:
        """NPZ bytes: one array per take, the learned metric (once fitted) and a JSON header."""
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {"name": self.name, "sequence_config": self.sequence_config.to_dict(), "words": []}
        for wi, word in enumerate(self.words):
            for ti, seq in enumerate(self.takes[word]):
                arrays[f"w{wi}_t{ti}"] = seq
            entry = {"word": word, "n_takes": len(self.takes[word]), "sources": self.sources[word], "spread": self.spread_[word]}
            if word in self.motion_:
                entry["motion"] = self.motion_[word]
            copies_meta: dict[str, list[int]] = {}
            for ci, (f, copies_at) in enumerate(sorted(self.copies_.items())):
                for ti, seq in enumerate(copies_at.get(word, [])):
                    arrays[f"c{ci}_w{wi}_t{ti}"] = seq
                copies_meta[repr(f)] = [ci, len(copies_at.get(word, []))]
            entry["copies"] = copies_meta
            meta["words"].append(entry)
        if self.metric_ is not None and not self._metric_stale:
            arrays["metric_mean"] = self.metric_.mean
            arrays["metric_projection"] = self.metric_.projection
        # the leave-one-out choice of fusion weights (uses_alt_fusion), so a loaded vocabulary need not redo its DTWs
        meta["fusion_choice"] = [[list(k[0]), list(k[1]), int(k[2]), bool(v)] for k, v in self._fusion_choice.items()]
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buf = _io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> Vocabulary:
        try:
            with np.load(_io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                vocab = cls(meta["name"], SequenceConfig.from_dict(meta["sequence_config"]))
                for wi, entry in enumerate(meta["words"]):
                    word = entry["word"]
                    vocab.takes[word] = [z[f"w{wi}_t{ti}"] for ti in range(int(entry["n_takes"]))]
                    vocab.sources[word] = list(entry["sources"])
                    vocab.spread_[word] = float(entry["spread"])
                    if "motion" in entry:
                        vocab.motion_[word] = [float(m) for m in entry["motion"]]
                    for f, (ci, n_copies) in entry.get("copies", {}).items():
                        if n_copies:
                            vocab.copies_.setdefault(float(f), {})[word] = [z[f"c{ci}_w{wi}_t{ti}"] for ti in range(n_copies)]
                for fw, alt, gain, choice in meta.get("fusion_choice", []):
                    key = (tuple(float(x) for x in fw), tuple(float(x) for x in alt), int(gain))
                    vocab._fusion_choice[key] = bool(choice)
                if "metric_mean" in z.files:
                    from lipauth.features.metric import SequenceMetric

                    vocab._set_metric(SequenceMetric(mean=z["metric_mean"], projection=z["metric_projection"]))
                else:
                    vocab._metric_stale = len(vocab.takes) >= 2  # fitted when first needed
        except (ValueError, KeyError, OSError) as exc:
            raise InputError(f"{source}: not a lipauth vocabulary file ({exc}); enrol the vocabulary again") from None
        return vocab


class VocabularyStore(Protocol):
    """Where vocabularies live (file store now; the template store later)."""

    def save(self, vocabulary: Vocabulary) -> None: ...
    def load(self, name: str) -> Vocabulary: ...
    def names(self) -> list[str]: ...
    def delete(self, name: str) -> None: ...


class MemoryVocabularyStore:
    """In-memory :class:`VocabularyStore` (tests, one process)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def save(self, vocabulary: Vocabulary) -> None:
        uses_alt_fusion(vocabulary)  # the default settings' choice of weights is stored with the vocabulary
        self._data[vocabulary.name] = vocabulary.to_bytes()

    def load(self, name: str) -> Vocabulary:
        if name not in self._data:
            raise UnknownVocabularyError(f"no vocabulary {name!r}; known: {self.names()}; enrol it first")
        return Vocabulary.from_bytes(self._data[name], source=name)

    def names(self) -> list[str]:
        return sorted(self._data)

    def delete(self, name: str) -> None:
        if self._data.pop(name, None) is None:
            raise UnknownVocabularyError(f"no vocabulary {name!r}; known: {self.names()}")


class FileVocabularyStore:
    """:class:`VocabularyStore` of NPZ files ``<root>/<name>.npz``.

    Parameters
    ----------
    root : path, optional
        Default ``config.data_dir()/vocabularies`` (created on the first save).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self._default_root = root is None
        self.root = Path(root) if root is not None else data_dir() / "vocabularies"

    def _path(self, name: str) -> Path:
        return self.root / f"{_check_name(name, 'vocabulary name')}.npz"

    def save(self, vocabulary: Vocabulary) -> None:
        uses_alt_fusion(vocabulary)  # the default settings' choice of weights is stored with the vocabulary
        # private like the rest of the data dir (a person's lip crops): the data dir 0700 (data_dir(create=True)),
        # the vocabulary folder 0700 and the file 0600, whatever the umask
        path = self._path(vocabulary.name)  # a bad name is refused before any folder is made
        if self._default_root:
            data_dir(create=True)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(vocabulary.to_bytes())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def check_writable(self) -> None:
        """:class:`ConfigError` when :meth:`save` could not write here (the data dir or the folder is a
        file, not writable, cannot be created): the CLI asks before seconds of tracking."""
        from lipauth.errors import ConfigError

        if self._default_root:
            data_dir(create=True)  # its own one-line ConfigError
        made = [p for p in (self.root, *self.root.parents) if not p.exists()]
        try:  # really made (a file in the way, a read-only or virtual file system), then removed again
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            problem = None if os.access(self.root, os.W_OK | os.X_OK) else "not writable"
        except OSError as exc:
            problem = exc.strerror or str(exc)
        for folder in made:  # deepest first; save() makes them again
            try:
                folder.rmdir()
            except OSError:
                break
        if problem:
            raise ConfigError(f"vocabulary folder {str(self.root)!r} cannot be written ({problem}); pass --store DIR "
                              "or set LIPAUTH_DATA_DIR to a writable directory")

    def load(self, name: str) -> Vocabulary:
        path = self._path(name)
        if not path.is_file():
            raise UnknownVocabularyError(f"no vocabulary {name!r} in {self.root}; known: {self.names()}; enrol it first")
        return Vocabulary.from_bytes(path.read_bytes(), source=str(path))

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.npz")) if self.root.is_dir() else []

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.is_file():
            raise UnknownVocabularyError(f"no vocabulary {name!r} in {self.root}; known: {self.names()}")
        path.unlink()


# --------------------------------------------------------------------------------------
# recognition


def take_motion(crops: np.ndarray, frames: np.ndarray | None = None, *, downsample: int = 2) -> float:
    """A take's range of motion: RMS deviation over time of its labial crop, percent of contrast.

    The crops are averaged over ``downsample`` x ``downsample`` blocks (the sequence's pixel
    channel), the take's mean crop is removed, and the root-mean-square deviation over
    frames and pixels is expressed in percent of the crop's luma standard deviation (the
    crops are contrast-normalised, ``0.5 + (luma - mean) / (4 std)``, so x400). Appearance,
    not landmarks: at magnifier gain 0.05 the tracked opening of some MIRACL takes varies
    as little as a still face's (0.001 face units), while their crops change at least 1.6x
    more than a still real face's.

    Parameters
    ----------
    crops : np.ndarray [shape=(n_frames, h, w), dtype=float32]
        Aligned labial crops in [0, 1] (``labial_crops``).
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        The utterance's frames (default all).
    downsample : int

    Returns
    -------
    float
        Percent of the crop's contrast; 0 for fewer than 2 frames.

    Raises
    ------
    InputError
        Crops that are not (n_frames, h, w).
    """
    c = np.asarray(crops, dtype=np.float64)
    if c.ndim != 3:
        raise InputError(f"crops have shape {c.shape}; pass (n_frames, h, w) labial crops (labial_crops)")
    if frames is not None:
        c = c[np.asarray(frames, dtype=np.int64)]
    if c.shape[0] < 2:
        return 0.0
    k = max(int(downsample), 1)
    h, w = c.shape[1] // k * k, c.shape[2] // k * k
    c = c[:, :h, :w].reshape(c.shape[0], h // k, k, w // k, k).mean(axis=(2, 4))
    return float(np.sqrt(((c - c.mean(axis=0)) ** 2).mean()) * 400.0)


def opening_change(features: LipFeatures, frames: np.ndarray | None = None) -> float:
    """Utterance evidence of the lips themselves: how much the inner-lip opening varies.

    ``range(opening) / (OPENING_REST_WEIGHT x min(opening) + OPENING_FLOOR)`` over the
    take's frames (``LipFeatures`` "opening": inner-lip gap in face units). The range is
    what a slight mover still produces (the opening is a shape, so head translation, roll,
    zoom and lighting leave it alone); dividing by the smallest opening plus a floor
    discounts the tracker's jitter on a mouth that is open at rest (a still open mouth
    jitters by up to ~0.05 face units, a closed one by ~0.002). ``OPENING_REST_WEIGHT``
    and ``OPENING_FLOOR`` chosen (0-2 and 0.005-0.04 tried) for the genuine takes kept
    above the highest still clip of the tuning half (``CommandsConfig.min_opening_change``).

    Parameters
    ----------
    features : LipFeatures
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        The utterance's frames (default every valid frame).

    Returns
    -------
    float
        0 for fewer than 2 frames with an opening.
    """
    idx = utterance_frames(features) if frames is None else np.asarray(frames, dtype=np.int64)
    opening = np.asarray(features.column("opening"), dtype=np.float64)[idx]
    opening = opening[np.isfinite(opening)]
    if opening.size < 2:
        return 0.0
    return float(np.ptp(opening) / (OPENING_REST_WEIGHT * max(float(opening.min()), 0.0) + OPENING_FLOOR))


def shape_change(track: LipTrack, frames: np.ndarray | None = None) -> tuple[float, float]:
    """Utterance evidence that a flat (photographed) face cannot fake: lip shape in the image's own ratios.

    Two ratios of the image (pixel) landmarks that an affine warp of the whole face leaves
    unchanged, so a photo tilted, turned, nodded, rolled, zoomed or shaken in front of the
    camera gives only the tracker's jitter, while a mouth that spreads, rounds or opens
    slightly changes them:

    - **width**: range of the mouth width (corner to corner) over the distance between the
      outer eye corners (two nearly parallel segments of one plane), divided by its median;
    - **area**: range of the inner-lip area over the outer-lip area (a ratio of areas).

    Unlike :func:`opening_change` they see a word said with the lips closed ("good bye":
    the lips spread and round, the opening hardly changes).

    Parameters
    ----------
    track : LipTrack
        With ``contour_xyz`` (the eye corners); without it ``(0, 0)``.
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        The utterance's frames (default every detected frame).

    Returns
    -------
    (width change, area change) : tuple of float
        0 for fewer than 2 frames with landmarks.
    """
    from lipauth.features.lip import shoelace_area
    from lipauth.tracking.base import CONTOUR_POINT_NAMES

    if track.contour_xyz is None or len(track.contour_xyz) != track.n_frames:
        return 0.0, 0.0
    idx = np.flatnonzero(track.detected) if frames is None else np.asarray(frames, dtype=np.int64)
    lips = np.asarray(track.landmarks_px, dtype=np.float64)[idx, :, :2]
    eyes = np.asarray(track.contour_xyz, dtype=np.float64)[idx][:, [CONTOUR_POINT_NAMES.index("right_eye_outer"),
                                                                     CONTOUR_POINT_NAMES.index("left_eye_outer")], :2]
    eye_span = np.linalg.norm(eyes[:, 0] - eyes[:, 1], axis=1)
    outer = shoelace_area(lips[:, 0:20])
    ok = np.isfinite(lips).all(axis=(1, 2)) & np.isfinite(eye_span) & (eye_span > 0) & (outer > 0)
    if ok.sum() < 2:
        return 0.0, 0.0
    width = np.linalg.norm(lips[ok, 0] - lips[ok, 10], axis=1) / eye_span[ok]
    area = shoelace_area(lips[ok, 20:40]) / outer[ok]
    return float(np.ptp(width) / max(float(np.median(width)), 1e-9)), float(np.ptp(area))


def has_utterance(
    features: LipFeatures,
    crops: np.ndarray,
    *,
    frames: np.ndarray | None = None,
    reference_motion: float | None = None,
    config: CommandsConfig | None = None,
    motion: float | None = None,
    track: LipTrack | None = None,
) -> bool:
    """Whether the lips move enough to be an utterance.

    The lips' own evidence (:func:`opening_change` at least
    ``CommandsConfig.min_opening_change``) and the crop's :func:`take_motion` at least
    ``min_motion`` (a floor for a perfectly still face); relative to the person only when
    ``min_relative_motion`` > 0 and ``reference_motion`` is given. The whole clip is used
    by default, not its movement segments: a short take that is speech from start to end
    has no quiet frames for the segmenter's noise floor.

    Parameters
    ----------
    features : LipFeatures
    crops : np.ndarray [shape=(n_frames, h, w)]
        Labial crops of the same frames.
    frames : np.ndarray [shape=(n_selected,), dtype=int], optional
        The utterance's frames (default every valid frame).
    reference_motion : float, optional
        Percent of contrast (:func:`take_motion` of the enrolled takes, median).
    config : CommandsConfig, optional
    motion : float, optional
        The utterance's :func:`take_motion` when the caller already has it (not computed again).
    """
    cfg = config or CommandsConfig()
    idx = utterance_frames(features) if frames is None else np.asarray(frames, dtype=np.int64)
    if not lips_heard(features, idx, track, cfg):
        return False
    return _moves_enough(take_motion(crops, idx) if motion is None else motion, reference_motion, cfg)


def lips_heard(features: LipFeatures, frames: np.ndarray, track: LipTrack | None, config: CommandsConfig) -> bool:
    """The lips' own evidence of an utterance: :func:`opening_change` at least ``min_opening_change``,
    or (with a track) either ratio of :func:`shape_change` at least ``min_width_change`` /
    ``min_area_change``."""
    if opening_change(features, frames) >= config.min_opening_change:
        return True
    if track is None:
        return False
    width, area = shape_change(track, frames)
    return width >= config.min_width_change or area >= config.min_area_change


def _moves_enough(motion: float, reference_motion: float | None, cfg: CommandsConfig) -> bool:
    """The crop-motion part of "no utterance": the floor, then (opt-in) relative to the person."""
    if motion < cfg.min_motion:
        return False
    return reference_motion is None or motion >= cfg.min_relative_motion * reference_motion


def clip_sequence(
    video: Video | str | Path,
    *,
    sequence_config: SequenceConfig | None = None,
    backend: Any = None,
    vocabulary: Vocabulary | None = None,
    config: CommandsConfig | None = None,
    return_motion: bool = False,
    copies: Sequence[float] = (),
) -> Any:
    """Track a clip and build its utterance sequence (``None`` when the lips do not move).

    The utterance is the phrase inside the clip (``features.matcher.take_frames``: still
    frames before and after it are left out, as for the lip password); "no utterance" is
    :func:`has_utterance` on those frames.

    Parameters
    ----------
    video : Video or path
    sequence_config : SequenceConfig, optional
        Default the vocabulary's, else ``SequenceConfig()``.
    backend : LandmarkBackend, optional
    vocabulary : Vocabulary, optional
        Its :attr:`~Vocabulary.reference_motion` for the opt-in relative gate
        (``CommandsConfig.min_relative_motion``).
    config : CommandsConfig, optional
    return_motion : bool
        Also return the clip's :func:`take_motion` (for :meth:`Vocabulary.add_word`).
    copies : sequence of float
        Also return :func:`amplitude_copies` of the clip at these factors (enrolment).

    Returns
    -------
    sequence : np.ndarray [shape=(n_frames, d), float32] or None
    track : LipTrack
    features : LipFeatures
    motion : float
        Only with ``return_motion=True``: percent of contrast.
    copies : dict of float -> np.ndarray
        Only with ``copies``: empty when the clip has no utterance.
    """
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    cfg = sequence_config or (vocabulary.sequence_config if vocabulary is not None else COMMANDS_SEQUENCE)
    if not isinstance(video, Video):
        video = load_video(video)
    track = track_lips(video, backend=backend)
    features = extract_lip_features(track, video)
    crops = labial_crops(video, track)
    frames = take_frames(features)  # the phrase: rest before and after left out (as the lip password)
    motion = take_motion(crops, frames)
    reference = vocabulary.reference_motion if vocabulary is not None else None
    seq = None
    if has_utterance(features, crops, frames=frames, reference_motion=reference, config=config, motion=motion, track=track):
        seq = _sequence_of(video, track, features, crops, frames, cfg)
    out: tuple[Any, ...] = (seq, track, features, motion) if return_motion else (seq, track, features)
    if copies:
        made = {} if seq is None else amplitude_copies(video, track, factors=copies, sequence_config=cfg, backend=backend)
        out = (*out, made)
    return out


def _sequence_of(video: Video, track: LipTrack, features: LipFeatures, crops: np.ndarray, frames: np.ndarray,
                 cfg: SequenceConfig) -> np.ndarray:
    deep = _deep_maps(video, track, features, frames) if cfg.needs_deep else None
    return utterance_sequence(track, features, crops if cfg.needs_crops else None, frames=frames, config=cfg, deep=deep)


def amplitude_copies(
    video: Video,
    track: LipTrack,
    *,
    factors: Sequence[float] = AMPLITUDE_COPIES,
    sequence_config: SequenceConfig | None = None,
    backend: Any = None,
) -> dict[float, np.ndarray]:
    """Sequences of a take with its lip motion scaled by each factor (enrolment at several amplitudes).

    The clip is warped by :func:`lipauth.features.magnify.attenuate_lip_motion` (the lips
    move ``factor`` times as far from their closed shape), re-tracked and turned into a
    sequence like the take itself (``take_frames``). A factor whose copy has fewer than 3
    usable frames is left out.

    Parameters
    ----------
    video : Video
    track : LipTrack
        The take's track.
    factors : sequence of float
        Each in (0, 1); default :data:`AMPLITUDE_COPIES`.
    sequence_config : SequenceConfig, optional
    backend : LandmarkBackend, optional

    Returns
    -------
    dict of float -> np.ndarray [shape=(n_frames, d), float32]
    """
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.features.magnify import attenuate_lip_motion
    from lipauth.tracking import track_lips

    cfg = sequence_config or COMMANDS_SEQUENCE
    out: dict[float, np.ndarray] = {}
    for factor in factors:
        check_range("amplitude_copies", "factor", float(factor), 0.01, 0.99)
        warped = dataclasses.replace(video, frames=np.stack(list(attenuate_lip_motion(video, track, factor=float(factor)))))
        copy_track = track_lips(warped, backend=backend)
        copy_features = extract_lip_features(copy_track, warped)
        frames = take_frames(copy_features)
        if frames.size < 3:
            log.info("amplitude copy at %.2f has %d usable frames: left out", factor, frames.size)
            continue
        copy_crops = labial_crops(warped, copy_track)
        out[float(factor)] = _sequence_of(warped, copy_track, copy_features, copy_crops, frames, cfg)
    return out


def _deep_maps(
    video: Video, track: LipTrack, features: LipFeatures, frames: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The deep lip maps (``features.deep``) of the usable frames of a clip (those of
    ``frames`` when given: the network runs only where an utterance will read them)."""
    from lipauth.features.deep import deep_lip_frames

    usable = np.asarray(features.valid) & track.detected
    if frames is not None:
        usable &= np.isin(np.arange(track.n_frames), frames)
    return deep_lip_frames(video, track, frames=np.flatnonzero(usable))


def _no_utterance(start_s: float, end_s: float, cfg: CommandsConfig) -> CommandResult:
    return CommandResult(
        score=0.0, threshold=cfg.reject_cohort, accepted=False, reasons=("NO_UTTERANCE",), start_s=start_s, end_s=end_s
    )


def _matcher(vocabulary: Vocabulary, cfg: CommandsConfig) -> MatcherConfig:
    sc = vocabulary.sequence_config
    return MatcherConfig(weights=cfg.fusion_weights or (1.0,), band=sc.band, open_end=sc.open_end)


def _template_sets(vocabulary: Vocabulary) -> list[tuple[float, dict[str, list[np.ndarray]]]]:
    """(amplitude factor, takes by word): the enrolled takes (1.0), then each factor of amplitude
    copies that every word has (a vocabulary of two or more words: the open-set rule needs a cohort)."""
    sets: list[tuple[float, dict[str, list[np.ndarray]]]] = [(1.0, vocabulary.takes)]
    if len(vocabulary.words) > 1:
        sets += [(f, c) for f, c in sorted(vocabulary.copies_.items(), reverse=True) if all(c.get(w) for w in vocabulary.words)]
    return sets


def _take_distances(
    vocabulary: Vocabulary, sequence: np.ndarray, cfg: CommandsConfig, takes: dict[str, list[np.ndarray]] | None = None
) -> list[np.ndarray]:
    """Distance from the utterance to every enrolled take (or to ``takes``), one array per word (word order).

    The shared matcher (:mod:`lipauth.features.matcher`): each channel aligned on its own,
    divided by its median over the utterance's distances to every enrolled take (the
    vocabulary is the yardstick), fused with ``fusion_weights``; without fusion one DTW over
    the whole sequence.
    """
    sc = vocabulary.sequence_config
    words = vocabulary.words
    q = np.asarray(sequence)
    if q.ndim != 2:
        raise InputError(f"sequence has shape {q.shape}; pass an (n_frames, d) utterance_sequence")
    by_word = vocabulary.takes if takes is None else takes
    counts = [len(by_word[w]) for w in words]
    templates = [np.asarray(t) for w in words for t in by_word[w]]
    for t in templates:
        if t.shape[1] != q.shape[1]:
            raise InputError(
                f"sequences have {q.shape[1]} and {t.shape[1]} columns; build the utterance with the vocabulary's sequence_config"
            )
    if cfg.fusion_weights is None:
        total = dtw_many(q, templates, band=sc.band, open_end=sc.open_end)
    else:
        mc = _matcher(vocabulary, cfg)
        d = channel_distances(q, templates, sequence_config=sc, config=mc)
        total = fused_distances(d, yardstick(d), mc, mean=False)
    return list(np.split(total, np.cumsum(counts)[:-1]))


def _with_learned_metric(
    vocabulary: Vocabulary, sequence: np.ndarray, per_take: list[np.ndarray], cfg: CommandsConfig
) -> list[np.ndarray]:
    """The distances fused with those in the vocabulary's learned metric (``metric_weight`` > 0)."""
    if cfg.metric_weight <= 0:
        return per_take
    vocabulary.ensure_metric()
    if vocabulary.metric_ is None:
        return per_take
    sc = vocabulary.sequence_config
    q = vocabulary.metric_.apply(sequence)
    learned = [dtw_many(q, vocabulary.projected_[w], band=sc.band, open_end=sc.open_end) for w in vocabulary.words]
    raw_scale = max(float(np.median(np.concatenate(per_take))), 1e-9)
    learned_scale = max(float(np.median(np.concatenate(learned))), 1e-9)
    return [(1.0 - cfg.metric_weight) * r / raw_scale + cfg.metric_weight * m / learned_scale for r, m in zip(per_take, learned)]


def loo_accuracy(channels: Sequence[np.ndarray], labels: Sequence[str], weights: Sequence[float]) -> float:
    """Leave-one-out 1-NN accuracy of enrolled takes under fusion ``weights``.

    ``channels[i]``: the (n_channels, n_takes - 1) :func:`~lipauth.features.matcher.channel_distances`
    of take ``i`` to every other take (in order, itself left out); each channel divided by its
    median over those takes and summed with ``weights`` (as :func:`recognise` fuses).
    """
    lab = np.asarray(labels)
    w = np.asarray(weights, dtype=np.float64)
    right = 0
    for i, d in enumerate(channels):
        others = np.delete(lab, i)
        ch = np.asarray(d, dtype=np.float64)
        used = (w > 0) & np.isfinite(ch).all(axis=1)
        fused = (ch[used] / np.maximum(np.median(ch[used], axis=1, keepdims=True), 1e-9) * w[used, None]).sum(axis=0)
        own = fused[others == lab[i]]
        rest = fused[others != lab[i]]
        right += bool(own.size and rest.size and own.min() < rest.min())
    return right / max(len(channels), 1)


def uses_alt_fusion(vocabulary: Vocabulary, config: CommandsConfig | None = None) -> bool:
    """Whether the vocabulary is matched with ``CommandsConfig.alt_fusion_weights`` rather than ``fusion_weights``.

    The person's own enrolled takes decide: each take is recognised among the others
    (leave-one-out, :func:`loo_accuracy`) under both weight sets, and the alternative is used
    when it gets at least ``CommandsConfig.alt_min_gain`` more of them right. Needs 2 or more words and both weight sets;
    computed once per vocabulary and settings (DTWs between the enrolled takes), again after
    a word is added or removed; the store saves it with the vocabulary (~4 s for 10 words x 5 takes).
    """
    cfg = config or CommandsConfig()
    if cfg.alt_fusion_weights is None or cfg.fusion_weights is None or len(vocabulary.words) < 2:
        return False
    key = (cfg.fusion_weights, cfg.alt_fusion_weights, cfg.alt_min_gain)
    if key not in vocabulary._fusion_choice:
        sc = vocabulary.sequence_config
        takes = [np.asarray(t) for w in vocabulary.words for t in vocabulary.takes[w]]
        labels = [w for w in vocabulary.words for _ in vocabulary.takes[w]]
        both = tuple(max(a, b) for a, b in zip(cfg.fusion_weights, cfg.alt_fusion_weights))
        mc = MatcherConfig(weights=both, band=sc.band, open_end=sc.open_end)
        try:
            chans = [channel_distances(t, takes[:i] + takes[i + 1:], sequence_config=sc, config=mc) for i, t in enumerate(takes)]
        except InputError:  # sequences without the channel layout (the fused matcher cannot read them either)
            return False
        vocabulary._fusion_choice[key] = prefers_alt_fusion(chans, labels, cfg)
    return vocabulary._fusion_choice[key]


def prefers_alt_fusion(channels: list[np.ndarray], labels: Sequence[Any], config: CommandsConfig) -> bool:
    """The rule of :func:`uses_alt_fusion` on the enrolled takes' leave-one-out channel distances
    (as :func:`loo_accuracy`): the alternative weights get at least ``alt_min_gain`` more takes right."""
    if config.alt_fusion_weights is None or config.fusion_weights is None:
        return False
    alt, base = loo_accuracy(channels, labels, config.alt_fusion_weights), loo_accuracy(channels, labels, config.fusion_weights)
    return bool((alt - base) * len(channels) >= config.alt_min_gain - 1e-6)


def _relative_distance(
    vocabulary: Vocabulary, per_take: list[np.ndarray], dist: np.ndarray, best: int, cfg: CommandsConfig,
    sequence: np.ndarray, takes: dict[str, list[np.ndarray]],
) -> tuple[float, float]:
    """The open-set yardstick: ``(best distance / cohort distance, its threshold)``.

    The cohort is the other words' takes; a one-word vocabulary has none, so its word's takes
    played backwards and with their halves swapped stand in (:func:`~lipauth.features.matcher.scrambled`:
    the same mouth and range of motion, not the same movement), matched and fused on one
    yardstick with the takes themselves.
    """
    words = vocabulary.words
    if len(words) > 1:
        cohort = max(float(np.median(np.concatenate([per_take[i] for i in range(len(words)) if i != best]))), 1e-9)
        return float(dist[best] / cohort), cfg.reject_cohort
    own = [np.asarray(t) for t in takes[words[best]]]
    refs = own + [x for t in own for x in scrambled(t)]
    sc = vocabulary.sequence_config
    if cfg.fusion_weights is None:
        total = dtw_many(np.asarray(sequence), refs, band=sc.band, open_end=sc.open_end)
    else:
        mc = _matcher(vocabulary, cfg)
        d = channel_distances(np.asarray(sequence), refs, sequence_config=sc, config=mc)
        total = fused_distances(d, yardstick(d), mc, mean=False)
    return float(np.min(total[: len(own)]) / max(float(np.median(total[len(own):])), 1e-9)), cfg.reject_scrambled


def recognise(
    vocabulary: Vocabulary,
    sequence: np.ndarray | None,
    *,
    config: CommandsConfig | None = None,
    start_s: float = float("nan"),
    end_s: float = float("nan"),
    motion: float | None = None,
) -> CommandResult:
    """Rank the vocabulary's words for one utterance's sequence.

    Parameters
    ----------
    vocabulary : Vocabulary
        With at least one word.
    sequence : np.ndarray [shape=(n_frames, d)] or None
        :func:`~lipauth.features.sequence.utterance_sequence` with the vocabulary's config;
        ``None`` = no lip movement (answers ``NO_UTTERANCE``).
    config : CommandsConfig, optional
    motion : float, optional
        The utterance's :func:`take_motion` (percent of contrast): ``NO_UTTERANCE`` under the
        ``CommandsConfig.min_motion`` floor, or (opt-in) under ``min_relative_motion`` of the
        vocabulary's :attr:`~Vocabulary.reference_motion`. The lips' own evidence
        (:func:`opening_change`) is applied where the sequence is built
        (:func:`clip_sequence`, :func:`listen_clip`): pass ``None`` as the sequence then.

    With amplitude copies (:attr:`Vocabulary.copies_`) each factor is matched as a
    vocabulary of its own and the answer comes from the one with the lowest relative
    distance (``details["amplitude"]``).

    Returns
    -------
    CommandResult

    Raises
    ------
    InputError
        Empty vocabulary, or a sequence of another width.
    """
    cfg = config or CommandsConfig()
    if not vocabulary.takes:
        raise InputError(f"vocabulary {vocabulary.name!r} is empty; enrol words first (lipauth commands enrol)")
    if sequence is None:
        return _no_utterance(start_s, end_s, cfg)
    if motion is not None and not _moves_enough(motion, vocabulary.reference_motion, cfg):
        return _no_utterance(start_s, end_s, cfg)
    alt = uses_alt_fusion(vocabulary, cfg)
    if alt:
        cfg = cfg.with_alt_fusion()
    words = vocabulary.words
    picked = None
    for factor, takes in _template_sets(vocabulary):  # the enrolled takes, then their amplitude copies
        per_take = _take_distances(vocabulary, sequence, cfg, takes)
        if factor == 1.0:
            per_take = _with_learned_metric(vocabulary, sequence, per_take, cfg)
        set_dist = np.array([d.min() for d in per_take])
        set_rel = _relative_distance(vocabulary, per_take, set_dist, int(np.argmin(set_dist)), cfg, sequence, takes)
        if picked is None or set_rel[0] < picked[0][0]:
            picked = (set_rel, factor, per_take, set_dist)
    assert picked is not None
    (rel, rel_threshold), factor, per_take, dist = picked
    order = np.argsort(dist, kind="stable")  # ranking by raw distance (measured: dividing by spread costs 19 points)
    best = int(order[0])
    cohort_all = max(float(np.median(np.concatenate(per_take))), 1e-9)
    logits = -dist / (cohort_all * cfg.temperature)
    conf = np.exp(logits - logits.max())
    conf /= conf.sum()
    ranking = tuple((words[i], float(conf[i]), float(dist[i])) for i in order)
    ratio = float(dist[best] / dist[order[1]]) if len(words) > 1 and dist[order[1]] > 0 else 0.0
    reasons: list[str] = []
    if rel > rel_threshold:
        reasons.append("NOT_IN_VOCABULARY")
    if ratio > cfg.reject_ratio:
        reasons.append("AMBIGUOUS")
    word = None if reasons else words[best]
    return CommandResult(
        score=float(conf[best]),
        threshold=rel_threshold,
        accepted=word is not None,
        reasons=tuple(reasons),
        word=word,
        ranking=ranking,
        start_s=float(start_s),
        end_s=float(end_s),
        details={
            "relative_distance": rel,
            "ratio_to_second": ratio,
            "best_match": words[best],
            "cohort_distance": cohort_all,
            "amplitude": factor,
            "fusion": "alt" if alt else "default",
            **({} if motion is None else {"motion": float(motion)}),
        },
    )


def recognise_clip(
    vocabulary: Vocabulary,
    video: Video | str | Path,
    *,
    config: CommandsConfig | None = None,
    backend: Any = None,
) -> CommandResult:
    """Track a clip (one utterance) and recognise it; no lip movement gives ``NO_UTTERANCE``."""
    seq, track, _, motion = clip_sequence(video, vocabulary=vocabulary, config=config, backend=backend, return_motion=True)
    t = track.timestamps_s
    return recognise(vocabulary, seq, config=config, start_s=float(t[0]), end_s=float(t[-1]), motion=motion)


def _segment_results(
    vocabulary: Vocabulary,
    track: LipTrack,
    features: LipFeatures,
    crops: np.ndarray,
    segments: Iterable[tuple[float, float, str, float]],
    cfg: CommandsConfig,
    deep: dict[str, np.ndarray] | None = None,
) -> list[CommandResult]:
    scfg = vocabulary.sequence_config
    reference = vocabulary.reference_motion
    out = []
    for start_s, end_s, *_ in segments:
        idx = utterance_frames(features, start_s - scfg.margin_s, end_s + scfg.margin_s)
        if idx.size < 3:
            continue
        inner = utterance_frames(features, start_s, end_s)
        inner = inner if inner.size >= 2 else idx
        if not has_utterance(features, crops, frames=inner, reference_motion=reference, config=cfg, track=track):
            continue  # a twitch far below the person's enrolled movements
        if reference is None and np.ptp(features.column("opening")[inner]) < cfg.min_amplitude:
            continue  # no reference motion (vocabulary enrolled without motions): e.g. tracker settling
        seq = utterance_sequence(track, features, crops if scfg.needs_crops else None, frames=idx, config=scfg, deep=deep)
        out.append(recognise(vocabulary, seq, config=cfg, start_s=start_s, end_s=end_s))
    return out


def listen_clip(
    vocabulary: Vocabulary,
    video: Video | str | Path,
    *,
    config: CommandsConfig | None = None,
    backend: Any = None,
    return_features: bool = False,
) -> Any:
    """Cut a long clip into utterances (movement segments) and recognise each, in order.

    Returns
    -------
    list of CommandResult
        One per utterance, in time order; empty when the lips never move. With
        ``return_features=True`` a pair ``(results, LipFeatures)`` (for plotting).
    """
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    cfg = config or CommandsConfig()
    if not vocabulary.takes:
        raise InputError(f"vocabulary {vocabulary.name!r} is empty; enrol words first (lipauth commands enrol)")
    if not isinstance(video, Video):
        video = load_video(video)
    track = track_lips(video, backend=backend)
    features = extract_lip_features(track, video)
    crops = labial_crops(video, track)
    deep = None
    if vocabulary.sequence_config.needs_deep and features.segments:
        margin_s = vocabulary.sequence_config.margin_s
        cut = [utterance_frames(features, s - margin_s, e + margin_s) for s, e, *_ in features.segments]
        deep = _deep_maps(video, track, features, np.concatenate(cut))
    results = _segment_results(vocabulary, track, features, crops, features.segments, cfg, deep)
    return (results, features) if return_features else results


class CommandListener:
    """Streaming twin of :func:`listen_clip`: feed frames, get one result per utterance.

    An utterance is emitted once its movement segment has been followed by
    ``FeatureConfig.min_gap_s`` + ``margin_s`` of stillness; :meth:`finish` emits the rest.

    Parameters
    ----------
    vocabulary : Vocabulary
    config : CommandsConfig, optional
    backend : LandmarkBackend, optional
        Default MediaPipe.
    hop_s : float
        How often (stream time) the pending frames are re-segmented.

    Examples
    --------
    >>> listener = CommandListener(vocab)
    >>> for t_s, frame in video.iter_frames():
    ...     for result in listener.update(frame, t_s):
    ...         print(result.start_s, result.word)
    >>> tail = listener.finish()
    """

    def __init__(
        self, vocabulary: Vocabulary, *, config: CommandsConfig | None = None, backend: Any = None, hop_s: float = 0.25
    ) -> None:
        if not vocabulary.takes:
            raise InputError(f"vocabulary {vocabulary.name!r} is empty; enrol words first (lipauth commands enrol)")
        check_range("CommandListener", "hop_s", hop_s, 0.01, 10.0)
        self.vocabulary = vocabulary
        self.config = config or CommandsConfig()
        self.backend = backend
        self.hop_s = float(hop_s)
        self._tracker: Any = None
        self._cropper: Any = None
        self._frames: list[Any] = []
        self._crops: list[np.ndarray] = []
        self._deep: list[tuple[np.ndarray, np.ndarray] | None] = []
        self._encoder: Any = None
        self._last_check_s = -np.inf

    def _ensure(self) -> None:
        if self._tracker is None:
            from lipauth.features.appearance import LabialCropper
            from lipauth.tracking import LipTracker

            self._tracker = LipTracker(backend=self.backend, source="<stream>")
            self._cropper = LabialCropper()
            if self.vocabulary.sequence_config.needs_deep and self._encoder is None:
                from lipauth.features.deep import DeepLipEncoder

                self._encoder = DeepLipEncoder()

    def update(self, frame: np.ndarray, t_s: float) -> list[CommandResult]:
        """Add one RGB frame at time ``t_s``; returns the utterances completed by it."""
        self._ensure()
        lip = self._tracker.update(frame, t_s)
        self._frames.append(lip)
        if lip.detected:
            crop = self._cropper.update(frame, lip.landmarks_px, lip.landmarks_norm)
        else:
            crop = np.zeros(self._cropper.size[::-1], dtype=np.float32)
        self._crops.append(np.asarray(crop, dtype=np.float32))
        if self._encoder is not None:
            self._deep.append(self._encoder.encode(frame, lip.face_box, float(lip.pose[2])) if lip.detected else None)
        if t_s - self._last_check_s < self.hop_s:
            return []
        self._last_check_s = t_s
        return self._process(final=False)

    def finish(self) -> list[CommandResult]:
        """Emit the utterances still pending at the end of the stream and reset."""
        out = self._process(final=True) if self._frames else []
        self._frames, self._crops, self._deep = [], [], []
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
        return out

    def _track(self) -> LipTrack:
        from lipauth.tracking.track import stack_contours

        fr = self._frames
        return LipTrack(
            timestamps_s=np.array([f.t_s for f in fr], dtype=np.float64),
            detected=np.array([f.detected for f in fr], dtype=bool),
            face_box=np.stack([f.face_box for f in fr]).astype(np.float32),
            labial_box=np.stack([f.labial_box for f in fr]).astype(np.float32),
            landmarks_px=np.stack([f.landmarks_px for f in fr]).astype(np.float32),
            landmarks_norm=np.stack([f.landmarks_norm for f in fr]).astype(np.float32),
            pose=np.stack([f.pose for f in fr]).astype(np.float32),
            quality=np.array([f.quality for f in fr], dtype=np.uint8),
            n_faces=np.array([f.n_faces for f in fr], dtype=np.uint8),
            backend="stream",
            contour_xyz=stack_contours(fr),
        )

    def _process(self, *, final: bool) -> list[CommandResult]:
        from lipauth.features import (
            MIN_DETECTED_FRAMES,
            FeatureConfig,
            extract_lip_features,
        )

        track = self._track()
        if int(track.detected.sum()) < MIN_DETECTED_FRAMES:
            return []
        features = extract_lip_features(track)
        t_now = float(track.timestamps_s[-1])
        wait_s = FeatureConfig().min_gap_s + self.vocabulary.sequence_config.margin_s
        done = [s for s in features.segments if final or s[1] + wait_s <= t_now]
        if not done:
            if not features.segments:  # nothing moving: keep only a short tail (bounded memory and work)
                keep = int(np.searchsorted(track.timestamps_s, t_now - 2.0 * wait_s))
                self._frames = self._frames[keep:]
                self._crops = self._crops[keep:]
                self._deep = self._deep[keep:]
            return []
        crops = np.stack(self._crops)
        deep = None
        if self._encoder is not None:
            from lipauth.features.deep import DEEP_CHANNELS, DEEP_WIDTHS

            deep = {name: np.zeros((len(self._deep), DEEP_WIDTHS[name]), dtype=np.float32) for name in DEEP_CHANNELS}
            for i, maps in enumerate(self._deep):
                if maps is not None:
                    deep[DEEP_CHANNELS[0]][i], deep[DEEP_CHANNELS[1]][i] = maps
        out = _segment_results(self.vocabulary, track, features, crops, done, self.config, deep)
        cut_s = done[-1][1] + self.vocabulary.sequence_config.margin_s
        keep = int(np.searchsorted(track.timestamps_s, cut_s))
        self._frames = self._frames[keep:]
        self._crops = self._crops[keep:]
        self._deep = self._deep[keep:]
        return out
