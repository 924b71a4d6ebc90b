"""A learned linear metric of sequence frames (PCA then a shrinkage LDA along DTW paths).

Fitted from takes grouped by movement (:func:`train_metric`); the lip commands can fit one
per vocabulary and fuse distances in its space with the matcher's (``CommandsConfig.
metric_weight``, opt-in). The lip password no longer uses one: on phrases never tuned on it
did not transfer (issue 17), the six-channel matcher (:mod:`lipauth.features.matcher`) does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.config import check_range
from lipauth.errors import InputError
from lipauth.features.sequence import dtw_path, normalise_channel

__all__ = ["SequenceMetric", "train_metric"]


@dataclass(frozen=True, eq=False)
class SequenceMetric:
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

    def without_groups(self, groups: Sequence[int]) -> SequenceMetric:
        """The same metric with the cohort takes of ``groups`` left out (leave-phrase-out evaluation)."""
        keep = [k for k, g in enumerate(self.cohort_groups) if g not in set(groups)]
        return SequenceMetric(
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
                "build it with the SequenceConfig the metric was trained on"
            )
        return normalise_channel((x - self.mean) @ self.projection).astype(np.float32)

    def with_cohort(self, sequences: Sequence[np.ndarray], group: int) -> SequenceMetric:
        """The same metric with more cohort takes (raw per-take normalised sequences, projected here).

        Parameters
        ----------
        sequences : sequence of np.ndarray [shape=(n_frames, d)]
        group : int
            Their group label (e.g. -1 for a corpus of other sentences).
        """
        extra = tuple(self.apply(s).astype(np.float16).astype(np.float32) for s in sequences)
        return SequenceMetric(
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
    def load(cls, path: str | Path) -> SequenceMetric:
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


def train_metric(
    groups: Sequence[Sequence[np.ndarray]],
    *,
    n_pca: int = 60,
    shrinkage: float = 0.3,
    n_dims: int = 40,
    info: dict | None = None,
    group_ids: Sequence[int] | None = None,
) -> SequenceMetric:
    """Learn a :class:`SequenceMetric` from takes grouped by movement (phrase).

    Parameters
    ----------
    groups : sequence of sequences of np.ndarray [shape=(n_frames, d)]
        Per-take normalised sequences (``utterance_sequence``), one group per phrase,
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
    SequenceMetric
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
    metric = SequenceMetric(mean=mean.astype(np.float32), projection=(pca @ v).astype(np.float32), info=meta)
    cohort = tuple(metric.apply(t).astype(np.float16).astype(np.float32) for g in groups for t in g)
    cohort_groups = tuple(gid for gid, g in zip(ids, groups) for _ in g)
    return SequenceMetric(mean=metric.mean, projection=metric.projection, info=meta, cohort=cohort, cohort_groups=cohort_groups)
