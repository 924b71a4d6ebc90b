"""The audio-visual sync corpus: every real talking clip in ../shared/data, by person.

Used by ``scripts/train_sync.py`` (training and threshold tuning) and
``benchmarks/accuracy_sync.py --by-person`` (leave-people-out evaluation). Nothing here is
shipped; the data stays in ``../shared/data``.

People (29): GRID speaker s1 (100 clips), the two studio talking heads (one woman each),
and the 26 people of ``av_speakers/`` (``speakers.csv``; the two-person interview is left
out: it has two faces, so it says nothing about one person's sync).

Tracking is the costly part (minutes for the whole corpus on 2 cores), so the lip
features and the audio of each clip are cached on disk (``--cache``, default
``/tmp/lipauth_sync_cache``), keyed by the clip's path, size and modification time.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipauth.types import Audio, LipFeatures

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULT_CACHE = Path("/tmp/lipauth_sync_cache")
#: left out of the corpus: two faces on screen (not one person's sync)
EXCLUDED_SPEAKERS = ("two_faces",)

log = logging.getLogger("sync_data")


@dataclass
class SyncClip:
    """One real clip: who speaks, its lip features and its own audio."""

    name: str
    person: str
    dataset: str
    features: LipFeatures
    audio: Audio
    #: the track's face-normalised lip landmarks [shape=(n_frames, 40, 2)], gaps filled
    landmarks: np.ndarray | None = None
    path: Path | None = None

    @property
    def duration_s(self) -> float:
        t = self.features.timestamps_s
        return float(t[-1] - t[0]) if t.size else 0.0


def corpus_index(data: Path = DATA) -> list[tuple[str, str, str, Path]]:
    """``(name, person, dataset, path)`` of every clip in the corpus (no decoding)."""
    rows: list[tuple[str, str, str, Path]] = []
    for p in sorted((data / "grid_s1" / "video").glob("*.mpg")):
        rows.append((f"grid_s1/{p.stem}", "grid_s1", "grid_s1", p))
    for p in sorted((data / "talking_heads").glob("*.mp4")):
        rows.append((f"talking_heads/{p.stem}", f"th_{p.stem.split('_')[1].lower()}", "talking_heads", p))
    csv_path = data / "av_speakers" / "speakers.csv"
    if csv_path.is_file():
        with csv_path.open() as fh:
            for row in csv.DictReader(fh):
                if row["speaker"] in EXCLUDED_SPEAKERS:
                    continue
                rows.append((row["path"].rsplit(".", 1)[0], row["speaker"], row["dataset"], data / "av_speakers" / row["path"]))
    return rows


def _key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"v2|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def load_corpus(
    data: Path = DATA, *, cache: Path | None = DEFAULT_CACHE, people: set[str] | None = None
) -> list[SyncClip]:
    """Lip features (from the landmarks) and audio of every usable clip, cached on disk.

    A clip that cannot be used (no face, no audio, ...) is logged and skipped.
    """
    from lipauth.errors import LipAuthError
    from lipauth.features import extract_lip_features
    from lipauth.features.extract import fill_landmark_gaps
    from lipauth.io import load_audio
    from lipauth.tracking import track_lips
    from lipauth.tracking.backends.mediapipe import MediaPipeBackend

    out: list[SyncClip] = []
    backend = None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    try:
        for name, person, dataset, path in corpus_index(data):
            if people is not None and person not in people:
                continue
            cfile = cache / f"{_key(path)}.pkl" if cache is not None else None
            if cfile is not None and cfile.is_file():
                with cfile.open("rb") as fh:
                    item = pickle.load(fh)
            else:
                if backend is None:
                    backend = MediaPipeBackend()
                try:
                    audio = load_audio(path)
                    track = track_lips(path, backend=backend)
                    feats = extract_lip_features(track)
                    item = (feats, audio, None, np.asarray(track.landmarks_norm, dtype=np.float32))
                except LipAuthError as exc:
                    item = (None, None, f"{type(exc).__name__}: {exc}", None)
                if cfile is not None:
                    with cfile.open("wb") as fh:
                        pickle.dump(item, fh)
            feats, audio, err, landmarks = item
            if err is None and float(np.max(np.abs(audio.samples), initial=0.0)) <= 0.0:
                err = "the audio track is all zeros (no recorded sound)"
            if err is not None:
                log.warning("skipped %s (%s): %s", name, person, err)
                continue
            if landmarks is not None and not np.isfinite(landmarks).all():
                landmarks = fill_landmark_gaps(feats.timestamps_s, landmarks)
            out.append(SyncClip(name, person, dataset, feats, audio, landmarks, path))
    finally:
        if backend is not None:
            backend.close()
    return out

