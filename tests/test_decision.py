"""decide(results, policy): required/optional checks, threshold overrides, bad input."""

from __future__ import annotations

import math

import pytest

from lipauth.decision import Decision, Policy, decide
from lipauth.errors import ConfigError
from lipauth.types import CheckResult


def _r(check: str, score: float, threshold: float = 0.5, reasons: tuple[str, ...] = (), available: bool = True) -> CheckResult:
    return CheckResult(check=check, score=score, threshold=threshold, accepted=available and score >= threshold and not reasons,
                       reasons=reasons, available=available)


def test_password_only_by_default() -> None:
    ok = decide([_r("password", 0.8)])
    assert ok == Decision(True, (), {"password": (0.8, 0.5)})
    bad = decide([_r("password", 0.3, reasons=("MISMATCH",))])
    assert not bad.accepted and bad.reasons == ("PASSWORD:MISMATCH",)
    assert decide([]).reasons == ("PASSWORD:MISSING",)


def test_required_optional_and_unavailable() -> None:
    pol = Policy(required=("password", "sync"), optional=("blow",))
    res = decide([_r("password", 0.9), _r("sync", math.nan, available=False, reasons=("NO_AUDIO",))], pol)
    assert not res.accepted and res.reasons == ("SYNC:UNAVAILABLE", "SYNC:NO_AUDIO")
    res = decide({"p": _r("password", 0.9), "s": _r("sync", 0.7), "b": _r("blow", 0.1)}, pol)
    assert res.reasons == ("BLOW:BELOW_THRESHOLD",)
    lax = Policy(required=("password",), optional=("blow",), optional_must_pass=False)
    assert decide([_r("password", 0.9), _r("blow", 0.1)], lax).accepted


def test_threshold_override() -> None:
    pol = Policy(thresholds={"password": 0.2})
    res = decide([_r("password", 0.3, reasons=("MISMATCH",))], pol)
    assert res.accepted and res.scores["password"] == (0.3, 0.2)
    assert Policy.from_dict(pol.to_dict()) == pol
    assert decide([_r("password", 0.3)], Policy(thresholds={"password": 0.9})).reasons == ("PASSWORD:BELOW_THRESHOLD",)
    assert decide([_r("password", 0.9)]).to_dict() == {
        "accepted": True, "reasons": [], "scores": {"password": {"score": 0.9, "threshold": 0.5}}
    }


def test_bad_policy_and_results() -> None:
    with pytest.raises(ConfigError, match="Policy names unknown check 'face'"):
        Policy(required=("face",))
    with pytest.raises(ConfigError, match=r"lists \['sync'\] as both required and optional"):
        Policy(required=("password", "sync"), optional=("sync",))
    with pytest.raises(ConfigError, match=r"Policy.thresholds\['password'\]=nan is not a finite number"):
        Policy(thresholds={"password": math.nan})
    with pytest.raises(ConfigError, match="decide\\(\\) got a dict"):
        decide([{"check": "password"}])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="two results of check 'password'"):
        decide([_r("password", 0.9), _r("password", 0.8)])
