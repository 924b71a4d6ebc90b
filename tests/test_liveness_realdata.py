"""Blow detection on real recordings (../shared/data; skipped when absent).

Bursts: runs where the 100-ms energy envelope stays > 10 dB above the file's 10th
percentile for >= 0.3 s (``liveness_sessions.envelope_bursts``); a burst is detected when
at least half of its 10-ms frames have blow probability >= 0.5. The detector was tuned on
the ``model_oddech_learn_*`` files and GRID clips sorted first (the first 40); these tests
use the others.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from liveness_sessions import SR, envelope_bursts, exhale_bursts, make_session

from lipauth.features.breath import breath_frames

HELD_OUT_BREATH = (
    "model_oddech_test_different_breathing.wav",
    "model_oddech_test_main_stopping_breathing3.wav",
    "model_oddech_walidate_main_audio_without_noise.wav",
)


def burst_recall(path) -> tuple[int, int]:
    from lipauth.io import load_audio

    audio = load_audio(path, sample_rate=SR)
    bf = breath_frames(audio)
    hit = 0
    bursts = envelope_bursts(audio.samples)
    for a, b in bursts:
        m = (bf.times_s >= a / SR) & (bf.times_s < b / SR)
        hit += int((bf.probability[m] >= 0.5).mean() >= 0.5)
    return hit, len(bursts)


@pytest.mark.realdata
def test_breathing_bursts_detected() -> None:
    hits = total = 0
    for name in HELD_OUT_BREATH:
        h, n = burst_recall(shared_path("breathing", name))
        hits, total = hits + h, total + n
    assert total >= 15 and hits / total >= 0.9, (hits, total)


@pytest.mark.realdata
def test_grid_speech_and_silence_not_blow() -> None:
    from lipauth.io import load_audio

    clips = sorted(shared_path("grid_s1", "video").glob("*.mpg"))[40:70]
    share = [(breath_frames(load_audio(p)).probability >= 0.5).mean() for p in clips]
    assert len(share) == 30 and np.mean(share) <= 0.02 and max(share) <= 0.05, share


@pytest.mark.realdata
def test_session_with_real_breath_and_fan() -> None:
    from lipauth.challenge import new_challenge
    from lipauth.checks.blow import check_blow
    from lipauth.features import extract_lip_features
    from lipauth.tracking import track_lips

    bursts = exhale_bursts(shared_path("breathing"))
    ch = new_challenge("blow", rng=11, key="test-key-0123456789abcdef")
    genuine = make_session(ch, bursts, seed=11, level_db=-32.0, fan_db=-52.0)
    r = check_blow(extract_lip_features(track_lips(genuine.to_video())), genuine.audio, ch)
    assert r.accepted, r.details
    photo = make_session(ch, bursts, seed=11, mouth="photo")
    r = check_blow(extract_lip_features(track_lips(photo.to_video())), photo.audio, ch)
    assert not r.accepted and "MOUTH_NOT_BLOWING" in r.reasons
