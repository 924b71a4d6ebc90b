"""One sequence matcher for the lip password and the lip commands.

Both ask the same question: *is this take the same lip movement as those takes?* This
module answers it once; :mod:`lipauth.checks.password` and :mod:`lipauth.checks.commands`
only decide what to do with the answer.

1. **Channels.** A take's sequence (:func:`lipauth.features.sequence.utterance_sequence`
   with :data:`MATCH_SEQUENCE`) holds six blocks of columns (:data:`MATCH_CHANNELS`): HOG and
   pixels of the aligned labial crop, the pose-normalised lip landmarks, the jaw contour and
   the two deep lip maps of the face-mesh network, each normalised per take.
2. **Alignment.** Every channel is aligned on its own (late fusion) by dynamic time warping
   that is free at both ends (:func:`dtw_many`: a fraction ``open_end`` of either sequence
   may be left unmatched at its start and at its end), vectorised over the references and
   channels.
3. **Fusion and normalisation.** Each channel's distances are divided by a *yardstick*,
   the median of that channel's distances from the same query to a reference set (the
   other words of a vocabulary, or a background cohort of other phrases and people), and
   summed with :attr:`MatcherConfig.weights` divided by their sum (:func:`fused_distances`).
   A fused distance of 1 is "as far as a typical unrelated take", 0 identical.
4. **Consistency of enrolment takes** (:func:`take_consistency`): each take against the
   others, in the same units, so one rule refuses a take of another phrase or of another
   person for both checks.

Rest before and after the phrase is removed before any of this, by
:func:`lipauth.features.segment.phrase_span` (the take's own rest level).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError
from lipauth.features.sequence import SequenceConfig, channel_slices
from lipauth.types import LipFeatures

__all__ = [
    "COHORT_FILE",
    "Cohort",
    "MAX_INCONSISTENCY",
    "check_consistency",
    "full_width",
    "load_cohort",
    "reference_distances",
    "scrambled",
    "MATCH_CHANNELS",
    "MATCH_SEQUENCE",
    "MATCH_WEIGHTS",
    "MatcherConfig",
    "channel_distances",
    "channel_names",
    "delta_block",
    "dtw_many",
    "fused_distances",
    "sketch",
    "sketch_slices",
    "speech_span",
    "take_frames",
    "take_consistency",
    "yardstick",
]

#: the channels of the late fusion, in column order of a :data:`MATCH_SEQUENCE` sequence
MATCH_CHANNELS: tuple[str, ...] = ("hog", "pixels", "rest", "jaw", "deep_early", "deep_lips")
#: how both checks build their sequences: HOG, pixels, landmarks (0.3), the jaw contour and the
#: deep lip maps; the channels' scale in the fused distance is set by the fusion weights
MATCH_SEQUENCE = SequenceConfig(jaw_weight=1.0, deep_weight=1.0)
#: fusion weights (:data:`MATCH_CHANNELS` order): chosen for the lip commands on MIRACL F01
#: split seeds 1 / 11 (jaw 3-4 with deep 8-11 was a plateau), reported on seeds 21 / 31 / 41
MATCH_WEIGHTS: tuple[float, ...] = (1.0, 2.0, 0.3, 4.0, 10.0, 10.0)


#: :attr:`MatcherConfig.yardstick` choices
YARDSTICKS = ("nearest", "nearest_mean")


@dataclass(frozen=True)
class MatcherConfig:
    """Alignment and fusion settings of the matcher.

    Attributes
    ----------
    weights : tuple of floats
        One per channel of :data:`MATCH_CHANNELS` (or the first 3); 0 drops a channel.
    band : float
        Sakoe-Chiba band half-width as a fraction of the lengths (as ``dtw_distance``).
    open_end : float
        Fraction of either sequence that may stay unmatched at its start and at its end.
    delta_weights : tuple of floats
        Weights of the *motion* channels, one per channel of :data:`MATCH_CHANNELS` (empty, the
        default, for the lip commands: none). A channel with a delta weight > 0 also gets a
        delta channel: the frame-to-frame difference of its columns, normalised per take
        (:func:`delta_block`), aligned by its own DTW and fused with that weight;
        :func:`channel_distances` then returns ``2 x len(MATCH_CHANNELS)`` rows
        (:func:`channel_names`). The lip password's (docs/notes/password.md).
    yardstick : str
        How :meth:`Cohort.distances` makes a query's per-channel yardstick: ``"nearest"`` (the
        default: the smaller of two medians, the query's distances to the cohort and to the
        :func:`scrambled` copies of the references) or ``"nearest_mean"`` (the smaller of the two
        means). The lip password's is ``"nearest_mean"`` (docs/notes/password.md); the enrolment
        consistency rule and the lip commands keep ``"nearest"``.
    """

    weights: tuple[float, ...] = MATCH_WEIGHTS
    band: float = 0.5
    open_end: float = 0.2
    delta_weights: tuple[float, ...] = ()
    yardstick: str = "nearest"

    def __post_init__(self) -> None:
        w = tuple(self.weights)
        if len(w) not in (3, len(MATCH_CHANNELS)) or any(not 0.0 <= float(v) <= 100.0 for v in w) or sum(w) <= 0:
            raise InputError(
                f"MatcherConfig.weights={self.weights!r}; pass 6 weights {MATCH_CHANNELS} (or the first 3) "
                "from 0 to 100 with a positive sum"
            )
        object.__setattr__(self, "weights", tuple(float(v) for v in w) + (0.0,) * (len(MATCH_CHANNELS) - len(w)))
        check_range("MatcherConfig", "band", self.band, 0.05, 1.0)
        check_range("MatcherConfig", "open_end", self.open_end, 0.0, 0.45)
        dw = tuple(float(v) for v in self.delta_weights)
        if dw and (len(dw) != len(MATCH_CHANNELS) or any(not 0.0 <= v <= 100.0 for v in dw)):
            raise InputError(f"MatcherConfig.delta_weights={self.delta_weights!r}; pass none or 6 weights {MATCH_CHANNELS} from 0 to 100")
        object.__setattr__(self, "delta_weights", dw if any(dw) else ())
        if self.yardstick not in YARDSTICKS:
            raise InputError(f"MatcherConfig.yardstick={self.yardstick!r}; use one of {YARDSTICKS}")

    @property
    def fusion_weights(self) -> tuple[float, ...]:
        """One weight per row of :func:`channel_distances`: :attr:`weights`, then the
        :attr:`delta_weights` (when any)."""
        return self.weights + self.delta_weights


def channel_names(config: MatcherConfig | None = None) -> tuple[str, ...]:
    """The rows of :func:`channel_distances` for ``config``: :data:`MATCH_CHANNELS`, then
    ``"d_<channel>"`` for the delta channels when ``config.delta_weights`` has any."""
    cfg = config or MatcherConfig()
    return MATCH_CHANNELS + (tuple(f"d_{n}" for n in MATCH_CHANNELS) if cfg.delta_weights else ())


def delta_block(block: np.ndarray) -> np.ndarray:
    """A channel's motion: the difference of every frame from the one before (the first frame's
    is 0), normalised per take like the channels themselves (mean removed, unit RMS).

    The appearance channels are dominated by the person's face, the same in all of their
    phrases; how it changes from frame to frame is closer to what the phrase is. Linear in the
    columns, so the delta of a :func:`sketch` is the sketch of the delta.
    """
    from lipauth.features.sequence import normalise_channel

    x = np.asarray(block, dtype=np.float64)
    return normalise_channel(np.diff(x, axis=0, prepend=x[:1]))


def _frame_costs_many(query: np.ndarray, references: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Squared Euclidean frame costs of the query to each reference (one matrix product)."""
    return _stacked_frame_costs(query, np.concatenate(references), [len(r) for r in references])


def _stacked_frame_costs(query: np.ndarray, refs: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """:func:`_frame_costs_many` of references already stacked in rows (``lengths`` each)."""
    cost = (query**2).sum(1)[:, None] + (refs**2).sum(1)[None, :] - 2.0 * query @ refs.T
    np.maximum(cost, 0.0, out=cost)
    return np.split(cost, np.cumsum(lengths)[:-1], axis=1)


def dtw_many(
    query: np.ndarray, references: Sequence[np.ndarray], *, band: float = 0.5, open_end: float = 0.0,
    costs: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`~lipauth.features.sequence.dtw_distance` of one query to many references at once.

    The same recursion (anti-diagonals of a skewed table, Sakoe-Chiba band, open begin and
    end, normalised by the frames the path spans in both sequences), vectorised across the
    references: one Python loop of ``n + max(m)`` steps for all of them. Equal to
    ``[dtw_distance(query, r, band=band, open_end=open_end) for r in references]`` up to
    rounding.

    Parameters
    ----------
    query : np.ndarray [shape=(n, d)]
    references : sequence of np.ndarray [shape=(m_k, d)]
    band, open_end : float
        As in ``dtw_distance``.
    costs : sequence of np.ndarray [shape=(n, m_k)], optional
        Precomputed frame costs (then ``query`` and ``references`` give only the lengths).

    Returns
    -------
    np.ndarray [shape=(len(references),), dtype=float64]
    """
    if not len(references):
        return np.zeros(0)
    x = np.asarray(query, dtype=np.float64)
    refs = [np.asarray(r, dtype=np.float64) for r in references]
    if costs is None:
        if any(r.ndim != 2 or r.shape[1] != x.shape[1] or len(r) < 1 for r in refs) or x.ndim != 2 or len(x) < 1:
            raise InputError("dtw_many needs a (n, d) query and (m, d) references of the same width d, each with frames")
        costs = _frame_costs_many(x, refs)
    n = x.shape[0]
    lengths = np.array([len(r) for r in refs])
    b_count, m_max = len(refs), int(lengths.max())
    n_diag = n + m_max
    full = np.full((b_count, n, m_max), np.inf)
    for b, (c, m) in enumerate(zip(costs, lengths)):
        full[b, :, :m] = c
    fi = np.arange(n)[None, :, None] / max(n - 1, 1)
    fj = np.arange(m_max)[None, None, :] / np.maximum(lengths - 1, 1)[:, None, None]
    slack = 1.0 / np.maximum(np.minimum(n, lengths) - 1, 1)[:, None, None]
    full[np.abs(fi - fj) > band + slack] = np.inf
    skew = np.full((b_count, n_diag + 1, n + 1), np.inf)
    ii, jj = np.meshgrid(np.arange(1, n + 1), np.arange(1, m_max + 1), indexing="ij")
    skew[:, (ii + jj).ravel(), ii.ravel()] = full.reshape(b_count, -1)
    acc = np.full((b_count, n_diag + 1, n + 1), np.inf)
    start = np.zeros((b_count, n_diag + 1, n + 1))
    skip_n = int(open_end * n)
    skip_m = (open_end * lengths).astype(int)
    r_n = np.arange(skip_n + 1)
    acc[:, r_n, r_n] = 0.0
    start[:, r_n, r_n] = r_n
    r_m = np.arange(int(skip_m.max()) + 1)
    begin = r_m[None, :] <= skip_m[:, None]
    acc[:, r_m, 0] = np.where(begin, 0.0, np.inf)
    start[:, r_m, 0] = np.where(begin, r_m[None, :], 0.0)
    for k in range(2, n_diag + 1):
        lo, hi = max(1, k - m_max), min(n, k - 1) + 1
        cand = np.stack([acc[:, k - 2, lo - 1 : hi - 1], acc[:, k - 1, lo - 1 : hi - 1], acc[:, k - 1, lo:hi]])
        pick = cand.argmin(axis=0)[None]
        acc[:, k, lo:hi] = skew[:, k, lo:hi] + np.take_along_axis(cand, pick, 0)[0]
        prev = np.stack([start[:, k - 2, lo - 1 : hi - 1], start[:, k - 1, lo - 1 : hi - 1], start[:, k - 1, lo:hi]])
        start[:, k, lo:hi] = np.take_along_axis(prev, pick, 0)[0]
    # end cells: (n, j) for j >= m - skip_m, and (i, m) for i >= n - skip_n
    bb = np.arange(b_count)[:, None]
    j_end = lengths[:, None] - r_m[None, :]
    ok_j = begin & (j_end >= 0)
    j_end = np.maximum(j_end, 0)
    i_end = n - 1 - np.arange(skip_n)[None, :]
    best = np.full(b_count, np.inf)
    for ei, ej, ok in ((np.full_like(j_end, n), j_end, ok_j), (np.broadcast_to(i_end, (b_count, skip_n)), np.broadcast_to(lengths[:, None], (b_count, skip_n)), None)):
        if ej.shape[1] == 0:
            continue
        val = acc[bb, ei + ej, ei] / np.maximum(ei + ej - start[bb, ei + ej, ei], 1.0)
        if ok is not None:
            val = np.where(ok, val, np.inf)
        best = np.minimum(best, val.min(axis=1))
    return best


def _delta_blocks(sequences: Sequence[np.ndarray], cols: slice) -> list[np.ndarray]:
    """:func:`delta_block` of the ``cols`` of every sequence (in one pass over all of them)."""
    return np.split(_DeltaFrames(sequences).block(cols), np.cumsum([len(x) for x in sequences])[:-1])


class _DeltaFrames:
    """Sequences whose :func:`delta_block` s are taken channel by channel, all sequences in one
    block of rows (the per-sequence means and RMS as matrix products: reduceat is slow on rows)."""

    def __init__(self, sequences: Sequence[np.ndarray]) -> None:
        self.sequences = sequences
        lengths = np.array([len(x) for x in sequences])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.owner = np.repeat(np.arange(len(lengths)), lengths)
        self.mean_of = np.zeros((len(lengths), len(self.owner)))
        self.mean_of[self.owner, np.arange(len(self.owner))] = 1.0 / lengths[self.owner]

    def block(self, cols: slice) -> np.ndarray:
        b = np.concatenate([np.asarray(x[:, cols], dtype=np.float64) for x in self.sequences])
        d = np.empty_like(b)
        d[0] = 0.0
        np.subtract(b[1:], b[:-1], out=d[1:])
        d[self.starts] = 0.0
        d -= (self.mean_of @ d)[self.owner]
        rms = np.sqrt(self.mean_of @ np.einsum("ij,ij->i", d, d))
        d *= np.where(rms > 1e-9, 1.0 / np.maximum(rms, 1e-9), 0.0)[self.owner][:, None]
        return d


def _blocks(slices: dict[str, slice], config: MatcherConfig) -> list[tuple[int, slice]]:
    """(channel index, columns) of the channels with a weight > 0 that the sequences hold
    (then the delta channels with a delta weight > 0, index ``len(MATCH_CHANNELS) + k``)."""
    out = [(k, slices[name]) for k, name in enumerate(MATCH_CHANNELS) if name in slices and config.weights[k] > 0]
    dw = config.delta_weights
    return out + [(len(MATCH_CHANNELS) + k, slices[name]) for k, name in enumerate(MATCH_CHANNELS)
                  if dw and name in slices and dw[k] > 0]


def channel_distances(
    query: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    sequence_config: SequenceConfig = MATCH_SEQUENCE,
    config: MatcherConfig | None = None,
    slices: dict[str, slice] | None = None,
) -> np.ndarray:
    """DTW distance of the query to every reference, channel by channel.

    Parameters
    ----------
    query : np.ndarray [shape=(n, d)]
    references : sequence of np.ndarray [shape=(m_k, d)]
        Sequences built with the same ``sequence_config``.
    sequence_config : SequenceConfig
        How the sequences were built (which channels they hold).
    config : MatcherConfig, optional
    slices : dict of str to slice, optional
        The channels' columns, when not those of ``sequence_config`` (e.g. :func:`sketch_slices`).

    Returns
    -------
    np.ndarray [shape=(len(channel_names(config)), len(references)), dtype=float64]
        NaN rows for channels the sequences lack or whose weight is 0.

    Raises
    ------
    InputError
        Sequences of different widths, or a width that does not fit ``sequence_config``.
    """
    cfg = config or MatcherConfig()
    q = np.asarray(query, dtype=np.float64)
    if q.ndim != 2 or len(q) < 1 or not np.isfinite(q).all():
        raise InputError(f"query has shape {q.shape} (or holds NaN); pass a finite (n_frames, d) utterance_sequence")
    refs = [np.asarray(r, dtype=np.float64) for r in references]
    for r in refs:
        if r.ndim != 2 or r.shape[1] != q.shape[1] or len(r) < 1:
            raise InputError(
                f"sequences have {q.shape[1]} and {r.shape[1] if r.ndim == 2 else r.shape} columns; "
                "build every take with the same sequence config"
            )
    out = np.full((len(channel_names(cfg)), len(refs)), np.nan)
    if not refs:
        return out
    blocks = _blocks(slices or channel_slices(sequence_config, width=q.shape[1]), cfg)
    costs = []
    deltas = None
    for k, cols in blocks:
        if k < len(MATCH_CHANNELS):
            costs.append(_frame_costs_many(q[:, cols], [r[:, cols] for r in refs]))
            continue
        if deltas is None:  # the query and the references, one block of rows
            deltas = _DeltaFrames([q, *refs])
        d = deltas.block(cols)
        costs.append(_stacked_frame_costs(d[: len(q)], d[len(q) :], [len(r) for r in refs]))
    flat = [c for per_channel in costs for c in per_channel]
    lengths = [r[:, :1] for r in refs] * len(blocks)
    d = dtw_many(q[:, :1], lengths, band=cfg.band, open_end=cfg.open_end, costs=flat)
    for b, (k, _) in enumerate(blocks):
        out[k] = d[b * len(refs) : (b + 1) * len(refs)]
    return out


def yardstick(distances: np.ndarray) -> np.ndarray:
    """Per-channel scale: the median over references of :func:`channel_distances` rows.

    Returns
    -------
    np.ndarray [shape=(len(MATCH_CHANNELS),)]
        NaN for channels not used.
    """
    d = np.asarray(distances, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.where(np.isnan(d).all(axis=1), np.nan, np.maximum(np.nanmedian(np.where(np.isnan(d), 0, d), axis=1), 1e-9))


def _row_means(distances: np.ndarray) -> np.ndarray:
    """Mean of every row over its non-NaN entries (NaN for a row without any)."""
    d = np.asarray(distances, dtype=np.float64)
    n = (~np.isnan(d)).sum(axis=1)
    return np.where(n > 0, np.nansum(d, axis=1) / np.maximum(n, 1), np.nan)


def fused_distances(
    distances: np.ndarray, scale: np.ndarray, config: MatcherConfig | None = None, *, mean: bool = True
) -> np.ndarray:
    """Weighted mean over channels of the distances divided by their yardstick.

    Parameters
    ----------
    distances : np.ndarray [shape=(len(channel_names(config)), n_refs)]
        :func:`channel_distances`.
    scale : np.ndarray [shape=(n_rows,) or (n_rows, n_refs)]
        :func:`yardstick` of the query (of these or of other references), or one per
        reference.
    config : MatcherConfig, optional
    mean : bool
        Divide by the sum of the weights (default); False gives the weighted sum (the lip
        commands' distances, whose rejection rules were tuned on that scale).

    Returns
    -------
    np.ndarray [shape=(n_refs,)]
        With ``mean``: 1 = as far as the yardstick's typical reference, 0 = identical.
    """
    cfg = config or MatcherConfig()
    w = np.asarray(cfg.fusion_weights, dtype=np.float64)
    sc = np.asarray(scale, dtype=np.float64)
    sc = sc[:, None] if sc.ndim == 1 else sc
    used = ~np.isnan(np.asarray(distances)).all(axis=1) & np.isfinite(sc).all(axis=1) & (w > 0)
    if not used.any():
        raise InputError("no channel to fuse: the sequences hold none of the channels with a weight > 0")
    d = np.asarray(distances)[used] / sc[used]
    total = (w[used][:, None] * d).sum(axis=0)
    return total / w[used].sum() if mean else total


#: enrolment: a take farther than this from its nearest other take (fused distance, its own
#: cohort yardstick) does not match the others. Measured on MIRACL F01 phrases 01-03 (same
#: phrase, other phrase) and GRID s1 / av_speakers (other people): docs/password.md
MAX_INCONSISTENCY = 0.88


def take_consistency(
    sequences: Sequence[np.ndarray],
    *,
    cohort: Cohort,
    sequence_config: SequenceConfig = MATCH_SEQUENCE,
    config: MatcherConfig | None = None,
    sketched: bool = False,
) -> np.ndarray:
    """How far each enrolment take is from the other takes, in units of unrelated takes.

    For take ``i``: the fused distance (:func:`fused_distances`) to the nearest other take,
    with take ``i``'s own yardstick (its distances to the background ``cohort`` of other
    phrases and people, :meth:`Cohort.yardstick`). The same number as ``1 - score`` of take
    ``i`` verified as a lip password against a template of the other takes: a take of the
    same phrase by the same person measures well below 1, one of another phrase or person
    near 1.

    Parameters
    ----------
    sequences : sequence of np.ndarray [shape=(n_frames, d)]
        At least 2 takes (:func:`sketch` es when ``sketched``).
    cohort : Cohort
    sketched : bool
        The sequences are sketches (the lip password's templates) rather than full sequences.

    Returns
    -------
    np.ndarray [shape=(len(sequences),)]
    """
    if len(sequences) < 2:
        raise InputError("take_consistency needs at least 2 takes")
    out = np.empty(len(sequences))
    for i, s in enumerate(sequences):
        others = [t for k, t in enumerate(sequences) if k != i]
        d, scale = cohort.distances(s, others, sequence_config=sequence_config, config=config, sketched=sketched)
        out[i] = float(fused_distances(d, scale, config).min())
    return out


def check_consistency(
    sequences: Sequence[np.ndarray],
    names: Sequence[str],
    *,
    cohort: Cohort,
    max_inconsistency: float = MAX_INCONSISTENCY,
    sequence_config: SequenceConfig = MATCH_SEQUENCE,
    config: MatcherConfig | None = None,
    sketched: bool = False,
    what: str = "takes",
) -> np.ndarray:
    """Refuse enrolment takes that do not match the others (one rule for password and commands).

    Returns
    -------
    np.ndarray
        :func:`take_consistency` of every take.

    Raises
    ------
    InconsistentTakesError
        Naming every take farther than ``max_inconsistency`` from its nearest other take.
    """
    from lipauth.errors import InconsistentTakesError

    near = take_consistency(sequences, cohort=cohort, sequence_config=sequence_config, config=config, sketched=sketched)
    bad = [i for i in range(len(near)) if near[i] > max_inconsistency]
    if bad:
        listed = ", ".join(f"{names[i]} ({near[i]:.2f})" for i in bad)
        rest = ", ".join(f"{near[i]:.2f}" for i in range(len(near)) if i not in bad) or "none"
        raise InconsistentTakesError(
            f"{what} disagree: {listed} {'does' if len(bad) == 1 else 'do'} not match the other takes (distance to the "
            f"nearest other take above {max_inconsistency}; the others: {rest}); record "
            f"{'it' if len(bad) == 1 else 'them'} again with the same lip movement, or add more takes"
        )
    return near


def scrambled(sequence: np.ndarray) -> list[np.ndarray]:
    """Copies of a take with its movement in another order: reversed, halves swapped, and both.

    The same face, mouth and range of motion as the take, not the same movement: a
    yardstick for "another phrase of this person" (:meth:`Cohort.distances`). DTW is
    monotonic and its open ends skip at most ``open_end`` of either sequence, so none of them
    can align with the take itself.
    """
    x = np.asarray(sequence)
    h = len(x) // 2
    swapped = np.concatenate([x[h:], x[:h]])
    return [x[::-1], swapped, swapped[::-1]]


#: yardsticks of recent queries (an attempt checked against several templates, or an
#: enrolment take, pays for its cohort distances once)
_YARDSTICKS: OrderedDict[tuple, np.ndarray] = OrderedDict()
#: how many query yardsticks are kept
YARDSTICK_CACHE = 512
_YARDSTICK_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Cohort:
    """Background takes (other phrases, other people) that give a query its yardstick.

    Kept as small sketches (:data:`COHORT_DIMS` columns per wide channel: a sketch of the
    take's :func:`sketch`); a query is sketched the same way. The yardstick is a median over
    many takes, so the coarser sketch barely moves it, and the cohort ships small.

    Attributes
    ----------
    sketches : tuple of np.ndarray [shape=(n_frames_k, d_cohort), dtype=float32]
    groups : tuple of int
        Where each take comes from (e.g. a training phrase; -1 = GRID sentences), so that an
        evaluation can leave a phrase's own takes out (:meth:`without_groups`).
    info : dict
    """

    sketches: tuple[np.ndarray, ...]
    groups: tuple[int, ...] = ()
    info: dict = field(default_factory=dict)
    #: a cohort made by :meth:`without_groups`: the full cohort and the indices of its takes kept
    #: (its queries' distances are computed once on the full cohort and shared)
    parent: Cohort | None = None
    keep: tuple[int, ...] = ()

    @functools.cached_property
    def cohort_id(self) -> str:
        h = hashlib.sha256()
        for c in self.sketches:
            h.update(np.ascontiguousarray(c, dtype=np.float16).tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def from_takes(cls, sketches: Sequence[np.ndarray], groups: Sequence[int], *, info: dict | None = None,
                   sequence_config: SequenceConfig = MATCH_SEQUENCE) -> Cohort:
        """A cohort from takes' :func:`sketch` es (as the lip password keeps them)."""
        sk = tuple(_cohort_sketch(np.asarray(s, dtype=np.float32), sequence_config).astype(np.float16).astype(np.float32)
                   for s in sketches)
        return cls(sketches=sk, groups=tuple(int(g) for g in groups), info=dict(info or {}))

    def without_groups(self, groups: Sequence[int]) -> Cohort:
        keep = [k for k, g in enumerate(self.groups) if g not in set(groups)]
        root = self.parent or self
        in_root = tuple(self.keep[k] for k in keep) if self.parent is not None else tuple(keep)
        return Cohort(tuple(self.sketches[k] for k in keep), tuple(self.groups[k] for k in keep), self.info,
                      parent=root, keep=in_root)

    def yardstick(
        self, sequence: np.ndarray, config: MatcherConfig | None = None, *, sequence_config: SequenceConfig = MATCH_SEQUENCE,
        sketched: bool = False,
    ) -> np.ndarray:
        """The query's per-channel yardstick: median DTW distance of its cohort sketch to the cohort's.

        Parameters
        ----------
        sequence : np.ndarray [shape=(n_frames, d)]
            A full sequence, or its :func:`sketch` with ``sketched``.
        """
        return yardstick(self.kept_distances(sequence, config, sequence_config=sequence_config, sketched=sketched))

    def kept_distances(
        self, sequence: np.ndarray, config: MatcherConfig | None = None, *, sequence_config: SequenceConfig = MATCH_SEQUENCE,
        sketched: bool = False,
    ) -> np.ndarray:
        """:meth:`take_distances` to this cohort's takes (a :meth:`without_groups` cohort shares its
        parent's, computed once).

        Returns
        -------
        np.ndarray [shape=(len(channel_names(config)), len(self.sketches))]
        """
        if len(self.sketches) < 3:
            raise InputError(f"the cohort has {len(self.sketches)} takes; it needs at least 3")
        if self.parent is not None:
            d = self.parent.take_distances(sequence, config, sequence_config=sequence_config, sketched=sketched)
            return d[:, list(self.keep)]
        return self.take_distances(sequence, config, sequence_config=sequence_config, sketched=sketched)

    def take_distances(
        self, sequence: np.ndarray, config: MatcherConfig | None = None, *, sequence_config: SequenceConfig = MATCH_SEQUENCE,
        sketched: bool = False,
    ) -> np.ndarray:
        """:func:`channel_distances` of the query's cohort sketch to every cohort take (kept for recent queries).

        Returns
        -------
        np.ndarray [shape=(len(MATCH_CHANNELS), len(self.sketches))]
        """
        q = np.asarray(sequence, dtype=np.float32)
        key = (self.cohort_id, hashlib.blake2b(np.ascontiguousarray(q).tobytes(), digest_size=16).digest(), q.shape,
               config, sequence_config, sketched)
        with _YARDSTICK_LOCK:
            if key in _YARDSTICKS:
                _YARDSTICKS.move_to_end(key)
                return _YARDSTICKS[key]
        out = self._take_distances(q, config, sequence_config, sketched)
        with _YARDSTICK_LOCK:
            _YARDSTICKS[key] = out
            while len(_YARDSTICKS) > YARDSTICK_CACHE:
                _YARDSTICKS.popitem(last=False)
        return out

    def _take_distances(
        self, q: np.ndarray, config: MatcherConfig | None, sequence_config: SequenceConfig, sketched: bool
    ) -> np.ndarray:
        if not sketched:
            q = sketch(q, sequence_config=sequence_config)
        sk = _cohort_sketch(q, sequence_config)
        if sk.shape[1] != self.sketches[0].shape[1]:
            raise InputError(
                f"a sketch of this sequence has {sk.shape[1]} columns, the cohort's {self.sketches[0].shape[1]}: "
                "the cohort serves sequences built with the default sequence config (prepare_take)"
            )
        slices = _cohort_slices(sequence_config)
        cfg = config or MatcherConfig()
        if not cfg.delta_weights:
            return channel_distances(sk, self.sketches, config=cfg, slices=slices)
        # the delta channels take their yardstick from the scrambled copies alone (NaN rows here:
        # ``Cohort.distances`` takes the smaller of the two with np.fmin): the cohort's on them
        # changed no EER on MIRACL F01 and doubled the cohort's matching time
        base = channel_distances(sk, self.sketches, config=dataclasses.replace(cfg, delta_weights=()), slices=slices)
        return np.concatenate([base, np.full_like(base, np.nan)])

    def distances(
        self,
        query: np.ndarray,
        references: Sequence[np.ndarray],
        *,
        sequence_config: SequenceConfig = MATCH_SEQUENCE,
        config: MatcherConfig | None = None,
        sketched: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`channel_distances` of ``query`` to ``references`` and the query's yardstick.

        The yardstick, per channel, is the smaller of two medians: the query's distances to
        the cohort (other phrases, other people) and to :func:`scrambled` copies of the
        references (the same face and mouth, the movement in another order). The cohort alone
        let a new person's other phrases through: GRID s1 sentences against a template of
        another s1 sentence scored 0.41 (median) with a cohort of MIRACL F01 only, 0.12 with
        the scrambled copies; on MIRACL F01 phrases 04-06 the two gave the same EER.

        With ``config.yardstick == "nearest_mean"`` (the lip password's), the smaller of the two
        means instead of the medians (docs/notes/password.md). The cohort is never averaged with
        the scrambled copies: a new person is far from the cohort, and such a yardstick let 97/380
        of a new person's other GRID sentences through (52/380 with the smaller median).

        ``sketched``: query and references are :func:`sketch` es (the lip password's takes).
        """
        d, scr = reference_distances(query, references, sequence_config=sequence_config, config=config, sketched=sketched,
                                     raw=True)
        coh = self.kept_distances(np.asarray(query, dtype=np.float32), config, sequence_config=sequence_config, sketched=sketched)
        kind = (config or MatcherConfig()).yardstick
        if kind == "nearest":
            return d, np.fmin(yardstick(scr), yardstick(coh))
        m = np.fmin(_row_means(scr), _row_means(coh))
        return d, np.where(np.isnan(m), np.nan, np.maximum(m, 1e-9))

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (float16 frames)."""
        import json

        np.savez_compressed(
            path,
            frames=np.concatenate(self.sketches).astype(np.float16),
            lengths=np.array([len(c) for c in self.sketches], dtype=np.int32),
            groups=np.array(self.groups, dtype=np.int32),
            info=np.frombuffer(json.dumps(self.info).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: str | Path) -> Cohort:
        import json

        with np.load(path, allow_pickle=False) as z:
            bounds = np.cumsum(z["lengths"])[:-1]
            sk = tuple(np.ascontiguousarray(c, dtype=np.float32) for c in np.split(z["frames"], bounds))
            return cls(sk, tuple(int(g) for g in z["groups"]), json.loads(bytes(z["info"]).decode()))


def reference_distances(
    query: np.ndarray,
    references: Sequence[np.ndarray],
    *,
    sequence_config: SequenceConfig = MATCH_SEQUENCE,
    config: MatcherConfig | None = None,
    sketched: bool = False,
    raw: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`channel_distances` of ``query`` to ``references`` and the yardstick of their
    :func:`scrambled` copies (the cohort-free half of :meth:`Cohort.distances`); with ``raw``,
    the distances to the scrambled copies themselves (``(n_rows, 3 x len(references))``)."""
    q = np.asarray(query, dtype=np.float32)
    slices = sketch_slices(full_width(sequence_config), sequence_config=sequence_config) if sketched else None
    if slices is not None and (q.ndim != 2 or q.shape[1] != list(slices.values())[-1].stop):
        raise InputError(f"sequence has shape {q.shape}, not a sketch of the default sequence config; prepare it with prepare_take()")
    scrambles = [x for r in references for x in scrambled(r)]
    d = channel_distances(q, [*references, *scrambles], sequence_config=sequence_config, config=config, slices=slices)
    return d[:, : len(references)], d[:, len(references) :] if raw else yardstick(d[:, len(references) :])


def take_frames(features: LipFeatures, *, speech_s: tuple[float, float] | None = None) -> np.ndarray:
    """The valid frames of the phrase inside a take (:func:`~lipauth.features.segment.phrase_span`).

    Rest before and after the phrase is left out, so a take recorded with 1 s of still face
    on either side gives the same sequence as the phrase cut tightly. Every valid frame when
    fewer than 3 remain.

    Parameters
    ----------
    features : LipFeatures
    speech_s : (float, float), optional
        Where the take's audio has voice (seconds from the first frame).

    Returns
    -------
    np.ndarray [shape=(n_selected,), dtype=int64]
    """
    from lipauth.features.segment import phrase_span
    from lipauth.features.sequence import utterance_frames

    t = features.timestamps_s
    first, last = phrase_span(features.motion_energy, features.valid, t, speech_s=speech_s)
    idx = utterance_frames(features, float(t[first]) - 1e-6, float(t[last]) + 1e-6)
    return idx if idx.size >= 3 else utterance_frames(features)


def speech_span(audio: Any, timestamps_s: np.ndarray, *, min_voiced_s: float = 0.2) -> tuple[float, float] | None:
    """Where a take's audio has voice, on the video's time axis: ``(first, last)`` voiced frame
    time (``features.audio.voice_activity``, WebRTC), or ``None`` with less than
    ``min_voiced_s`` of voice (a silent lip password, a muted microphone)."""
    from lipauth.features.audio import voice_activity

    t = np.asarray(timestamps_s, dtype=np.float64)
    if audio is None or t.size < 2:
        return None
    voiced = np.asarray(voice_activity(audio, timestamps_s=t), dtype=bool)
    if voiced.sum() * float(np.median(np.diff(t))) < min_voiced_s:
        return None
    idx = np.flatnonzero(voiced)
    return float(t[idx[0]]), float(t[idx[-1]])


#: dimensions each wide channel keeps in a sketch (:func:`sketch`)
SKETCH_DIMS = 512


@functools.lru_cache(maxsize=16)
def _hashing(width: int, dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed count sketch of ``width`` columns into ``dims``: (column order, signs, bucket starts).

    Every output column sums ``width / dims`` input columns (a random balanced split) with
    random signs, so squared distances between frames are kept in expectation, as with a
    Gaussian projection, at the cost of one gather instead of reading a ``width x dims``
    matrix (the deep channels' 8192 x 512 matrix made the sketch 25 ms a take).
    """
    rng = np.random.default_rng(20261207 + width)
    bucket = rng.permutation(np.arange(width) % dims)
    order = np.argsort(bucket, kind="stable")
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=width)[order]
    starts = np.searchsorted(bucket[order], np.arange(dims))
    return order, signs, starts


def sketch(
    sequence: np.ndarray, *, sequence_config: SequenceConfig = MATCH_SEQUENCE, dims: int = SKETCH_DIMS,
    slices: dict[str, slice] | None = None,
) -> np.ndarray:
    """A compact copy of a sequence: each channel wider than ``dims`` columns reduced to
    ``dims`` columns by a fixed count sketch (signed sums of random column groups).

    Squared distances between frames are kept in expectation, so DTW distances between
    sketches approximate those between the sequences; the templates and the background
    cohort ship at 1/6-1/10 of the size and are matched 6-10x faster.

    ``slices``: the channels' columns when ``sequence`` is not laid out as ``sequence_config``
    says (e.g. a sketch sketched again, :func:`sketch_slices`).

    Returns
    -------
    np.ndarray [shape=(n_frames, d_sketch), dtype=float32]
    """
    x = np.asarray(sequence, dtype=np.float32)
    parts = []
    for cols in (slices or channel_slices(sequence_config, width=x.shape[1])).values():
        block = x[:, cols]
        if block.shape[1] > dims:
            order, signs, starts = _hashing(block.shape[1], dims)
            block = np.add.reduceat(block[:, order] * signs, starts, axis=1)
        parts.append(block)
    return np.concatenate(parts, axis=1)


def sketch_slices(width: int, *, sequence_config: SequenceConfig = MATCH_SEQUENCE, dims: int = SKETCH_DIMS) -> dict[str, slice]:
    """Column blocks by channel of the :func:`sketch` of a ``width``-column sequence."""
    out: dict[str, slice] = {}
    start = 0
    for name, cols in channel_slices(sequence_config, width=width).items():
        k = min(cols.stop - cols.start, dims)
        out[name] = slice(start, start + k)
        start += k
    return out


#: columns each wide channel keeps in a cohort take (:class:`Cohort`)
COHORT_DIMS = 128


def _cohort_slices(sequence_config: SequenceConfig) -> dict[str, slice]:
    width = full_width(sequence_config)
    out, start = {}, 0
    for name, cols in sketch_slices(width, sequence_config=sequence_config).items():
        k = min(cols.stop - cols.start, COHORT_DIMS)
        out[name] = slice(start, start + k)
        start += k
    return out


def _cohort_sketch(sketched: np.ndarray, sequence_config: SequenceConfig) -> np.ndarray:
    """The cohort's coarser sketch of a take's :func:`sketch`."""
    slices = sketch_slices(full_width(sequence_config), sequence_config=sequence_config)
    return sketch(sketched, dims=COHORT_DIMS, slices=slices)


#: the background cohort shipped in the package (``benchmarks/train_password_cohort.py``)
COHORT_FILE = "password_cohort.npz"


@functools.lru_cache(maxsize=1)
def load_cohort() -> Cohort:
    """The background cohort shipped in the package (``lipauth/checks/models/password_cohort.npz``).

    Sketches of MIRACL-VC1 F01 phrases 01-03 (grouped by phrase: an evaluation leaves the
    scored phrases out, :meth:`Cohort.without_groups`) and GRID s1 clips 40-49, built by
    ``benchmarks/train_password_cohort.py``.
    """
    from lipauth.errors import BackendUnavailableError

    path = Path(__file__).resolve().parents[1] / "checks" / "models" / COHORT_FILE
    if not path.exists():
        raise BackendUnavailableError(f"{path} is missing (broken install); reinstall lipauth")
    return Cohort.load(path)


def full_width(sequence_config: SequenceConfig = MATCH_SEQUENCE, crop_size: tuple[int, int] = (64, 32)) -> int:
    """Columns of an ``utterance_sequence`` built with ``sequence_config`` from crops of ``crop_size``."""
    from lipauth.features.lip import SHAPE_FEATURES
    from lipauth.features.sequence import JAW_COLUMNS

    w, h = crop_size
    c = sequence_config
    n = max(h // c.hog_cell_px - 1, 0) * max(w // c.hog_cell_px - 1, 0) * 36 if c.hog_weight > 0 else 0
    n += max(w // c.pixel_downsample, 1) * max(h // c.pixel_downsample, 1) if c.pixel_weight > 0 else 0
    n += 80 if c.landmark_weight > 0 else 0
    n += 2 * len(SHAPE_FEATURES) if c.shape_weight > 0 else 0
    n += JAW_COLUMNS if c.jaw_weight > 0 else 0
    if c.deep_weight > 0:
        from lipauth.features.deep import DEEP_CHANNELS, DEEP_WIDTHS

        n += sum(DEEP_WIDTHS[name] for name in DEEP_CHANNELS)
    return n
