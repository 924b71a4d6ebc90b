"""features.sequence: per-take normalisation and banded DTW (synthetic sequences with known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from lipauth.errors import ConfigError, InputError
from lipauth.features.sequence import SequenceConfig, dtw_distance, dtw_distances, normalise_channel, robust_zscore


def _curve(n: int, freq: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 1, n)
    return np.stack([np.sin(2 * np.pi * freq * t + phase), np.cos(2 * np.pi * freq * t + phase), t**2], axis=1)


def test_dtw_identical_is_zero_and_symmetric() -> None:
    a, b = _curve(12), _curve(15, freq=1.5)
    assert dtw_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    assert dtw_distance(a, b) == pytest.approx(dtw_distance(b, a))
    assert dtw_distance(a, b) > 0.01


def test_dtw_absorbs_time_warp_but_not_a_different_shape() -> None:
    a = _curve(20)
    slow = _curve(30)  # same trajectory, spoken slower
    other = _curve(20, freq=2.0)
    assert dtw_distance(a, slow) < 0.1 * dtw_distance(a, other)


def test_dtw_band_constrains_warping() -> None:
    a = np.zeros((20, 1))
    a[2:5] = 1.0  # event early
    b = np.zeros((20, 1))
    b[15:18] = 1.0  # event late
    assert dtw_distance(a, b, band=1.0) < dtw_distance(a, b, band=0.1)


def test_dtw_distances_matrix_matches_pairs() -> None:
    seqs = [_curve(10), _curve(14, 2.0), _curve(9, 0.5)]
    d = dtw_distances(seqs, seqs)
    assert d.shape == (3, 3)
    assert np.allclose(np.diag(d), 0.0)
    assert d[0, 1] == pytest.approx(dtw_distance(seqs[0], seqs[1]))


def test_normalise_channel_makes_micro_equal_to_full() -> None:
    full = _curve(16) + 5.0
    micro = 0.3 * (full - full.mean(axis=0)) + 2.0  # 30 % of the motion around another rest shape
    assert np.allclose(normalise_channel(full), normalise_channel(micro), atol=1e-9)
    n = normalise_channel(full)
    assert np.sqrt((n**2).sum(axis=1).mean()) == pytest.approx(1.0)
    assert not normalise_channel(np.ones((5, 3))).any()  # a still take stays 0, no division by 0


def test_robust_zscore_scale_invariant_and_still_columns_zero() -> None:
    x = np.stack([np.linspace(0, 1, 20), np.full(20, 3.0)], axis=1)
    z = robust_zscore(x)
    assert np.allclose(z, robust_zscore(0.3 * x))
    assert not z[:, 1].any()


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((0, 3)), np.zeros((4, 3)), "at least one frame"),
        (np.zeros(5), np.zeros((4, 3)), "shape"),
        (np.full((3, 3), np.nan), np.zeros((4, 3)), "NaN"),
        (np.zeros((3, 2)), np.zeros((4, 3)), "columns"),
    ],
)
def test_dtw_bad_input(a: np.ndarray, b: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        dtw_distance(a, b)


def test_dtw_bad_band() -> None:
    with pytest.raises(ConfigError, match="band"):
        dtw_distance(_curve(5), _curve(5), band=1.5)


def test_sequence_config_validation_and_round_trip() -> None:
    cfg = SequenceConfig(landmark_weight=1.0, band=0.3)
    assert SequenceConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="band"):
        SequenceConfig(band=0.0)
    with pytest.raises(InputError, match="every channel weight"):
        SequenceConfig(hog_weight=0, pixel_weight=0, landmark_weight=0, shape_weight=0)


def test_open_end_matches_a_take_cut_early() -> None:
    full = _curve(20, freq=1.3)
    cut = full[4:]  # the recorder started late: first 20 % missing
    other = _curve(16, freq=2.6)
    closed = dtw_distance(full, cut)
    opened = dtw_distance(full, cut, open_end=0.25)
    assert opened < 0.2 * closed
    assert opened < 0.1 * dtw_distance(full, other, open_end=0.25)
    assert dtw_distance(full, full, open_end=0.25) == pytest.approx(0.0, abs=1e-12)
    assert dtw_distance(full, cut, open_end=0.25) == pytest.approx(dtw_distance(cut, full, open_end=0.25))
    with pytest.raises(ConfigError, match="open_end"):
        dtw_distance(full, cut, open_end=0.6)


def _reference_dtw(a: np.ndarray, b: np.ndarray, band: float, open_end: float) -> float:
    """Plain double-loop DTW with the same band, open ends and span normalisation."""
    n, m = len(a), len(b)
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    slack = 1.0 / max(min(n, m) - 1, 1)
    acc = np.full((n + 1, m + 1), np.inf)
    start = np.zeros((n + 1, m + 1))
    skip_n, skip_m = int(open_end * n), int(open_end * m)
    for i in range(skip_n + 1):
        acc[i, 0], start[i, 0] = 0.0, i
    for j in range(skip_m + 1):
        acc[0, j], start[0, j] = 0.0, j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            inside = abs((i - 1) / max(n - 1, 1) - (j - 1) / max(m - 1, 1)) <= band + slack
            prev = [(acc[i - 1, j - 1], start[i - 1, j - 1]), (acc[i - 1, j], start[i - 1, j]), (acc[i, j - 1], start[i, j - 1])]
            best, s = min(prev, key=lambda p: p[0])
            acc[i, j] = best + (cost[i - 1, j - 1] if inside else np.inf)
            start[i, j] = s
    ends = [(n, j) for j in range(m - skip_m, m + 1)] + [(i, m) for i in range(n - skip_n, n)]
    return min(acc[i, j] / max(i + j - start[i, j], 1.0) for i, j in ends)


@pytest.mark.parametrize("n,m", [(1, 4), (4, 1), (2, 2), (7, 12), (23, 17)])
@pytest.mark.parametrize("band,open_end", [(0.05, 0.0), (0.5, 0.0), (1.0, 0.0), (0.5, 0.2), (0.3, 0.45)])
def test_dtw_matches_a_plain_double_loop(n: int, m: int, band: float, open_end: float) -> None:
    rng = np.random.default_rng(n * 100 + m)
    a, b = rng.normal(size=(n, 5)), rng.normal(size=(m, 5))
    assert dtw_distance(a, b, band=band, open_end=open_end) == pytest.approx(_reference_dtw(a, b, band, open_end), rel=1e-9)


def test_channel_slices_follow_utterance_sequence_layout() -> None:
    from lipauth.features.sequence import channel_slices

    blocks = channel_slices(SequenceConfig(), width=756 + 512 + 80)  # 64x32 crops: 21 HOG blocks x 36, 32x16 pixels, 40 landmarks
    assert blocks == {"hog": slice(0, 756), "pixels": slice(756, 1268), "rest": slice(1268, 1348)}
    only_lm = channel_slices(SequenceConfig(hog_weight=0, pixel_weight=0, landmark_weight=1), width=80)
    assert only_lm == {"rest": slice(0, 80)}
    assert channel_slices(SequenceConfig(landmark_weight=0), width=1268) == {"hog": slice(0, 756), "pixels": slice(756, 1268)}
    # the lip commands' layout: + jaw contour (25 points x, y) + the two deep lip maps
    full = channel_slices(SequenceConfig(jaw_weight=1.0, deep_weight=1.0), width=1348 + 50 + 8192 + 4096)
    assert list(full) == ["hog", "pixels", "rest", "jaw", "deep_early", "deep_lips"]
    assert full["rest"] == slice(1268, 1348) and full["jaw"] == slice(1348, 1398)
    assert full["deep_early"] == slice(1398, 9590) and full["deep_lips"] == slice(9590, 13686)
    with pytest.raises(InputError, match="jaw / deep columns"):
        channel_slices(SequenceConfig(deep_weight=1.0), width=1348)


def test_deep_channels_need_the_maps() -> None:
    from lipauth.features import extract_lip_features
    from lipauth.features.sequence import utterance_sequence
    from lipauth.synth import make_talking_clip
    from lipauth.tracking import track_lips

    video = make_talking_clip(duration_s=0.6, fps=15, size=(320, 240), face_width_px=110, audio=None).to_video()
    track = track_lips(video)
    features = extract_lip_features(track, video)
    cfg = SequenceConfig(hog_weight=0, pixel_weight=0, deep_weight=1.0)
    with pytest.raises(InputError, match="deep=deep_lip_frames"):
        utterance_sequence(track, features, config=cfg)
    with pytest.raises(InputError, match="pass deep_lip_frames of this track"):
        utterance_sequence(track, features, config=cfg, deep={"deep_early": np.zeros((2, 8192)), "deep_lips": np.zeros((2, 4096))})


@pytest.mark.parametrize("width", [3, 1268, 1000])
def test_channel_slices_refuse_a_width_that_does_not_fit(width: int) -> None:
    from lipauth.features.sequence import channel_slices

    with pytest.raises(InputError, match="does not fit"):
        channel_slices(SequenceConfig(), width=width)


# --------------------------------------------------------------------------------------
# features.matcher: the one matcher of the lip password and the lip commands


@pytest.mark.parametrize("open_end", [0.0, 0.2, 0.4])
@pytest.mark.parametrize("band", [0.1, 0.5, 1.0])
def test_dtw_many_equals_dtw_distance(band: float, open_end: float) -> None:
    from lipauth.features.matcher import dtw_many

    rng = np.random.default_rng(5)
    refs = [rng.normal(size=(m, 4)) for m in (3, 7, 13, 20, 41)]
    for n in (3, 13, 30):
        q = rng.normal(size=(n, 4))
        want = [dtw_distance(q, r, band=band, open_end=open_end) for r in refs]
        assert np.allclose(dtw_many(q, refs, band=band, open_end=open_end), want, rtol=1e-10), (n, band, open_end)


def _energy_with_rest(pre: int, phrase: np.ndarray, post: int, *, rest: float = 0.01, settle: float = 0.0) -> np.ndarray:
    e = np.concatenate([np.full(pre, rest), phrase, np.full(post, rest)])
    e[:3] += settle  # the tracker settling on the first frames
    return e


def test_phrase_span_leaves_rest_out_and_keeps_a_tight_take_whole() -> None:
    from lipauth.features.segment import phrase_span

    phrase = np.array([0.3, 0.7, 0.9, 0.5, 0.35, 0.8, 1.1, 0.6, 0.4])
    t = np.arange(60) / 15.0
    for pre, post in ((0, 0), (9, 20), (21, 9)):
        e = _energy_with_rest(pre, phrase, post, settle=0.15 if pre else 0.0)
        n = e.size
        assert phrase_span(e, np.ones(n, bool), t[:n]) == (pre, pre + phrase.size - 1), (pre, post)
    # a pause inside the phrase stays in it; a blink far away with little energy stays out
    e = _energy_with_rest(15, np.concatenate([phrase, np.full(4, 0.02), phrase]), 20)
    e[-6] = 0.3
    first, last = phrase_span(e, np.ones(e.size, bool), np.arange(e.size) / 15.0)
    assert (first, last) == (15, 15 + 2 * phrase.size + 3)
    # nothing moves: every valid frame
    valid = np.ones(30, bool)
    valid[:2] = False
    assert phrase_span(np.full(30, 0.01), valid, np.arange(30) / 15.0) == (2, 29)


def test_phrase_span_prefers_the_voiced_movement() -> None:
    from lipauth.features.segment import phrase_span

    e = np.full(75, 0.01)
    e[10:20] = 1.0  # a bigger movement, silent (e.g. a yawn)
    e[50:60] = 0.6  # the spoken phrase
    t = np.arange(75) / 25.0
    assert phrase_span(e, np.ones(75, bool), t) == (10, 19)
    assert phrase_span(e, np.ones(75, bool), t, speech_s=(2.0, 2.4)) == (50, 59)


def test_fused_distances_are_yardstick_units() -> None:
    from lipauth.features.matcher import MATCH_CHANNELS, MatcherConfig, fused_distances, yardstick

    d = np.full((len(MATCH_CHANNELS), 4), np.nan)
    d[0] = [1.0, 2.0, 3.0, 4.0]
    d[4] = [10.0, 20.0, 30.0, 40.0]
    scale = yardstick(d)
    assert scale[0] == pytest.approx(2.5) and np.isnan(scale[1])
    f = fused_distances(d, scale, MatcherConfig(weights=(1, 0, 0, 0, 3, 0)))
    assert np.allclose(f, [0.4, 0.8, 1.2, 1.6])
    assert np.allclose(fused_distances(d, scale, MatcherConfig(weights=(1, 0, 0, 0, 3, 0)), mean=False), 4 * f)
    with pytest.raises(InputError, match="no channel to fuse"):
        fused_distances(d, scale, MatcherConfig(weights=(0, 1, 0, 0, 0, 0)))
    with pytest.raises(InputError, match="MatcherConfig.weights"):
        MatcherConfig(weights=(1.0, 2.0))


def test_sketch_keeps_distances_and_channel_layout() -> None:
    from lipauth.features.matcher import MATCH_SEQUENCE, full_width, sketch, sketch_slices
    from lipauth.features.sequence import channel_slices

    rng = np.random.default_rng(2)
    width = full_width()
    x, y = rng.normal(size=(2, 6, width)).astype(np.float32)
    sx, sy = sketch(x), sketch(y)
    slices = sketch_slices(width)
    assert list(slices) == list(channel_slices(MATCH_SEQUENCE, width=width)) and sx.shape[1] == slices["deep_lips"].stop
    for name, cols in channel_slices(MATCH_SEQUENCE, width=width).items():
        full = ((x[:, cols] - y[:, cols]) ** 2).sum()
        small = ((sx[:, slices[name]] - sy[:, slices[name]]) ** 2).sum()
        assert small == pytest.approx(full, rel=0.25), name


def test_speech_span_finds_the_voice_and_none_in_silence() -> None:
    from lipauth.features.matcher import speech_span
    from lipauth.synth import make_talking_clip
    from lipauth.types import Audio

    clip = make_talking_clip(None, duration_s=3.0, fps=25.0, size=(160, 120), audio="syllables", sample_rate=16000, seed=2)
    t = np.arange(75) / 25.0
    audio = clip.audio
    x = np.asarray(audio.samples).copy()
    x[: int(1.0 * audio.sample_rate)] = 0.0  # the first second silent
    voiced = speech_span(Audio(samples=x, sample_rate=audio.sample_rate), t)
    assert voiced is not None and 0.9 <= voiced[0] < voiced[1] <= 3.0, voiced
    assert speech_span(Audio(samples=np.zeros_like(x), sample_rate=audio.sample_rate), t) is None
    assert speech_span(None, t) is None
