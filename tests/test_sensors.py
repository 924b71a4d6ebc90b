"""Device motion: parsing, validation, hand-held vs rig/emulator vs replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from liveness_sessions import motion_trace

from lipauth.checks.sensors import SensorProfile, build_sensor_profile, check_sensors, parse_sensor_json
from lipauth.errors import SensorDataError


def _parse(kind: str, seed: int = 0):
    return parse_sensor_json(motion_trace(kind, seed=seed))


def test_hand_vs_rig_vs_emulator() -> None:
    for seed in range(5):
        hand = check_sensors(_parse("hand", seed))
        assert hand.accepted and hand.available and hand.reasons == ()
        assert hand.details["features"]["tremor_ratio"] > 0.5
        for kind in ("rig", "emulator"):
            r = check_sensors(_parse(kind, seed))
            assert not r.accepted and "STATIC_DEVICE" in r.reasons and r.score < hand.score


def test_profile_consistency_and_replay() -> None:
    profile = build_sensor_profile([_parse("hand", s) for s in range(10, 15)])
    assert SensorProfile.from_dict(json.loads(json.dumps(profile.to_dict()))).median_ == profile.median_
    for seed in range(3):
        r = check_sensors(_parse("hand", seed), profile)
        assert r.accepted, r
    replay = check_sensors(_parse("hand", 12), profile)
    assert "REPLAYED_TRACE" in replay.reasons and not replay.accepted
    weak = check_sensors(parse_sensor_json(motion_trace("hand", seed=1, tremor_gain=8.0)), profile)
    assert "MOTION_UNLIKE_PROFILE" in weak.reasons


def test_no_sensors_is_not_available() -> None:
    r = check_sensors(None)
    assert not r.available and r.reasons == ("NO_SENSOR_DATA",) and np.isnan(r.score)


def test_accepts_object_and_string() -> None:
    trace = motion_trace("hand", seed=1)
    a = parse_sensor_json(json.dumps({"samples": trace}))
    assert a.n_samples == len(trace) and a.t_s[0] == 0.0


@pytest.mark.parametrize(
    "data,match",
    [
        ("{not json", "not valid JSON"),
        ("[]", "non-empty JSON list"),
        ('[1, 2]', "sample 0 is a int"),
        ('[{"t_ms": 0, "ax": 0, "ay": 0, "az": 9.8, "alpha": 0, "beta": 0}]', "field 'gamma'"),
        ('[{"t_ms": 0, "ax": "x", "ay": 0, "az": 9.8, "alpha": 0, "beta": 0, "gamma": 0}]', "field 'ax'"),
    ],
)
def test_malformed(data: str, match: str) -> None:
    with pytest.raises(SensorDataError, match=match):
        parse_sensor_json(data)


def test_unordered_and_impossible() -> None:
    trace = motion_trace("hand", seed=2)
    swapped = [dict(s) for s in trace]
    swapped[5]["t_ms"], swapped[6]["t_ms"] = swapped[6]["t_ms"], swapped[5]["t_ms"]
    with pytest.raises(SensorDataError, match="not strictly increasing at sample 6"):
        parse_sensor_json(swapped)
    loud = [dict(s) for s in trace]
    loud[3]["az"] = 500.0
    with pytest.raises(SensorDataError, match="impossible"):
        parse_sensor_json(loud)
    tilted = [dict(s) for s in trace]
    tilted[4]["gamma"] = 120.0
    with pytest.raises(SensorDataError, match="gamma=120.0 is outside"):
        parse_sensor_json(tilted)
    nan = [dict(s) for s in trace]
    nan[2]["ax"] = float("nan")
    with pytest.raises(SensorDataError, match="NaN"):
        parse_sensor_json(nan)
    with pytest.raises(SensorDataError, match="at least 1 s"):
        check_sensors(parse_sensor_json(trace[:10]))
    with pytest.raises(SensorDataError, match="at least 2 enrolment"):
        build_sensor_profile([parse_sensor_json(trace)])
