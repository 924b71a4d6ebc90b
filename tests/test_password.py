"""Lip password: enrolment rules, template round trip, matching degree, synthetic invariances."""

from __future__ import annotations

import numpy as np
import pytest
from password_synth import tracked_take

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
    BackendUnavailableError,
    ConfigError,
    EnrolmentError,
    InconsistentTakesError,
    InputError,
    TemplateDecryptError,
)

#: the toy sequences below are not in the learned metric's space: score them without its cohort
RAW = PasswordConfig(cohort=False)


def _take(seed: int, *, n: int = 20, d: int = 12, motion: float = 0.2, base: np.ndarray | None = None) -> PasswordTake:
    rng = np.random.default_rng(seed)
    x = base if base is not None else np.cumsum(rng.normal(size=(n, d)), axis=0)
    x = x + 0.05 * rng.normal(size=x.shape)
    x = (x - x.mean(0)) / np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())
    return PasswordTake(sequence=x.astype(np.float32), motion=motion, duration_s=n / 25.0, source=f"take{seed}")


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return np.cumsum(np.random.default_rng(100).normal(size=(20, 12)), axis=0)


def test_identical_take_scores_one(signal: np.ndarray) -> None:
    takes = [_take(k, base=signal) for k in range(3)]
    tpl = enrol_password(takes, config=RAW)
    score, d = match_password(tpl, takes[0].sequence)
    assert score == pytest.approx(1.0) and d.shape == (3,) and d[0] == pytest.approx(0.0)
    res = check_password(tpl, takes[1])
    assert res.accepted and res.check == "password" and res.threshold == DEFAULT_THRESHOLD
    other = check_password(tpl, _take(50))
    assert other.score < res.score


def test_threshold_override_and_reasons(signal: np.ndarray) -> None:
    tpl = enrol_password([_take(k, base=signal) for k in range(3)], config=RAW)
    res = check_password(tpl, _take(7, base=signal), threshold=1.01)
    assert not res.accepted and res.reasons == ("MISMATCH",) and res.threshold == 1.01
    still = check_password(tpl, _take(8, base=signal, motion=0.0))
    assert "NO_LIP_MOTION" in still.reasons and not still.accepted


def test_template_round_trip(signal: np.ndarray) -> None:
    cfg = PasswordConfig(threshold=0.5, combine="mean", cohort=False)
    tpl = enrol_password([_take(k, base=signal) for k in range(4)], label="bank", config=cfg)
    back = PasswordTemplate.from_bytes(tpl.to_bytes())
    assert back.label == "bank" and back.config == cfg and back.n_takes == 4
    assert all(np.array_equal(a, b) for a, b in zip(tpl.sequences, back.sequences, strict=True))
    assert np.array_equal(tpl.pair_distances, back.pair_distances) and back.created_at == tpl.created_at
    with pytest.raises(TemplateDecryptError, match="lip password template bytes are not readable"):
        PasswordTemplate.from_bytes(b"not a template")


def test_enrolment_refuses_bad_takes(signal: np.ndarray) -> None:
    good = [_take(k, base=signal) for k in range(3)]
    with pytest.raises(EnrolmentError, match="got 2 enrolment take"):
        enrol_password(good[:2])
    with pytest.raises(EnrolmentError, match=r"take 2 \(take11\) has too little lip motion"):
        enrol_password([good[0], _take(11, base=signal, motion=0.001), good[2]])
    odd = _take(12, n=20)  # another movement
    with pytest.raises(InconsistentTakesError, match=r"take 3 \(take12\) does not match the other takes"):
        enrol_password([good[0], good[1], odd, _take(13, base=signal)])
    with pytest.raises(EnrolmentError, match="different feature widths"):
        enrol_password([good[0], good[1], _take(14, d=5)])
    with pytest.raises(EnrolmentError, match="take 1 is a ndarray"):
        enrol_password([signal, signal, signal])  # type: ignore[list-item]
    with pytest.raises(EnrolmentError, match="password label '' must be 1 to 200"):
        enrol_password(good, label="")


def test_bad_inputs(signal: np.ndarray) -> None:
    tpl = enrol_password([_take(k, base=signal) for k in range(3)], config=RAW)
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


def test_cohort_normalised_score(signal: np.ndarray, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from lipauth.checks import password
    from lipauth.checks.password import PasswordMetric
    from lipauth.features.sequence import dtw_distance

    cohort = tuple(_take(40 + k).sequence for k in range(4))
    metric = PasswordMetric(
        mean=np.zeros(12, np.float32), projection=np.eye(12, dtype=np.float32), cohort=cohort, cohort_groups=(1, 1, 2, 3)
    )
    metric.save(tmp_path / "m.npz")
    back = PasswordMetric.load(tmp_path / "m.npz")
    assert back.cohort_groups == (1, 1, 2, 3) and all(np.allclose(a, b, atol=2e-3) for a, b in zip(back.cohort, cohort, strict=True))
    assert back.without_groups([1]).cohort_groups == (2, 3) and len(back.without_groups([1, 2, 3]).cohort) == 0
    monkeypatch.setattr(password, "load_metric", lambda: metric)
    tpl = enrol_password([_take(k, base=signal) for k in range(3)])  # default config: metric + cohort
    attempt = _take(7, base=signal)
    res = check_password(tpl, attempt)
    d = min(dtw_distance(attempt.sequence, s) for s in tpl.sequences)
    c = float(np.mean([dtw_distance(attempt.sequence, s) for s in cohort]))
    assert res.score == pytest.approx(1 - d / c) and res.details["cohort_distance"] == pytest.approx(c) and res.accepted
    # a negative group is a corpus of its own: the nearer corpus (by mean distance) normalises
    near = _take(60, base=signal + 0.8 * np.random.default_rng(1).normal(size=signal.shape))
    two = PasswordMetric(mean=metric.mean, projection=metric.projection, cohort=(*cohort, near.sequence), cohort_groups=(1, 1, 2, 3, -1))
    monkeypatch.setattr(password, "load_metric", lambda: two)
    c_near = dtw_distance(attempt.sequence, near.sequence)
    assert c_near < c and check_password(tpl, attempt).score == pytest.approx(1 - d / c_near)
    monkeypatch.setattr(password, "load_metric", lambda: metric)
    other = check_password(tpl, _take(41))  # a cohort take itself: about as far as the cohort
    assert other.score < 0.32 and not other.accepted
    with pytest.raises(InputError, match="columns but the password metric's cohort has 12"):
        match_password(PasswordTemplate(tuple(s[:, :5] for s in tpl.sequences), tpl.pair_distances, tpl.config), attempt.sequence[:, :5])
    monkeypatch.setattr(password, "load_metric", lambda: metric.without_groups([1, 2, 3]))
    with pytest.raises(BackendUnavailableError, match="no cohort takes"):
        check_password(tpl, attempt)


def test_batched_cohort_dtw_equals_dtw_distance() -> None:
    from lipauth.checks.password import _dtw_to_many
    from lipauth.features.sequence import dtw_distance

    rng = np.random.default_rng(3)
    refs = [rng.normal(size=(m, 6)) for m in (4, 9, 30, 31, 75, 8, 200)]
    for n in (3, 12, 90):
        q = rng.normal(size=(n, 6))
        for band in (0.2, 0.5, 1.0):
            want = [dtw_distance(q, r, band=band) for r in refs]
            assert np.allclose(_dtw_to_many(q, refs, band=band), want, rtol=1e-12), (n, band)


# --------------------------------------------------------------------------------------
# synthetic faces: one control signal at other speeds, scales and head poses


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
    assert not res.accepted and "OUTSIDE_SPREAD" in res.reasons, (res.score, res.reasons)
    _, same = tracked_take("A", 1.25, 150.0, False, 5)
    assert check_password(synth_template, same).score > res.score + 0.05
