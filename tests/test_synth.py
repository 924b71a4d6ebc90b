"""lipauth.synth: synthetic talking-face clips with known ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lipauth.errors import ConfigError
from lipauth.synth import (
    ASTRONAUT_LANDMARKS,
    MouthWarper,
    astronaut,
    blow_schedule,
    intervals_from_signal,
    make_gap_clip,
    make_no_face_clip,
    make_still_clip,
    make_talking_clip,
    make_two_face_clip,
    random_syllable_schedule,
)
from lipauth.types import Audio

SMALL = dict(duration_s=1.0, fps=25.0, size=(320, 240), face_width_px=120)


@pytest.fixture(scope="module")
def talk() -> object:
    """A default 3-s 640x480 30-fps clip (the one the MediaPipe check uses)."""
    return make_talking_clip(duration_s=3.0, fps=30.0, size=(640, 480), face_width_px=200, seed=3)


@pytest.fixture(scope="module")
def moving() -> object:
    return make_talking_clip(
        duration_s=2.0, fps=30.0, size=(480, 360), face_width_px=160, head_motion=True, lighting_change=False,
        background="plain", seed=5,
    )


# --------------------------------------------------------------------------------------
# control signals and ground truth


def test_schedule_is_deterministic_and_well_formed() -> None:
    a = random_syllable_schedule(6.0, seed=11)
    b = random_syllable_schedule(6.0, seed=11)
    c = random_syllable_schedule(6.0, seed=12)
    assert a == b
    assert a != c
    assert len(a.syllables) >= 6
    for s in a.syllables:
        assert 0.15 <= s.end_s - s.start_s <= 0.30
        assert 0.0 < s.opening <= 1.0 and -1.0 <= s.width <= 1.0
        assert 120 * 0.92 <= s.f0_hz <= 220 * 1.08
    starts = [w[0] for w in a.speech_intervals_s]
    ends = [w[1] for w in a.speech_intervals_s]
    assert starts[0] >= 0.3 and ends[-1] <= 6.0 - 0.2
    rests = np.array(starts[1:]) - np.array(ends[:-1])
    assert np.all(rests >= 0.2 - 1e-9) and np.all(rests <= 0.6 + 1e-9)
    t = np.arange(0, 6.0, 1 / 100)
    o = a.opening_at(t)
    assert o.min() == 0.0 and 0.4 < o.max() <= 1.0
    assert np.all(o[~a.speech_mask(t)] == 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(duration_s=0.0), "duration_s=0.0 must be a positive"),
        (dict(duration_s=2.0, syllable_s=(0.3, 0.1)), "syllable_s=.* must satisfy"),
        (dict(duration_s=2.0, rest_s="long"), "rest_s=.* is not a"),
        (dict(duration_s=2.0, syllables_per_word=(0, 2)), "syllables_per_word"),
        (dict(duration_s=2.0, vowels="xyz"), "vowels='xyz'"),
    ],
)
def test_schedule_rejects_bad_options(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        random_syllable_schedule(**kwargs)


def test_intervals_from_signal() -> None:
    t = np.arange(10) / 10.0
    o = np.array([0, 0, 0.5, 0.7, 0, 0, 0.2, 0, 0, 0.9])
    np.testing.assert_allclose(intervals_from_signal(o, t), [(0.2, 0.4), (0.6, 0.7), (0.9, 1.0)])
    with pytest.raises(ConfigError, match="one value per frame"):
        intervals_from_signal(o[:5], t)


def test_same_seed_same_clip_other_seed_other_clip() -> None:
    a = make_talking_clip(**SMALL, seed=4, head_motion=True, noise_std=2.0)
    b = make_talking_clip(**SMALL, seed=4, head_motion=True, noise_std=2.0)
    c = make_talking_clip(**SMALL, seed=5, head_motion=True, noise_std=2.0)
    assert np.array_equal(a.frames, b.frames)
    assert np.array_equal(a.audio.samples, b.audio.samples)
    assert np.array_equal(a.head_transform, b.head_transform)
    assert not np.array_equal(a.frames, c.frames)
    assert not np.array_equal(a.opening, c.opening)


def test_ground_truth_shapes(talk) -> None:
    n = 90
    assert talk.frames.shape == (n, 480, 640, 3) and talk.frames.dtype == np.uint8
    assert talk.timestamps_s.shape == (n,)
    np.testing.assert_allclose(np.diff(talk.timestamps_s), 1 / 30.0)
    assert talk.opening.shape == (n,) and talk.width.shape == (n,)
    assert 0.0 <= talk.opening.min() and talk.opening.max() <= 1.0
    assert -1.0 <= talk.width.min() and talk.width.max() <= 1.0
    assert talk.head_transform.shape == (n, 4) and talk.affine.shape == (n, 2, 3)
    assert talk.face_box_px.shape == (n, 4) and talk.mouth_centre_px.shape == (n, 2)
    assert talk.face_visible.all() and (talk.n_faces == 1).all()
    assert talk.secondary_face_box_px is None
    assert isinstance(talk.audio, Audio) and talk.audio.sample_rate == 16000
    assert talk.audio.samples.dtype == np.float32 and talk.audio.n_samples == 48000
    assert len(talk.speech_intervals_s) >= 2
    fb = talk.face_box_px[0]
    assert fb[2] - fb[0] == pytest.approx(200, abs=1)
    assert fb[0] < 320 < fb[2] and fb[1] < 240 < fb[3]
    video = talk.to_video()
    assert video.n_frames == n and (video.width, video.height) == (640, 480)
    truth = talk.truth_dict()
    assert len(truth["opening"]) == n and truth["path"] is None


def test_variable_frame_rate_timestamps() -> None:
    ts = np.cumsum(np.r_[0.0, np.tile([1 / 20, 1 / 40], 15)]) + 5.0
    clip = make_talking_clip(timestamps_s=ts, size=(160, 120), face_width_px=70, seed=1)
    np.testing.assert_allclose(clip.timestamps_s, ts - 5.0)
    assert clip.frames.shape[0] == ts.size and clip.opening.shape == (ts.size,)


# --------------------------------------------------------------------------------------
# the face


def test_opening_zero_frames_equal_the_neutral_face() -> None:
    n = 25
    opening = np.zeros(n)
    opening[5:12] = np.linspace(0.2, 0.9, 7)
    opening[15:20] = 0.5
    clip = make_talking_clip(**SMALL, opening=opening, seed=2)
    still = make_still_clip(**SMALL, seed=2)
    assert (np.diff(still.frames.astype(int), axis=0) == 0).all()  # a still: all frames identical
    neutral = still.frames[0].astype(int)
    for i in range(n):
        diff = np.abs(clip.frames[i].astype(int) - neutral).max()
        if opening[i] == 0:
            assert diff <= 1, f"frame {i} (opening 0) differs from the neutral face by {diff}"
        else:
            assert diff > 20, f"frame {i} (opening {opening[i]:.2f}) looks like the neutral face"


def test_mouth_region_changes_monotonically_with_opening() -> None:
    warper = MouthWarper()
    still = astronaut()
    neutral = warper.warp(still, 0.0, 0.0).astype(np.float64)
    (xl, _), (xr, _) = ASTRONAUT_LANDMARKS["lip_left"], ASTRONAUT_LANDMARKS["lip_right"]
    box = (slice(125, 185), slice(int(xl) - 5, int(xr) + 6))
    change, dark = [], []
    for o in np.linspace(0.0, 1.0, 11):
        img = warper.warp(still, float(o), 0.0)
        change.append(np.abs(img[box].astype(np.float64) - neutral[box]).mean())
        dark.append(int((img[box].mean(axis=-1) < 60).sum()))
    assert change[0] == 0.0
    assert np.all(np.diff(change) > 0), change
    assert np.all(np.diff(dark[2:]) > 0), dark  # the cavity grows once the teeth have parted
    # the rest of the face does not move
    img = warper.warp(still, 1.0, -1.0)
    x0, y0, x1, y1 = warper.roi
    outside = np.ones(still.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(img[outside], still[outside])


def test_width_narrows_and_spreads_the_mouth() -> None:
    warper = MouthWarper()

    def extent(width: float) -> tuple[int, int]:
        """Columns and rows of the open mouth (cavity) at opening 0.6."""
        cavity = warper.maps(0.6, width)[2] > 0.5
        return int(cavity.any(axis=0).sum()), int(cavity.any(axis=1).sum())

    (pw, ph), (nw, nh), (sw, sh) = extent(-1.0), extent(0.0), extent(1.0)
    assert pw < 0.85 * nw and sw > 1.1 * nw, (pw, nw, sw)
    assert ph / pw > nh / nw > sh / sw, (ph, nh, sh)  # pursed lips are rounder, spread ones flatter


def test_head_motion_moves_the_face_as_the_transform_says(moving) -> None:
    import cv2

    h = moving.head_transform
    assert np.abs(h[:, 2]).max() <= 15.0 and np.abs(h[:, 3] - 1).max() <= 0.2
    assert np.ptp(h[:, 0]) > 10 and np.ptp(h[:, 2]) > 3 and np.ptp(h[:, 3]) > 0.05
    # affine and head_transform agree: scale and angle of the 2x2 part
    a = moving.affine
    k = np.hypot(a[:, 0, 0], a[:, 0, 1])
    np.testing.assert_allclose(k / k[0] * h[0, 3], h[:, 3], rtol=1e-9)
    np.testing.assert_allclose(np.rad2deg(np.arctan2(a[:, 0, 1], a[:, 0, 0])), h[:, 2], atol=1e-9)
    # mapping each frame back through its own transform recovers the still around the
    # eyes; another frame's transform does not
    still = astronaut().astype(np.float32)
    eyes = (slice(85, 118), slice(185, 268))

    def score(frame: np.ndarray, affine: np.ndarray) -> float:
        back = cv2.warpAffine(frame, affine, (512, 512), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
        return float(np.corrcoef(back[eyes].astype(np.float32).ravel(), still[eyes].ravel())[0, 1])

    far = int(np.argmax(np.abs(h[:, 2] - h[0, 2]) + np.abs(h[:, 0] - h[0, 0]) / 10))
    for i in (0, far, moving.n_frames - 1):
        assert score(moving.frames[i], moving.affine[i]) > 0.95
    assert score(moving.frames[far], moving.affine[0]) < 0.8


def test_lighting_and_noise_change_the_pixels_not_the_truth() -> None:
    base = make_talking_clip(**SMALL, seed=6)
    lit = make_talking_clip(**SMALL, seed=6, lighting_change=True, light_gain_end=0.5)
    noisy = make_talking_clip(**SMALL, seed=6, noise_std=4.0)
    np.testing.assert_array_equal(base.opening, lit.opening)
    assert lit.light_gain[0] == 1.0 and lit.light_gain[-1] == pytest.approx(0.5)
    assert lit.frames[-1].mean() < 0.65 * base.frames[-1].mean()
    assert lit.frames[0].mean() == pytest.approx(base.frames[0].mean(), abs=0.5)
    resid = noisy.frames.astype(float) - base.frames.astype(float)
    assert 3.0 < resid.std() < 5.0


# --------------------------------------------------------------------------------------
# special clips


def test_special_clips_ground_truth() -> None:
    none = make_no_face_clip(duration_s=0.5, size=(320, 240))
    assert (none.n_faces == 0).all() and not none.face_visible.any()
    assert np.isnan(none.face_box_px).all()
    two = make_two_face_clip(**{**SMALL, "face_width_px": 100})
    assert (two.n_faces == 2).all()
    p, s = two.face_box_px[0], two.secondary_face_box_px[0]
    assert (s[2] - s[0]) == pytest.approx(0.5 * (p[2] - p[0]), rel=0.01)
    assert p[2] < s[0] and s[2] <= 320  # side by side, both inside
    gap = make_gap_clip(duration_s=3.0, fps=20.0, size=(320, 240), face_width_px=100, gap_s=(1.0, 2.0))
    t = gap.timestamps_s
    assert gap.face_visible[t < 0.7].all() and not gap.face_visible[(t >= 1.0) & (t < 2.0)].any()
    assert gap.face_visible[t > 2.3].all()
    assert np.array_equal(gap.n_faces, gap.face_visible.astype(np.uint8))
    # while the face is away the frame is background only: constant over the gap
    inside = gap.frames[(t >= 1.0) & (t < 2.0)].astype(int)
    assert np.abs(inside - inside[0]).max() <= 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_talking_clip(size=(641, 480)), r"size=\(641, 480\): width and height must be even"),
        (lambda: make_talking_clip(size="big"), "size='big' is not a"),
        (lambda: make_talking_clip(fps=-1), "fps=-1 must be a positive"),
        (lambda: make_talking_clip(duration_s=float("nan")), "duration_s=nan must be a positive"),
        (lambda: make_talking_clip(face_width_px=5), "face_width_px=5.0 must be from 20"),
        (lambda: make_talking_clip(duration_s=1.0, fps=10, opening=np.zeros(7)), r"opening has shape \(7,\)"),
        (lambda: make_talking_clip(duration_s=1.0, fps=10, opening=np.full(10, 1.5)), r"opening must lie in \[0.0, 1"),
        (lambda: make_talking_clip(duration_s=1.0, fps=10, width=np.full(10, -2.0)), r"width must lie in"),
        (lambda: make_talking_clip(timestamps_s=np.array([0.0, 0.1, 0.1])), "strictly increasing"),
        (lambda: make_talking_clip(background="space"), "background='space'"),
        (lambda: make_talking_clip(audio="opera"), "audio='opera' is neither"),
        (lambda: make_talking_clip(audio="blow"), "audio='blow' needs blow_windows_s"),
        (lambda: make_talking_clip(blow_windows_s=[(2.0, 1.0)]), r"window \(2.0, 1.0\) must satisfy"),
        (lambda: make_talking_clip(noise_std=-1), "noise_std=-1 must be >= 0"),
        (lambda: make_talking_clip(head_motion=True, max_angle_deg=90), "head motion limits"),
        (lambda: make_two_face_clip(face_width_px=100, second_face_width_px=120), "must be smaller"),
        (lambda: make_gap_clip(duration_s=2.0, gap_s=(1.5, 2.5)), "gap_s=.* must lie inside the clip"),
        (lambda: make_still_clip(head_motion=True), "make_still_clip: head_motion=True"),
    ],
)
def test_bad_options_raise_config_error(call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


# --------------------------------------------------------------------------------------
# audio


def _frame_rms(samples: np.ndarray, sample_rate: int, timestamps_s: np.ndarray, fps: float) -> np.ndarray:
    half = int(sample_rate / fps / 2)
    centres = (timestamps_s * sample_rate).astype(int)
    return np.array([np.sqrt(np.mean(samples[max(c - half, 0) : c + half] ** 2)) for c in centres])


def test_voice_envelope_follows_the_openings(talk) -> None:
    rms = _frame_rms(talk.audio.samples, 16000, talk.timestamps_s, 30.0)
    lags = range(-5, 6)

    def r_at(lag: int) -> float:
        a, b = (talk.opening[max(lag, 0) : len(rms) + min(lag, 0)], rms[max(-lag, 0) : len(rms) - max(lag, 0)])
        return float(np.corrcoef(a, b)[0, 1])

    rs = [r_at(k) for k in lags]
    assert max(rs) > 0.85
    assert list(lags)[int(np.argmax(rs))] in (0, 1)  # the voice leads by 20 ms, under a frame
    t = talk.timestamps_s
    speech = np.zeros(len(t), bool)
    for a, b in talk.speech_intervals_s:
        speech |= (t >= a) & (t < b)
    assert rms[~speech].max() < 0.01 and rms[speech].max() > 0.04


def test_voice_pitch_is_in_the_speaking_range() -> None:
    sched = random_syllable_schedule(3.0, seed=9)
    clip = make_talking_clip(duration_s=3.0, fps=25, size=(160, 120), face_width_px=70, seed=9)
    longest = max(sched.syllables, key=lambda s: s.end_s - s.start_s)
    seg = clip.audio.samples[int((longest.start_s + 0.04) * 16000) : int((longest.end_s - 0.04) * 16000)]
    ac = np.correlate(seg, seg, "full")[seg.size - 1 :]
    lo, hi = int(16000 / 260), int(16000 / 100)
    f0 = 16000 / (lo + int(np.argmax(ac[lo:hi])))
    assert longest.f0_hz * 0.85 < f0 < longest.f0_hz * 1.15


def test_blow_windows_purse_the_lips_and_make_breath_noise() -> None:
    clip = make_talking_clip(duration_s=3.0, fps=25.0, size=(160, 120), face_width_px=70, seed=2,
                             blow_windows_s=[(1.0, 2.0)], audio="blow")
    t = clip.timestamps_s
    inside = (t > 1.1) & (t < 1.9)
    assert np.allclose(clip.width[inside], -1.0) and np.allclose(clip.opening[inside], 0.15)
    assert clip.blow_intervals_s == ((1.0, 2.0),)
    assert all(b <= 0.9 or a >= 2.1 for a, b in clip.speech_intervals_s)
    s = clip.audio.samples
    inside_rms = np.sqrt(np.mean(s[17600:30400] ** 2))
    outside_rms = np.sqrt(np.mean(np.r_[s[:14000], s[34000:]] ** 2))
    assert inside_rms > 0.1 and outside_rms < 1e-3
    # broadband: no strong harmonic peak as in voice
    spec = np.abs(np.fft.rfft(s[17600:30400]))
    freqs = np.fft.rfftfreq(12800, 1 / 16000)
    band = (freqs > 300) & (freqs < 4000)
    assert spec[band].mean() > 5 * spec[freqs > 6500].mean()
    opening, width = blow_schedule([(0.5, 1.0)], np.array([0.0, 0.75, 1.5]))
    np.testing.assert_allclose(width, [0.0, -1.0, 0.0])


def test_given_audio_and_silence() -> None:
    tone = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    clip = make_talking_clip(**SMALL, audio=tone)
    np.testing.assert_array_equal(clip.audio.samples, tone)
    silent = make_talking_clip(**SMALL, audio="silence")
    assert silent.audio.n_samples == 16000 and not silent.audio.samples.any()
    assert make_talking_clip(**SMALL, audio=None).audio is None


def test_given_wav_file(tmp_path: Path) -> None:
    from lipauth.io import write_audio

    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32)
    wav = write_audio(tmp_path / "tone.wav", tone, sample_rate=16000)
    clip = make_talking_clip(**SMALL, audio=str(wav))
    assert clip.audio.n_samples == 8000
    assert np.abs(clip.audio.samples - tone).max() < 1e-3
    with pytest.raises(ConfigError, match="neither one of"):
        make_talking_clip(**SMALL, audio=str(tmp_path / "missing.wav"))


# --------------------------------------------------------------------------------------
# MediaPipe follows the lips (skipped without mediapipe)


def _mesh(frames: np.ndarray, max_faces: int = 1) -> list[list[np.ndarray]]:
    fm_mod = pytest.importorskip("mediapipe.python.solutions.face_mesh")
    h, w = frames.shape[1:3]
    out = []
    with fm_mod.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=max_faces) as fm:
        for f in frames:
            res = fm.process(f)
            faces = res.multi_face_landmarks or []
            out.append([np.array([(p.x * w, p.y * h) for p in fc.landmark]) for fc in faces])
    return out


def test_mediapipe_inner_lip_gap_follows_the_opening(talk) -> None:
    meshes = _mesh(talk.frames)
    assert all(len(m) == 1 for m in meshes)
    lm = np.stack([m[0] for m in meshes])
    gap = np.linalg.norm(lm[:, 14] - lm[:, 13], axis=-1)
    r = float(np.corrcoef(talk.opening, gap)[0, 1])
    assert r >= 0.95, f"inner-lip gap vs opening r={r:.3f}"
    # corner-to-corner width follows the width signal while the mouth moves
    mouth_w = np.linalg.norm(lm[:, 291] - lm[:, 61], axis=-1)
    moving = talk.opening > 0.2
    r_w = float(np.corrcoef(talk.width[moving], mouth_w[moving])[0, 1])
    assert r_w > 0.8, f"mouth width vs width r={r_w:.3f}"
    # the face sits where the transform says: eye corners within 3 % of the face width
    for name, idx in (("eye_left_outer", 33), ("eye_right_outer", 263)):
        want = talk.affine[:, :, :2] @ np.array(ASTRONAUT_LANDMARKS[name]) + talk.affine[:, :, 2]
        err = np.linalg.norm(lm[:, idx] - want, axis=-1)
        assert np.median(err) < 0.03 * talk.face_width_px, (name, float(np.median(err)))


def test_mediapipe_sees_the_special_clips() -> None:
    two = make_two_face_clip(duration_s=0.4, fps=25.0, size=(480, 360), face_width_px=150)
    assert all(len(m) == 2 for m in _mesh(two.frames, max_faces=3))
    none = make_no_face_clip(duration_s=0.4, fps=25.0, size=(480, 360))
    assert all(len(m) == 0 for m in _mesh(none.frames))
    gap = make_gap_clip(duration_s=2.0, fps=20.0, size=(480, 360), face_width_px=150, gap_s=(0.7, 1.3))
    seen = np.array([len(m) for m in _mesh(gap.frames)])
    assert (seen == gap.face_visible).mean() >= 0.9


# --------------------------------------------------------------------------------------
# written files


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_written_clip_round_trip(tmp_path: Path, suffix: str) -> None:
    from lipauth.io import load_audio, load_video

    clip = make_talking_clip(tmp_path / f"talk{suffix}", duration_s=1.2, fps=25.0, size=(320, 240),
                             face_width_px=120, seed=8)
    assert clip.path == tmp_path / f"talk{suffix}" and clip.path.stat().st_size > 1000
    video = load_video(clip.path)
    assert video.n_frames == clip.n_frames and (video.width, video.height) == (320, 240)
    np.testing.assert_allclose(video.timestamps_s, clip.timestamps_s, atol=2e-3)
    mse = np.mean((video.frames.astype(float) - clip.frames.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
    audio = load_audio(clip.path)
    assert audio.sample_rate == 16000 and abs(audio.start_s) < 0.03
    assert abs(audio.duration_s - 1.2) < 0.1
    a = _frame_rms(audio.samples, 16000, clip.timestamps_s - audio.start_s, 25.0)
    b = _frame_rms(clip.audio.samples, 16000, clip.timestamps_s, 25.0)
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_variable_frame_rate_file(tmp_path: Path) -> None:
    from lipauth.io import load_video

    ts = np.cumsum(np.r_[0.0, np.tile([1 / 20, 1 / 40], 10)])
    clip = make_talking_clip(tmp_path / "vfr.mp4", timestamps_s=ts, size=(160, 120), face_width_px=70, audio=None)
    video = load_video(clip.path)
    np.testing.assert_allclose(video.timestamps_s, ts, atol=2e-3)
