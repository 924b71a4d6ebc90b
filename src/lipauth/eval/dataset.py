"""Evaluation dataset files: one CSV row per clip.

Columns (header required, any order, extra columns ignored)::

    path,label,user,phrase,challenge[,split]

``path`` is relative to the CSV's folder, or to ``root`` when given (absolute paths are
kept). ``label`` is ``bona_fide`` or an attack type (:data:`ATTACK_TYPES`). ``user`` and
``phrase`` name who says what (the lip password uses rows that have both); ``challenge``
is free text kept in the report. The optional ``split`` column pins a clip to the
``tune`` or ``test`` split (empty: the seeded random split of :func:`split_rows`); use it
to keep every clip a shipped model was trained on out of the test split. Missing clips are
listed in :attr:`Dataset.missing` (:func:`require_present` refuses them, naming each); a
malformed file is refused with an :class:`~lipauth.errors.InputError`
that names the row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipauth.errors import InputError, MediaNotFoundError

__all__ = ["ATTACK_TYPES", "BONA_FIDE", "COLUMNS", "OPTIONAL_COLUMNS", "SPLITS", "ClipRow", "Dataset", "load_dataset",
           "require_present", "split_rows"]

BONA_FIDE = "bona_fide"
#: attack types a dataset row may carry (``shift``/``swap``/``still``/``replay`` are also generated)
ATTACK_TYPES = ("shift", "swap", "still", "replay", "photo", "silence", "screen", "mask", "deepfake", "other")
COLUMNS = ("path", "label", "user", "phrase", "challenge")
#: columns a dataset may have; ``split`` empty = the seeded random split
OPTIONAL_COLUMNS = ("split",)
#: values of the ``split`` column (besides empty)
SPLITS = ("tune", "test")


@dataclass(frozen=True)
class ClipRow:
    """One clip of the dataset.

    Attributes
    ----------
    line : int
        Line number in the CSV (the header is line 1).
    path : str
        As written in the CSV.
    abs_path : Path
        Resolved against the root.
    label : str
        ``bona_fide`` or an attack type.
    user, phrase, challenge : str
        Empty when not given.
    split : str
        ``"tune"`` or ``"test"`` when the CSV pins the clip, else empty (random split).
    """

    line: int
    path: str
    abs_path: Path
    label: str
    user: str
    phrase: str
    challenge: str
    split: str = ""

    @property
    def key(self) -> str:
        """Stable identifier of the clip (its path as written)."""
        return self.path

    @property
    def bona_fide(self) -> bool:
        return self.label == BONA_FIDE


@dataclass(frozen=True)
class Dataset:
    """A parsed dataset file: rows whose clip exists, and the missing ones."""

    source: Path
    root: Path
    rows: tuple[ClipRow, ...]
    missing: tuple[ClipRow, ...]


def load_dataset(path: str | Path, *, root: str | Path | None = None) -> Dataset:
    """Read and validate a dataset CSV.

    Raises
    ------
    MediaNotFoundError
        The CSV itself does not exist.
    InputError
        Missing columns, an empty ``path``, an unknown label or split, or a clip listed
        twice (the message names the rows).
    """
    src = Path(path)
    if not src.is_file():
        raise MediaNotFoundError(f"{src}: dataset file not found; pass a CSV with columns {','.join(COLUMNS)}")
    base = Path(root) if root is not None else src.parent
    if root is not None and not base.is_dir():
        raise MediaNotFoundError(f"{base}: --root is not a folder; pass the folder the CSV paths are relative to")
    try:  # a picture or binary file named as a CSV: one clear line, not a UnicodeDecodeError
        with open(src, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing_cols = [c for c in COLUMNS if c not in header]
            if missing_cols:
                raise InputError(
                    f"{src}: missing column(s) {', '.join(missing_cols)} (header is {','.join(header) or 'empty'}); "
                    f"the header must hold {','.join(COLUMNS)}"
                )
            reader.fieldnames = header
            rows: list[ClipRow] = []
            seen: dict[str, int] = {}
            for rec in reader:
                line = reader.line_num
                vals = {c: (rec.get(c) or "").strip() for c in COLUMNS + OPTIONAL_COLUMNS}
                if not any(vals.values()):
                    continue
                if not vals["path"]:
                    raise InputError(f"{src}: row at line {line} has an empty path; give every row a clip path")
                label = vals["label"].lower()
                if label != BONA_FIDE and label not in ATTACK_TYPES:
                    raise InputError(
                        f"{src}: row at line {line} ({vals['path']}) has unknown label {vals['label']!r}; "
                        f"use {BONA_FIDE} or one of {', '.join(ATTACK_TYPES)}"
                    )
                split = vals["split"].lower()
                if split and split not in SPLITS:
                    raise InputError(
                        f"{src}: row at line {line} ({vals['path']}) has unknown split {vals['split']!r}; "
                        f"use {' or '.join(SPLITS)}, or leave it empty for the seeded random split"
                    )
                if vals["path"] in seen:
                    raise InputError(
                        f"{src}: row at line {line} duplicates line {seen[vals['path']]} ({vals['path']}); list each clip once"
                    )
                seen[vals["path"]] = line
                p = Path(vals["path"])
                rows.append(ClipRow(line=line, path=vals["path"], abs_path=p if p.is_absolute() else base / p, label=label,
                                    user=vals["user"], phrase=vals["phrase"], challenge=vals["challenge"], split=split))
    except UnicodeDecodeError as exc:
        raise InputError(f"{src}: is not a UTF-8 text CSV (byte {exc.start} cannot be decoded); "
                         f"pass a CSV with columns {','.join(COLUMNS)}") from None
    except csv.Error as exc:
        raise InputError(f"{src}: is not a readable CSV ({exc}); pass a CSV with columns {','.join(COLUMNS)}") from None
    if not rows:
        raise InputError(f"{src}: no rows; list at least one clip under the header {','.join(COLUMNS)}")
    present = tuple(r for r in rows if r.abs_path.is_file())
    missing = tuple(r for r in rows if not r.abs_path.is_file())
    return Dataset(source=src, root=base, rows=present, missing=missing)


def require_present(ds: Dataset, *, shown: int = 5) -> None:
    """Refuse a dataset whose CSV lists clips that do not exist (before any work is done).

    Raises
    ------
    MediaNotFoundError
        Naming the count and the first ``shown`` missing clips with their CSV lines.
    """
    if not ds.missing:
        return
    n, total = len(ds.missing), len(ds.missing) + len(ds.rows)
    names = ", ".join(f"{r.path} (line {r.line})" for r in ds.missing[:shown])
    more = f" and {n - shown} more" if n > shown else ""
    raise MediaNotFoundError(
        f"{ds.source}: {n} of {total} clips not found under {ds.root}: {names}{more}; "
        f"fix the paths or --root, or pass --allow-missing to evaluate the {len(ds.rows)} present ones"
    )


def split_rows(rows: tuple[ClipRow, ...] | list[ClipRow], *, tune_fraction: float = 0.5, seed: int = 0) -> dict[str, str]:
    """Seeded split of clips (takes) into ``"tune"`` and ``"test"``.

    A row whose ``split`` is set (the CSV's ``split`` column) keeps it. The other rows are
    split among themselves, stratified by (label, user, phrase), so every phrase has
    enrolment takes in the tuning split and test takes; a group of one clip goes to
    ``test``. Generated attacks follow the split of the bona fide clip they are made from.

    Returns
    -------
    dict
        clip key -> ``"tune"`` or ``"test"``.
    """
    if not 0.0 < tune_fraction < 1.0:
        raise InputError(f"tune_fraction={tune_fraction!r}; pass a fraction strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str, str], list[str]] = {}
    split: dict[str, str] = {r.key: r.split for r in rows if r.split}
    for r in sorted(rows, key=lambda r: r.key):
        if r.split:
            continue
        groups.setdefault((r.label, r.user, r.phrase), []).append(r.key)
    for gkey in sorted(groups):
        keys = groups[gkey]
        order = rng.permutation(len(keys))
        n_tune = round(tune_fraction * len(keys)) if len(keys) > 1 else 0
        n_tune = min(n_tune, len(keys) - 1)
        for rank, idx in enumerate(order):
            split[keys[idx]] = "tune" if rank < n_tune else "test"
    return split
