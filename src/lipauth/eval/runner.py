"""``lipauth eval``: run the checks over a dataset, generate attacks, score, calibrate, report.

Flow (:func:`run_evaluation`):

1. :func:`~lipauth.eval.dataset.load_dataset` and the tune/test split by clip (the
   dataset's ``split`` column where set, else seeded and stratified).
2. Per clip, on the batch engine (:func:`~lipauth.batch.run_batch`, resumable): track once
   (one MediaPipe per worker), extract features; the **sync** check on the clip's own audio
   and on each generated attack of a bona fide clip (``shift``: audio rolled by
   ``shift_ms``; ``swap``: another bona fide clip's audio; ``still``: frame 0 held for the
   whole clip and re-tracked, a photo; ``replay``: the first 0.5 s of lip track looped, a
   replayed recording, with the live audio); for rows with ``user`` and ``phrase`` the
   **password** take (utterance sequence).
3. Scoring in the parent: lip-password templates enrolled from each (user, phrase)'s takes
   in the tuning split; genuine attempts = same phrase, impostors = other phrases/users;
   on the test split only groups with test takes are targets.
4. Thresholds chosen on the tuning split (EER point), metrics reported on the test split
   (:mod:`lipauth.eval.report`).

How failures count: a clip the check cannot score (not decodable, a still image, no face,
silent audio, the check's own gate such as ``STILL_FACE_WITH_VOICE``) is a *rejection*: its
score is set below every observed score of that check (``min - 1``). For an attack that is
a detected attack (a photo that cannot even be decoded as video is detected); for a bona
fide clip it is a bona fide rejection. Clips without an audio stream are not scored by sync.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import ConfigError, LipAuthError
from lipauth.eval.config import CHECKS, GENERATORS, EvalConfig, EvalResult
from lipauth.eval.dataset import ClipRow, Dataset, load_dataset, require_present, split_rows

__all__ = ["CHECKS", "GENERATORS", "EvalConfig", "EvalResult", "evaluate_clip", "run_evaluation"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# per-clip work (runs in the batch workers)


def _err(exc: LipAuthError) -> dict[str, Any]:
    return {"score": None, "accepted": False, "reasons": [], "error": exc.code, "message": str(exc)}


def _sync_record(features: Any, audio: Any) -> dict[str, Any]:
    from lipauth.checks.sync import check_sync

    try:
        res = check_sync(features, audio)
    except LipAuthError as exc:
        return _err(exc)
    score = float(res.score) if np.isfinite(res.score) else None
    return {"score": None if score is None else round(score, 6), "accepted": bool(res.accepted),
            "reasons": list(res.reasons), "error": None, "threshold": float(res.threshold)}


def evaluate_clip(payload: dict[str, Any]) -> dict[str, Any]:
    """Every check on one clip and its generated attacks (a batch item; see module doc).

    Parameters
    ----------
    payload : dict
        ``path``, ``label``, ``checks``, ``generate``, ``password`` (bool), ``donors``
        (paths of other bona fide clips for ``swap``), ``shift_ms``, ``replay_period_s``.

    Returns
    -------
    dict
        ``n_frames``, ``has_audio``, ``sync`` (variant -> record), ``password_take``.
    """

    from lipauth.batch.tasks import track_clip, worker_backend
    from lipauth.errors import NoAudioStreamError
    from lipauth.eval.attacks import loop_track, shift_audio, still_video, swap_audio
    from lipauth.features import extract_lip_features
    from lipauth.io import load_audio
    from lipauth.tracking import track_lips

    path = payload["path"]
    video, track = track_clip(path)
    features = extract_lip_features(track, video)
    out: dict[str, Any] = {"n_frames": int(track.n_frames), "detection_rate": round(float(track.detection_rate), 4),
                           "has_audio": False, "sync": {}, "password_take": None}
    if "sync" in payload["checks"]:
        try:
            audio = load_audio(path)
        except NoAudioStreamError:
            audio = None
        except LipAuthError as exc:
            out["sync"]["original"] = _err(exc)
            audio = None
        if audio is not None:
            out["has_audio"] = True
            out["sync"]["original"] = _sync_record(features, audio)
            if payload["label"] == "bona_fide":
                gen = payload["generate"]
                if "shift" in gen:
                    out["sync"]["shift"] = _sync_record(features, shift_audio(audio, payload["shift_ms"]))
                if "swap" in gen:
                    donor = None
                    for d in payload["donors"]:
                        try:
                            donor = load_audio(d)
                            break
                        except LipAuthError:
                            continue
                    if donor is None:
                        out["sync"]["swap"] = {"score": None, "accepted": False, "reasons": [], "error": "no_donor",
                                               "message": "no other bona fide clip with audio to swap in"}
                    else:
                        out["sync"]["swap"] = _sync_record(features, swap_audio(audio, donor))
                if "replay" in gen:
                    try:
                        looped = loop_track(track, period_s=payload["replay_period_s"])
                        out["sync"]["replay"] = _sync_record(extract_lip_features(looped, video), audio)
                    except LipAuthError as exc:
                        out["sync"]["replay"] = _err(exc)
                if "still" in gen:
                    try:
                        still = still_video(video)
                        still_track = track_lips(still, backend=worker_backend())
                        out["sync"]["still"] = _sync_record(extract_lip_features(still_track, still), audio)
                    except LipAuthError as exc:
                        out["sync"]["still"] = _err(exc)
    if payload.get("password"):
        from lipauth.checks.password import PasswordConfig, take_from_features
        from lipauth.features.appearance import labial_crops

        cfg = PasswordConfig()
        try:
            crops = labial_crops(video, track) if cfg.sequence.needs_crops else None
            take = take_from_features(track, features, crops, config=cfg, source=Path(path).name, video=video)
            out["password_take"] = {"sequence": np.round(take.sequence.astype(np.float64), 5).tolist(),
                                    "motion": round(float(take.motion), 6), "duration_s": round(float(take.duration_s), 4)}
        except LipAuthError as exc:
            out["password_take"] = {"error": exc.code, "message": str(exc)}
    return out


# --------------------------------------------------------------------------------------
# orchestration


def _donors(rows: Sequence[ClipRow], row: ClipRow, n: int = 20) -> list[str]:
    """Other bona fide clips whose audio a ``swap`` attack may use: the same folder first
    (the same corpus: same speaker, same grammar, the hard case), then the others, each in
    sorted order starting after ``row``. The worker takes the first one that has audio.
    """
    bona = [r for r in sorted(rows, key=lambda r: r.key) if r.bona_fide and r.abs_path.suffix.lower() not in (".jpg", ".jpeg", ".png")]
    if row not in bona:
        return []
    k = bona.index(row)
    cyclic = [bona[(k + j) % len(bona)] for j in range(1, len(bona))]
    same = [r for r in cyclic if r.abs_path.parent == row.abs_path.parent]
    other = [r for r in cyclic if r.abs_path.parent != row.abs_path.parent]
    return [str(r.abs_path) for r in (same + other)[:n]]


def run_evaluation(
    dataset: str | Path | Dataset,
    out_dir: str | Path,
    *,
    root: str | Path | None = None,
    config: EvalConfig | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    resume: bool = True,
    formats: Sequence[str] = ("csv",),
    progress: bool = True,
    allow_missing: bool = False,
) -> EvalResult:
    """Evaluate every configured check on a dataset and write the report to ``out_dir``.

    Parameters
    ----------
    dataset : path or Dataset
        The dataset CSV (:mod:`lipauth.eval.dataset`).
    out_dir : path
        Gets ``clips.batch.jsonl`` (resumable per-clip results), ``scores.csv`` (and
        ``scores.parquet``), ``thresholds.json``, ``report.md``, ``report.html`` and PNGs.
    root : path, optional
        Folder the CSV paths are relative to (default: the CSV's folder).
    config : EvalConfig, optional
    engine, workers, address, resume
        Batch engine options (:func:`lipauth.batch.run_batch`).
    formats : sequence of {"csv", "parquet"}
        Score file formats (Parquet needs pyarrow).
    allow_missing : bool
        Evaluate the present clips when the CSV lists clips that do not exist (the report
        lists them); by default such a dataset is refused before any work.

    Raises
    ------
    MediaNotFoundError
        The CSV lists missing clips and ``allow_missing`` is false (the message names them).

    Returns
    -------
    EvalResult
    """
    from lipauth.batch import run_batch
    from lipauth.batch.tasks import init_worker
    from lipauth.eval.report import score_everything, write_report

    cfg = config or EvalConfig()
    bad = [f for f in formats if f not in ("csv", "parquet")]
    if bad:
        raise ConfigError(f"format {','.join(bad)!r} is unknown; use csv or parquet")
    if "parquet" in formats:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            from lipauth.errors import BackendUnavailableError

            raise BackendUnavailableError("Parquet output needs pyarrow; pip install 'lipauth[parquet]' or use --format csv") from None
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, root=root)
    if not allow_missing:
        require_present(ds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = split_rows(ds.rows, tune_fraction=cfg.tune_fraction, seed=cfg.seed)
    items = []
    for row in ds.rows:
        items.append((row.key, {
            "path": str(row.abs_path), "label": row.label, "checks": list(cfg.checks), "generate": list(cfg.generate),
            "password": "password" in cfg.checks and bool(row.user and row.phrase),
            "donors": _donors(ds.rows, row) if "swap" in cfg.generate else [],
            "shift_ms": cfg.shift_ms, "replay_period_s": cfg.replay_period_s,
        }))
    summary = run_batch(items, evaluate_clip, engine=engine, workers=workers, address=address,  # type: ignore[arg-type]
                        out=out / "clips.batch.jsonl", resume=resume, settings=cfg.clip_settings(),
                        initializer=init_worker, progress=progress, description="evaluating clips")
    scores, thresholds, metrics, failures = score_everything(ds, split, summary.results, cfg)
    result = EvalResult(out_dir=out, dataset=ds, split=split, scores=scores, thresholds=thresholds, metrics=metrics,
                        failures=failures)
    result.files = write_report(result, cfg, formats=formats)
    return result
