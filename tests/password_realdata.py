"""Real-data takes for the lip-password tests and benchmarks (tracked once per process).

MIRACL-VC1 F01 (6 phrases x 10 takes), GRID s1 and ``av_speakers`` clips from
``../shared/data``: each clip is tracked, its features, labial crops and deep lip maps
extracted, and kept in memory (and on disk under ``$LIPAUTH_BENCH_CACHE`` when set), so every
test module and benchmark that needs them pays for the tracking once.

*Rest*: :func:`with_rest` holds a clip's first and last frames for 0.6-1.4 s each (with
1.5 grey levels of camera noise) and tracks the result again, as a page records a take: the
phrase with still face around it.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pickle
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
#: phrases the password's threshold and cohort were tuned on; the others are for reporting
TUNE_PHRASES = (1, 2, 3)
REPORT_PHRASES = (4, 5, 6)
#: GRID s1 clips (sorted by name) in the shipped cohort; clips 0-19 are other-person impostors
GRID_COHORT = (40, 50)
#: seconds of rest held before and after a take (uniform, per clip)
REST_S = (0.6, 1.4)


def miracl_path(phrase: int, rep: int) -> Path:
    return DATA / "miracl_f01" / f"F01_phrase{phrase:02d}_rep{rep:02d}.mp4"


def with_rest(video, pre_s: float, post_s: float, *, seed: int = 0, noise: float = 1.5):
    """The clip with its first frame held ``pre_s`` and its last ``post_s`` seconds (eager)."""
    rng = np.random.default_rng(seed)
    frames = video.frames if video.frames is not None else np.stack([f for _, f in video.iter_frames()])
    dt = float(np.median(np.diff(video.timestamps_s)))
    pre, post = int(round(pre_s / dt)), int(round(post_s / dt))

    def hold(frame: np.ndarray, k: int) -> np.ndarray:
        held = np.repeat(frame[None].astype(np.float32), k, axis=0) + rng.normal(0.0, noise, (k, *frame.shape))
        return np.clip(np.round(held), 0, 255).astype(np.uint8)

    out = np.concatenate([hold(frames[0], pre), frames, hold(frames[-1], post)])
    return dataclasses.replace(video, frames=out, timestamps_s=np.arange(len(out)) * dt, measured_fps=1.0 / dt, _frame_iter=None)


def rest_lengths(path: str) -> tuple[float, float]:
    """The rest (seconds before, after) :func:`clip_data` holds around ``path`` (fixed per clip)."""
    rng = np.random.default_rng(sum(map(ord, Path(path).name)))
    a, b = rng.uniform(*REST_S, 2)
    return float(a), float(b)


def _load(path: str, rest: bool, first_s: float | None):
    from lipauth.io import load_video

    video = load_video(path)
    if first_s is not None:  # the first seconds of a long clip (a take's length)
        keep = video.timestamps_s < video.timestamps_s[0] + first_s
        frames = np.stack([f for _, f in video.iter_frames()])[keep]
        video = dataclasses.replace(video, frames=frames, timestamps_s=video.timestamps_s[keep], _frame_iter=None)
    if rest:
        video = with_rest(video, *rest_lengths(path), seed=len(path))
    return video


@lru_cache(maxsize=None)
def clip_data(path: str, rest: bool = False, first_s: float | None = None):
    """``(track, features, crops, deep)`` of one clip (with rest held around it when ``rest``)."""
    cache = os.environ.get("LIPAUTH_BENCH_CACHE")
    key = Path(cache, f"{Path(path).stem}{'_rest' if rest else ''}{'' if first_s is None else f'_{first_s:g}s'}.pkl") if cache else None
    if key is not None and key.exists():
        with open(key, "rb") as fh:
            return pickle.load(fh)
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.features.deep import deep_lip_frames
    from lipauth.tracking import track_lips

    video = _load(path, rest, first_s)
    track = track_lips(video)
    features = extract_lip_features(track, video)
    deep = deep_lip_frames(video, track, frames=np.flatnonzero(features.valid & track.detected))
    out = (track, features, labial_crops(video, track), deep)
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        with open(key, "wb") as fh:
            pickle.dump(out, fh)
    return out


def take(path: str, config=None, *, rest: bool = False, first_s: float | None = None):
    """A :class:`PasswordTake` of a clip (default config)."""
    from lipauth.checks.password import take_from_features

    track, features, crops, deep = clip_data(str(path), rest, first_s)
    return take_from_features(track, features, crops, config=config, source=Path(path).name, deep=deep)


def miracl_takes(phrases=range(1, 7), config=None, *, rest: bool = False) -> dict[int, list]:
    """``{phrase: [take of rep 1, ..., rep 10]}``."""
    return {p: [take(str(miracl_path(p, r)), config, rest=rest) for r in range(1, 11)] for p in phrases}


def grid_paths(n: int, start: int = 0) -> list[Path]:
    return sorted((DATA / "grid_s1" / "video").glob("*.mpg"))[start : start + n]


def other_people_paths() -> list[tuple[Path, str]]:
    """``av_speakers`` clips of one person each, at most 1280 px wide: ``(path, speaker)``."""
    rows = csv.DictReader(open(DATA / "av_speakers" / "speakers.csv"))
    return [(DATA / "av_speakers" / r["path"], r["speaker"]) for r in rows if r["speaker"] != "two_faces" and int(r["width"]) <= 1280]


def other_people_takes(config=None) -> list:
    """Takes of the first 3 s of every usable ``av_speakers`` clip (26 other people) and of GRID
    s1 clips outside the cohort (another person); clips that cannot be tracked are skipped."""
    from lipauth.errors import LipAuthError

    out = []
    for p, _ in other_people_paths():
        try:
            out.append(take(str(p), config, first_s=3.0))
        except LipAuthError:
            continue
    return out + [take(str(p), config) for p in grid_paths(20)]


def resampled(t, speed: float):
    """The take's rows resampled in time as if spoken ``speed`` times faster (nearest frame)."""
    n = t.sequence.shape[0]
    m = max(3, int(round(n / speed)))
    idx = np.clip(np.round(np.linspace(0, n - 1, m)).astype(int), 0, n - 1)
    return dataclasses.replace(t, sequence=t.sequence[idx], duration_s=t.duration_s / speed)


def eer(genuine, impostor) -> tuple[float, float, float]:
    """``(EER, FRR at FAR <= 1 %, threshold at the EER)`` for scores where higher = genuine."""
    g = np.asarray(genuine, dtype=np.float64)
    im = np.asarray(impostor, dtype=np.float64)
    ths = np.unique(np.concatenate([g, im]))
    far = np.array([(im >= t).mean() for t in ths])
    frr = np.array([(g < t).mean() for t in ths])
    k = int(np.argmin(np.abs(far - frr)))
    ok = far <= 0.01
    return float((far[k] + frr[k]) / 2), float(frr[ok].min()) if ok.any() else 1.0, float(ths[k])


def split_scores(enrol_takes: dict[int, list], phrases, *, attempts: dict[int, list] | None = None, others=(),
                 config=None, n_splits: int = 20, seed: int = 0, n_enrol: int = 3):
    """Genuine, wrong-phrase and other-people results (``PasswordResult``) and the refused enrolments.

    Per phrase, ``n_splits`` random ``n_enrol``-take enrolments from ``enrol_takes``; genuine =
    the other takes of the phrase in ``attempts`` (default the same takes), wrong phrase =
    every take of every other phrase in ``attempts``, other people = every take of
    ``others``. An enrolment refused as inconsistent counts in ``n_fte`` and is skipped.
    """
    from lipauth.checks.password import check_password, enrol_password
    from lipauth.errors import EnrolmentError

    att = attempts if attempts is not None else enrol_takes
    rng = np.random.default_rng(seed)
    gen: list = []
    imp: list = []
    oth: list = []
    n_fte = 0
    for p in phrases:
        for _ in range(n_splits):
            enr = rng.choice(10, n_enrol, replace=False)
            try:
                tpl = enrol_password([enrol_takes[p][i] for i in enr], config=config)
            except EnrolmentError:
                n_fte += 1
                continue
            gen += [check_password(tpl, att[p][i]) for i in range(10) if i not in enr]
            imp += [check_password(tpl, t) for q in att if q != p for t in att[q]]
            oth += [check_password(tpl, t) for t in others]
    return gen, imp, oth, n_fte
