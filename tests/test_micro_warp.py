"""Geometric lip-motion attenuation (micro-movement clips), checked against known geometry.

A synthetic clip made with ``opening=0.3 * base`` is the ground truth of "30 % of the
amplitude": warping the full clip at ``factor=0.3`` and re-tracking it must give about the
same opening range and the same per-frame opening.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import shared_path

from lipauth.errors import ConfigError, InputError
from lipauth.features import extract_lip_features
from lipauth.features.magnify import attenuate_lip_motion
from lipauth.synth import make_talking_clip
from lipauth.tracking import track_lips
from lipauth.types import Video

FPS = 15.0
N_FRAMES = 45


def _range(opening: np.ndarray) -> float:
    o = opening[np.isfinite(opening)]
    return float(np.percentile(o, 95) - np.percentile(o, 5))


def _opening(video: Video) -> np.ndarray:
    return extract_lip_features(track_lips(video), video).column("opening")


def _clip(seed: int, scale: float) -> Video:
    t = np.arange(N_FRAMES) / FPS
    base = np.clip((0.5 + 0.5 * np.sin(2 * np.pi * (1.5 + 0.5 * seed) * t)) * 0.9, 0, 1)
    clip = make_talking_clip(
        opening=scale * base, fps=FPS, duration_s=N_FRAMES / FPS, size=(640, 480), face_width_px=140, audio=None, seed=seed
    )
    return clip.to_video()


@pytest.fixture(scope="module")
def synth_cases() -> list[dict]:
    cases = []
    for seed in (0, 2):
        full = _clip(seed, 1.0)
        track = track_lips(full)
        warped = dataclasses.replace(full, frames=np.stack(list(attenuate_lip_motion(full, track, factor=0.3))))
        cases.append(
            {
                "full": full,
                "track": track,
                "warped": warped,
                "o_full": extract_lip_features(track, full).column("opening"),
                "o_true": _opening(_clip(seed, 0.3)),
                "o_warp": _opening(warped),
            }
        )
    return cases


def test_warp_matches_true_30_percent_clip(synth_cases: list[dict]) -> None:
    for case in synth_cases:
        full_range = _range(case["o_full"])
        true_ratio = _range(case["o_true"]) / full_range
        warp_ratio = _range(case["o_warp"]) / full_range
        assert 0.25 < true_ratio < 0.45  # the ground truth itself
        assert abs(warp_ratio - true_ratio) < 0.08, (warp_ratio, true_ratio)
        ok = np.isfinite(case["o_warp"]) & np.isfinite(case["o_true"])
        assert ok.mean() > 0.95
        r = np.corrcoef(case["o_warp"][ok], case["o_true"][ok])[0, 1]
        assert r > 0.93, r
        # per-frame opening close to the true clip's, not just correlated
        assert np.mean(np.abs(case["o_warp"][ok] - case["o_true"][ok])) < 0.1 * full_range


def test_warp_leaves_the_rest_of_the_frame_alone(synth_cases: list[dict]) -> None:
    case = synth_cases[0]
    full, warped, track = case["full"], case["warped"], case["track"]
    assert warped.frames.shape == full.frames.shape and warped.frames.dtype == np.uint8
    changed = np.any(warped.frames != full.frames, axis=(0, 3))
    ys, xs = np.nonzero(changed)
    assert len(ys) > 0
    face = np.nanmedian(track.face_box, axis=0)
    lips = np.nanmedian(track.labial_box, axis=0)
    # only the lower face changes: nothing above the nose tip, nothing far beside the face
    assert ys.min() > lips[1] - 0.6 * (lips[2] - lips[0])
    margin = 0.1 * (face[2] - face[0])
    assert xs.min() >= face[0] - margin and xs.max() <= face[2] + margin
    # at factor 1 the frames are copies
    same = np.stack(list(attenuate_lip_motion(full, track, factor=1.0)))
    assert np.array_equal(same, full.frames)


def test_factor_zero_freezes_the_opening(synth_cases: list[dict]) -> None:
    case = synth_cases[0]
    frozen = dataclasses.replace(case["full"], frames=np.stack(list(attenuate_lip_motion(case["full"], case["track"], factor=0.0))))
    assert _range(_opening(frozen)) < 0.2 * _range(case["o_full"])


def test_bad_input(synth_cases: list[dict]) -> None:
    full, track = synth_cases[0]["full"], synth_cases[0]["track"]
    with pytest.raises(ConfigError, match=r"attenuate_lip_motion.factor=1.5 is out of range"):
        attenuate_lip_motion(full, track, factor=1.5)
    with pytest.raises(ConfigError, match=r"attenuate_lip_motion.factor=-0.1 is out of range"):
        attenuate_lip_motion(full, track, factor=-0.1)
    with pytest.raises(InputError, match=r"reference='open' is unknown"):
        attenuate_lip_motion(full, track, reference="open")
    short = dataclasses.replace(full, frames=full.frames[:10], timestamps_s=full.timestamps_s[:10])
    with pytest.raises(InputError, match=r"track has 45 frames but video .* has 10"):
        attenuate_lip_motion(short, track)
    blind = dataclasses.replace(track, detected=np.zeros_like(track.detected))
    with pytest.raises(InputError, match=r"no frame with a face; nothing to attenuate"):
        attenuate_lip_motion(full, blind)
    with pytest.raises(InputError, match=r"pass a lipauth Video"):
        attenuate_lip_motion(full.frames, track)  # type: ignore[arg-type]


@pytest.mark.realdata
def test_miracl_opening_range_about_30_percent() -> None:
    from lipauth.io import load_video

    video = load_video(shared_path("miracl_f01") / "F01_phrase01_rep01.mp4")
    track = track_lips(video)
    o_full = extract_lip_features(track, video).column("opening")
    warped = dataclasses.replace(video, frames=np.stack(list(attenuate_lip_motion(video, track, factor=0.3))))
    ratio = np.ptp(_opening(warped)[np.isfinite(o_full)]) / np.ptp(o_full[np.isfinite(o_full)])
    assert 0.2 < ratio < 0.45, ratio
