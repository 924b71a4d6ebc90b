"""Lip commands across lip-motion amplitudes (issue 20) on MIRACL-VC1 F01 and real still faces.

A person enrols with full movements (with the default half-amplitude copies) or with micro
movements, and is recognised speaking slightly (``attenuate_lip_motion(factor=0.3)``,
re-tracked); still faces (the spoof photos with camera noise, hand-held jitter, a tilt)
never answer a word. The full tables come from
``benchmarks/accuracy_commands.py --amplitudes 1.0 0.5 0.3 0.15`` (docs/commands.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import shared_path

from lipauth.checks.commands import (
    COMMANDS_SEQUENCE,
    CommandsConfig,
    Vocabulary,
    has_utterance,
    opening_change,
    recognise,
)
from lipauth.features.matcher import take_frames
from lipauth.features.sequence import utterance_sequence

pytestmark = pytest.mark.realdata

PHRASES = range(1, 7)
REPS = range(1, 11)
#: the benchmark's report fold (5 x 6 random 3-take enrolments, default config) measured
#: normal enrolled / micro (0.3) recognised, top-ranked word right: docs/commands.md; floors
#: a few points under what these 4 splits measured
NORMAL_TO_MICRO_FLOOR = 0.85
MICRO_TO_MICRO_FLOOR = 0.85
NORMAL_FLOOR = 0.95
#: share of micro (0.3) takes heard by the lips' evidence (benchmark: 98.3 % of 60; the opening
#: alone 96.7 %)
MICRO_HEARD_FLOOR = 0.96


def _track(video, encoder) -> dict:
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.features.deep import deep_lip_frames
    from lipauth.tracking import track_lips

    track = track_lips(video)
    feats = extract_lip_features(track, video)
    crops = labial_crops(video, track)
    frames = take_frames(feats)  # as clip_sequence
    deep = deep_lip_frames(video, track, frames=np.flatnonzero(feats.valid & track.detected), encoder=encoder)
    seq = utterance_sequence(track, feats, crops, frames=frames, config=COMMANDS_SEQUENCE, deep=deep)
    return {"track": track, "features": feats, "crops": crops, "frames": frames, "sequence": seq}


@pytest.fixture(scope="module")
def takes() -> dict[float, dict[tuple[int, int], dict]]:
    """The 60 takes at amplitudes 1.0, 0.5 (the copies of full takes) and 0.3, re-tracked (~1-2 min)."""
    from lipauth.features.deep import DeepLipEncoder
    from lipauth.features.magnify import attenuate_lip_motion
    from lipauth.io import load_video

    root = shared_path("miracl_f01")
    encoder = DeepLipEncoder()
    out: dict[float, dict[tuple[int, int], dict]] = {1.0: {}, 0.5: {}, 0.3: {}}
    for p in PHRASES:
        for r in REPS:
            video = load_video(root / f"F01_phrase{p:02d}_rep{r:02d}.mp4")
            video = dataclasses.replace(video, frames=np.stack([f for _, f in video.iter_frames()]))
            full = _track(video, encoder)
            out[1.0][p, r] = full
            for factor in (0.5, 0.3):
                frames = np.stack(list(attenuate_lip_motion(video, full["track"], factor=factor)))
                out[factor][p, r] = _track(dataclasses.replace(video, frames=frames), encoder)
    return out


def _accuracy(enrolled: dict, copies: dict | None, recognised: dict, n_splits: int = 4) -> float:
    rng = np.random.default_rng(21)
    cfg = CommandsConfig()
    right = []
    for _ in range(n_splits):
        chosen = {p: sorted(rng.choice(list(REPS), 3, replace=False).tolist()) for p in PHRASES}
        v = Vocabulary("amp")
        for p, rs in chosen.items():
            cp = {} if copies is None else {0.5: [copies[p, r]["sequence"] for r in rs]}
            v.add_word(f"phrase{p:02d}", [enrolled[p, r]["sequence"] for r in rs], copies=cp,
                       config=CommandsConfig(max_inconsistency=100.0))
        for p in PHRASES:
            for r in REPS:
                if r in chosen[p]:
                    continue
                d = recognised[p, r]
                heard = has_utterance(d["features"], d["crops"], frames=d["frames"], config=cfg, track=d["track"])
                res = recognise(v, d["sequence"] if heard else None, config=cfg)
                right.append(bool(res.ranking) and res.ranking[0][0] == f"phrase{p:02d}")
    return float(np.mean(right))


def test_micro_takes_are_heard(takes: dict) -> None:
    heard = [has_utterance(d["features"], d["crops"], frames=d["frames"], track=d["track"]) for d in takes[0.3].values()]
    assert np.mean(heard) >= MICRO_HEARD_FLOOR
    assert all(opening_change(d["features"], d["frames"]) >= CommandsConfig().min_opening_change for d in takes[1.0].values())


def test_normal_enrolment_recognises_micro_speech(takes: dict) -> None:
    assert _accuracy(takes[1.0], takes[0.5], takes[1.0]) >= NORMAL_FLOOR
    assert _accuracy(takes[1.0], takes[0.5], takes[0.3]) >= NORMAL_TO_MICRO_FLOOR


def test_micro_enrolment_recognises_micro_speech(takes: dict) -> None:
    assert _accuracy(takes[0.3], None, takes[0.3]) >= MICRO_TO_MICRO_FLOOR


@pytest.fixture(scope="module")
def still_faces() -> list[dict]:
    """The live and spoof stills of ../shared/data/spoof as 1-s clips: camera noise, hand-held
    jitter, a flat tilt (the face squeezed across and back), a lighting ramp."""
    import cv2

    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.tracking import track_lips
    from lipauth.types import Video

    rng = np.random.default_rng(0)
    out = []
    for name in ("live_face", "photo_attack_1", "photo_attack_2"):
        img = cv2.cvtColor(cv2.imread(str(shared_path("spoof", f"{name}.jpg"))), cv2.COLOR_BGR2RGB).astype(np.float32)
        h, w = img.shape[:2]
        for kind in ("noise", "jitter", "tilt", "light"):
            frames = []
            for i in range(15):
                u = i / 14
                f = img
                if kind == "jitter":
                    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.normal(0, 0.7)), 1.0)
                    m[:, 2] += rng.normal(0, 1.5, 2)
                    f = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
                elif kind == "tilt":
                    s = 1.0 - 0.15 * np.sin(np.pi * u)
                    f = cv2.warpAffine(img, np.array([[s, 0, (1 - s) * w / 2], [0, 1, 0]]), (w, h), borderMode=cv2.BORDER_REFLECT)
                elif kind == "light":
                    f = img * (1.0 - 0.25 * u)
                frames.append(np.clip(f + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8))
            video = Video(frames=np.stack(frames), timestamps_s=np.arange(15) / 15.0, width=w, height=h, nominal_fps=15.0)
            track = track_lips(video)
            feats = extract_lip_features(track, video)
            out.append({"name": f"{name}-{kind}", "features": feats, "crops": labial_crops(video, track),
                        "frames": take_frames(feats), "track": track})
    return out


def test_still_faces_are_no_utterance(still_faces: list[dict]) -> None:
    heard = [d["name"] for d in still_faces if has_utterance(d["features"], d["crops"], frames=d["frames"], track=d["track"])]
    assert heard == []
