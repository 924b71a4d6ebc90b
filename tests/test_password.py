"""Lip password: enrolment rules, template round trip, matching degree, synthetic invariances."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from password_synth import tracked_take

from lipauth.checks import password
from lipauth.checks.password import (
    DEFAULT_THRESHOLD,
    PasswordConfig,
    PasswordTake,
    PasswordTemplate,
    check_password,
    enrol_password,
    match_password,
)
from lipauth.errors import (
    ConfigError,
    EnrolmentError,
    InconsistentTakesError,
    InputError,
    TemplateDecryptError,
)
from lipauth.features.matcher import Cohort, full_width, sketch_slices

#: columns of a take's sketch (what a PasswordTake holds)
WIDTH = list(sketch_slices(full_width()).values())[-1].stop


def _signal(seed: int, n: int = 14) -> np.ndarray:
    """A smooth random movement in every column of a sketch (per channel normalised)."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=(n, WIDTH)), axis=0)
    for cols in sketch_slices(full_width()).values():
        b = x[:, cols] - x[:, cols].mean(0)
        x[:, cols] = b / np.sqrt((b**2).sum(1).mean())
    return x


def _take(seed: int, *, base: np.ndarray | None = None, motion: float = 0.2, noise: float = 0.05) -> PasswordTake:
    rng = np.random.default_rng(seed)
    x = (base if base is not None else _signal(seed)).copy()
    for cols in sketch_slices(full_width()).values():  # noise of ``noise`` x the movement's RMS
        x[:, cols] += noise * rng.normal(size=x[:, cols].shape) / np.sqrt(cols.stop - cols.start)
    return PasswordTake(sequence=x.astype(np.float32), motion=motion, duration_s=0.6, source=f"take{seed}")


@pytest.fixture(autouse=True)
def synthetic_cohort(monkeypatch: pytest.MonkeyPatch) -> Cohort:
    """A cohort of other synthetic movements (the shipped one is of real takes)."""
    cohort = Cohort.from_takes([_signal(1000 + k) for k in range(12)], [k % 3 for k in range(12)])
    monkeypatch.setattr(password, "load_cohort", lambda: cohort)
    return cohort


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return _signal(100)


def test_identical_take_scores_one_and_another_movement_about_zero(signal: np.ndarray) -> None:
    takes = [_take(k, base=signal) for k in range(3)]
    tpl = enrol_password(takes)
    score, d = match_password(tpl, takes[0].sequence)
    # the default combines each channel's two nearest takes: an enrolled take itself is 0 from one of them
    assert 0.95 < score < 1.0 and d.shape == (3,) and d[0] == pytest.approx(0.0, abs=1e-6)
    nearest = enrol_password(takes, config=PasswordConfig(combine="min"))
    assert match_password(nearest, takes[0].sequence)[0] == pytest.approx(1.0)
    res = check_password(tpl, _take(7, base=signal))
    assert res.accepted and res.check == "password" and res.threshold == DEFAULT_THRESHOLD and res.score > 0.8
    other = check_password(tpl, _take(50))
    assert not other.accepted and abs(other.score) < 0.3 and other.reasons == ("MISMATCH",)


def test_threshold_override_and_reasons(signal: np.ndarray) -> None:
    tpl = enrol_password([_take(k, base=signal) for k in range(3)])
    res = check_password(tpl, _take(7, base=signal), threshold=1.01)
    assert not res.accepted and res.reasons == ("MISMATCH",) and res.threshold == 1.01
    still = check_password(tpl, _take(8, base=signal, motion=0.0))
    assert "NO_LIP_MOTION" in still.reasons and not still.accepted


def test_template_round_trip(signal: np.ndarray) -> None:
    cfg = PasswordConfig(threshold=0.5, combine="mean")
    tpl = enrol_password([_take(k, base=signal) for k in range(4)], label="bank", config=cfg)
    back = PasswordTemplate.from_bytes(tpl.to_bytes())
    assert back.label == "bank" and back.config == cfg and back.n_takes == 4
    assert all(np.allclose(a, b, atol=2e-2) for a, b in zip(tpl.sequences, back.sequences, strict=True))
    assert np.array_equal(tpl.pair_distances, back.pair_distances) and back.created_at == tpl.created_at
    with pytest.raises(TemplateDecryptError, match="lip password template bytes are not readable"):
        PasswordTemplate.from_bytes(b"not a template")


def test_template_of_another_cohort_must_be_enrolled_again(signal: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = enrol_password([_take(k, base=signal) for k in range(3)]).to_bytes()
    other = Cohort.from_takes([_signal(2000 + k) for k in range(5)], [0] * 5)
    monkeypatch.setattr(password, "load_cohort", lambda: other)
    with pytest.raises(TemplateDecryptError, match="enrol the user again"):
        PasswordTemplate.from_bytes(blob)


def test_enrolment_refuses_bad_takes(signal: np.ndarray) -> None:
    good = [_take(k, base=signal) for k in range(3)]
    with pytest.raises(EnrolmentError, match="got 2 enrolment take"):
        enrol_password(good[:2])
    with pytest.raises(EnrolmentError, match=r"take 2 \(take11\) has too little lip motion"):
        enrol_password([good[0], _take(11, base=signal, motion=0.001), good[2]])
    with pytest.raises(EnrolmentError, match="different feature widths"):
        enrol_password([good[0], good[1], PasswordTake(np.zeros((9, 5), np.float32), 0.2, 0.5)])
    with pytest.raises(EnrolmentError, match="take 1 is a ndarray"):
        enrol_password([signal, signal, signal])  # type: ignore[list-item]
    with pytest.raises(EnrolmentError, match="password label '' must be 1 to 200"):
        enrol_password(good, label="")


def test_a_take_of_another_movement_is_named_and_refused(signal: np.ndarray) -> None:
    good = [_take(k, base=signal) for k in range(3)]
    with pytest.raises(InconsistentTakesError, match=r"take 3 \(take12\) \(\d\.\d\d\) does not match") as exc:
        enrol_password([good[0], good[1], _take(12), good[2]])
    assert "take 1 " not in str(exc.value) and "take 2 " not in str(exc.value)
    with pytest.raises(InconsistentTakesError, match="take 1 .* take 2 .* take 3 .* do not match"):
        enrol_password([_take(20), _take(21), _take(22)])  # three different movements
    assert enrol_password(good + [_take(13, base=signal)]).n_takes == 4


def test_bad_inputs(signal: np.ndarray) -> None:
    tpl = enrol_password([_take(k, base=signal) for k in range(3)])
    with pytest.raises(InputError, match="attempt sequence has shape"):
        match_password(tpl, np.zeros((10, 3), np.float32))
    with pytest.raises(InputError, match="take is a str"):
        check_password(tpl, "clip.mp4")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="template is a dict"):
        check_password({}, _take(1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="PasswordConfig.min_takes=2"):
        PasswordConfig(min_takes=2)
    with pytest.raises(InputError, match="combine='max'"):
        PasswordConfig(combine="max")


def test_rest_around_the_phrase_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The phrase is found inside the take: the same features with still frames held
    before and after give the same sequence (tight take: nothing to cut)."""
    from lipauth.checks.password import take_from_features

    video, _ = tracked_take("A", 1.0, 150.0, False, 0)
    from lipauth.features import extract_lip_features
    from lipauth.features.appearance import labial_crops
    from lipauth.tracking import track_lips

    track = track_lips(video)
    feats = extract_lip_features(track, video)
    take = take_from_features(track, feats, labial_crops(video, track), video=video)
    assert take.duration_s < 0.8 * float(video.timestamps_s[-1])  # the rest of the synthetic clip is left out
    assert take.motion > 0.05


# --------------------------------------------------------------------------------------
# synthetic faces: one control signal at other speeds, scales and head poses (shipped cohort)


@pytest.fixture(scope="module")
def synth_template() -> PasswordTemplate:
    takes = [tracked_take("A", speed, 150.0, False, seed)[1] for seed, speed in ((0, 0.95), (1, 1.0), (2, 1.05))]
    return enrol_password(takes)


@pytest.mark.slow
@pytest.mark.parametrize(
    "speed,face_width_px,head_motion",
    [(0.8, 150.0, False), (1.25, 150.0, False), (1.0, 100.0, False), (1.0, 150.0, True)],
    ids=["0.8x", "1.25x", "smaller", "head-motion"],
)
def test_same_signal_matches(synth_template: PasswordTemplate, speed: float, face_width_px: float, head_motion: bool) -> None:
    _, take = tracked_take("A", speed, face_width_px, head_motion, 5)
    res = check_password(synth_template, take)
    assert res.accepted, (res.score, res.threshold, res.reasons)


@pytest.mark.slow
@pytest.mark.parametrize("speed,head_motion", [(1.0, False), (0.8, True)], ids=["plain", "slow-head-motion"])
def test_other_signal_does_not_match(synth_template: PasswordTemplate, speed: float, head_motion: bool) -> None:
    _, take = tracked_take("B", speed, 150.0, head_motion, 9)
    res = check_password(synth_template, take)
    assert not res.accepted and "MISMATCH" in res.reasons, (res.score, res.reasons)
    _, same = tracked_take("A", 1.25, 150.0, False, 5)
    assert check_password(synth_template, same).score > res.score + 0.05


def test_a_phrase_of_three_frames_is_not_thinned_below_three() -> None:
    """At 25-30 fps a 3-4 frame phrase (a still face's twitch) thinned to 15 fps would keep 2
    frames, too few for a sequence: the attempt must be judged (rejected), not raise."""
    from lipauth.checks.password import _thinned

    t = np.arange(60) / 30.0
    for idx in (np.array([10, 11, 12]), np.array([10, 11, 12, 13])):
        assert _thinned(idx, t).size >= 3
    assert _thinned(np.arange(60), t).size == 24  # long takes still thinned


def test_motion_channels_are_the_passwords_only(signal: np.ndarray) -> None:
    """The password fuses delta channels (frame-to-frame differences); the default matcher (the lip
    commands') has none, so its distances keep their 6 rows."""
    from lipauth.features import matcher

    x, y = _signal(5), _signal(6)
    slices = sketch_slices(full_width())
    plain = matcher.channel_distances(x, [y, x], slices=slices)
    assert plain.shape == (6, 2) and matcher.MatcherConfig().fusion_weights == matcher.MATCH_WEIGHTS
    cfg = PasswordConfig().matcher
    assert cfg.delta_weights == password.PASSWORD_DELTA_WEIGHTS and len(matcher.channel_names(cfg)) == 12
    both = matcher.channel_distances(x, [y, x], slices=slices, config=cfg)
    assert both.shape == (12, 2) and np.allclose(both[:6], matcher.channel_distances(x, [y, x], slices=slices, config=PasswordConfig(
        matcher=matcher.MatcherConfig(weights=password.PASSWORD_WEIGHTS)).matcher), equal_nan=True)
    used = [6 + k for k, w in enumerate(cfg.delta_weights) if w > 0]
    assert np.isfinite(both[used]).all() and np.isnan(np.delete(both[6:], [k - 6 for k in used], axis=0)).all()
    assert np.allclose(both[used, 1], 0.0, atol=1e-9) and (both[used, 0] > 0).all()  # itself: 0
    # the vectorised deltas equal the per-take ones
    cols = slices["deep_lips"]
    for a, b in zip(matcher._delta_blocks([x, y[:1], y], cols), [x, y[:1], y], strict=True):
        assert np.allclose(a, matcher.delta_block(b[:, cols]))
    assert np.allclose(matcher.delta_block(x[:, cols]).mean(0), 0.0) and np.sqrt((matcher.delta_block(x[:, cols]) ** 2).sum(1).mean()) == pytest.approx(1.0)
    # the cohort gives the delta channels no yardstick (NaN: the scrambled copies' alone)
    cohort = password.load_cohort()
    assert np.isnan(cohort.yardstick(x, cfg, sketched=True)[6:]).all()
    with pytest.raises(InputError, match="delta_weights"):
        matcher.MatcherConfig(delta_weights=(1.0, 2.0))


def test_templates_without_motion_channels_keep_matching_as_enrolled(signal: np.ndarray) -> None:
    """A template whose config predates the motion channels (no ``delta_weights``) matches without them."""
    old = PasswordConfig(matcher=password.MatcherConfig(weights=password.PASSWORD_WEIGHTS), threshold=0.27)
    meta = old.to_dict()
    del meta["delta_weights"]
    assert PasswordConfig.from_dict(meta) == old
    assert PasswordConfig.from_dict(PasswordConfig().to_dict()) == PasswordConfig()


def test_password_yardstick_is_the_smaller_mean_and_takes_combine_per_channel(signal: np.ndarray) -> None:
    """The password's yardstick is the smaller of the means of the attempt's distances to the cohort
    and to the scrambled copies (the commands': of the medians), and each channel's distance is the
    mean of its two nearest enrolled takes; templates enrolled before keep matching as enrolled."""
    from lipauth.features import matcher

    cohort = password.load_cohort()
    cfg = PasswordConfig()
    assert cfg.matcher.yardstick == "nearest_mean" and cfg.combine == "nearest2" and matcher.MatcherConfig().yardstick == "nearest"
    refs = [_take(k, base=signal).sequence for k in range(3)]
    q = _take(7, base=signal).sequence
    d, scale = cohort.distances(q, refs, config=cfg.matcher, sketched=True)
    _, scr = matcher.reference_distances(q, refs, config=cfg.matcher, sketched=True, raw=True)
    coh = cohort.kept_distances(q, cfg.matcher, sketched=True)
    used = np.isfinite(scale)
    assert np.allclose(scale[used], np.fmin(scr.mean(1), np.where(np.isnan(coh).all(1), np.inf, np.nanmean(np.where(np.isnan(coh), 0, coh), 1)))[used])
    _, old_scale = cohort.distances(q, refs, config=dataclasses.replace(cfg.matcher, yardstick="nearest"), sketched=True)
    assert np.allclose(old_scale[used], np.fmin(matcher.yardstick(scr), matcher.yardstick(coh))[used])
    tpl = enrol_password([_take(k, base=signal) for k in range(3)])
    score, per_take = match_password(tpl, q)
    two = np.sort(d, axis=1)[:, :2].mean(1, keepdims=True)
    assert score == pytest.approx(1.0 - matcher.fused_distances(two, scale, cfg.matcher)[0]) and per_take.shape == (3,)
    with pytest.raises(InputError, match="yardstick"):
        matcher.MatcherConfig(yardstick="pooled")
    # a template enrolled before (no "yardstick" in its config, combine "min") keeps its scoring
    meta = PasswordConfig(combine="min").to_dict()
    del meta["yardstick"]
    old = PasswordConfig.from_dict(meta)
    assert old.matcher.yardstick == "nearest" and old.combine == "min"
