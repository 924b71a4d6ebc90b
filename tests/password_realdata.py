"""Real-data takes for the lip-password tests and benchmarks (tracked once per process).

MIRACL-VC1 F01 (6 phrases x 10 takes) and GRID s1 clips from ``../shared/data``: each clip
is tracked, its features and labial crops extracted, and kept in memory, so every test
module and benchmark that needs them pays for the tracking once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
#: phrases the password metric and threshold were tuned on; the others are for reporting
TUNE_PHRASES = (1, 2, 3)
REPORT_PHRASES = (4, 5, 6)


def miracl_path(phrase: int, rep: int) -> Path:
    return DATA / "miracl_f01" / f"F01_phrase{phrase:02d}_rep{rep:02d}.mp4"


@lru_cache(maxsize=None)
def clip_data(path: str):
    """``(track, features, crops)`` of one clip."""
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    video = load_video(path)
    track = track_lips(video)
    features = extract_lip_features(track, video)
    return track, features, labial_crops(video, track)


def take(path: str, config=None):
    """A :class:`PasswordTake` of a clip (default config: with the learned metric)."""
    from lipauth.checks.password import take_from_features

    track, features, crops = clip_data(str(path))
    return take_from_features(track, features, crops, config=config, source=Path(path).name)


def miracl_takes(phrases=range(1, 7), config=None) -> dict[int, list]:
    """``{phrase: [take of rep 1, ..., rep 10]}``."""
    return {p: [take(str(miracl_path(p, r)), config) for r in range(1, 11)] for p in phrases}


def grid_paths(n: int) -> list[Path]:
    return sorted((DATA / "grid_s1" / "video").glob("*.mpg"))[:n]


def resampled(t, speed: float):
    """The take's rows resampled in time as if spoken ``speed`` times faster (nearest frame)."""
    from dataclasses import replace

    n = t.sequence.shape[0]
    m = max(3, int(round(n / speed)))
    idx = np.clip(np.round(np.linspace(0, n - 1, m)).astype(int), 0, n - 1)
    return replace(t, sequence=t.sequence[idx], duration_s=t.duration_s / speed)


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


def split_scores(takes: dict[int, list], phrases, *, config=None, n_splits: int = 20, seed: int = 0, n_enrol: int = 3):
    """Genuine and impostor results (``PasswordResult``) and the failures to enrol.

    Per phrase, ``n_splits`` random ``n_enrol``-take enrolments; genuine = the other takes
    of the phrase, impostor = every take of every other phrase in ``takes``. An enrolment
    refused as inconsistent counts in ``n_fte`` and is skipped.
    """
    from lipauth.checks.password import check_password, enrol_password
    from lipauth.errors import EnrolmentError

    rng = np.random.default_rng(seed)
    gen: list = []
    imp: list = []
    n_fte = 0
    for p in phrases:
        for _ in range(n_splits):
            enr = rng.choice(10, n_enrol, replace=False)
            try:
                tpl = enrol_password([takes[p][i] for i in enr], config=config)
            except EnrolmentError:
                n_fte += 1
                continue
            gen += [check_password(tpl, takes[p][i]) for i in range(10) if i not in enr]
            imp += [check_password(tpl, t) for q in takes if q != p for t in takes[q]]
    return gen, imp, n_fte
