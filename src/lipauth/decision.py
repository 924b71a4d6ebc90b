"""Decide over check results with a configurable policy.

``decide(results, policy) -> Decision``: a required check that is missing, unavailable or
below its threshold rejects; optional checks that ran are reported (and reject too when
``policy.optional_must_pass``). The thresholds come from the checks themselves unless the
policy overrides them, so a check's own default (tuned on the data its docstring names)
is used by default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lipauth.errors import ConfigError
from lipauth.types import CheckResult

__all__ = ["Policy", "Decision", "decide"]

#: checks lipauth knows (``Policy.required`` may name only these)
KNOWN_CHECKS = ("password", "sync", "blow", "speech", "sensors", "commands", "challenge")


@dataclass(frozen=True)
class Policy:
    """Which checks must pass and at which thresholds.

    Attributes
    ----------
    required : tuple of str
        Checks that must be present, available and accepted (default: the lip password).
    optional : tuple of str
        Checks run when their inputs are present (e.g. ``"sync"`` when the clip has
        audio); reported, and rejecting only when ``optional_must_pass``.
    thresholds : mapping of str to float
        Per-check threshold overrides: with one, the check passes when available and
        ``score >= threshold`` (its own ``accepted`` is ignored); without, the check's
        ``accepted`` (its own default threshold) decides.
    optional_must_pass : bool
        An optional check that ran and failed rejects the attempt.
    """

    required: tuple[str, ...] = ("password",)
    optional: tuple[str, ...] = ()
    thresholds: Mapping[str, float] = field(default_factory=dict)
    optional_must_pass: bool = True

    def __post_init__(self) -> None:
        for name in (*self.required, *self.optional, *self.thresholds):
            if name not in KNOWN_CHECKS:
                raise ConfigError(f"Policy names unknown check {name!r}; known: {', '.join(KNOWN_CHECKS)}")
        both = set(self.required) & set(self.optional)
        if both:
            raise ConfigError(f"Policy lists {sorted(both)} as both required and optional; list each check once")
        for name, value in self.thresholds.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"Policy.thresholds[{name!r}]={value!r} is not a finite number; give a float")
        object.__setattr__(self, "required", tuple(self.required))
        object.__setattr__(self, "optional", tuple(self.optional))
        object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))

    @property
    def checks(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)

    def to_dict(self) -> dict[str, Any]:
        return {
            "required": list(self.required),
            "optional": list(self.optional),
            "thresholds": dict(self.thresholds),
            "optional_must_pass": self.optional_must_pass,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        return cls(
            required=tuple(data.get("required", ("password",))),
            optional=tuple(data.get("optional", ())),
            thresholds=dict(data.get("thresholds", {})),
            optional_must_pass=bool(data.get("optional_must_pass", True)),
        )


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide`.

    Attributes
    ----------
    accepted : bool
    reasons : tuple of str
        Stable upper-case codes, each prefixed with its check (``"PASSWORD:MISMATCH"``,
        ``"SYNC:MISSING"``); empty when accepted.
    scores : dict of str to (score, threshold)
        Every check that ran, with the threshold the decision used (NaN score when
        unavailable).
    """

    accepted: bool
    reasons: tuple[str, ...] = ()
    scores: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "accepted": self.accepted,
            "reasons": list(self.reasons),
            "scores": {k: {"score": num(s), "threshold": num(t)} for k, (s, t) in self.scores.items()},
        }


def decide(results: Iterable[CheckResult] | Mapping[str, CheckResult], policy: Policy | None = None) -> Decision:
    """Accept when every required check passed (and every optional one that ran, if asked).

    Parameters
    ----------
    results : iterable of CheckResult, or mapping of check name to CheckResult
    policy : Policy, optional

    Returns
    -------
    Decision

    Raises
    ------
    ConfigError
        ``results`` holds something other than CheckResult, or two results of the same check.
    """
    pol = policy or Policy()
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    by_name: dict[str, CheckResult] = {}
    for r in items:
        if not isinstance(r, CheckResult):
            raise ConfigError(f"decide() got a {type(r).__name__}; pass CheckResult objects from the checks")
        if r.check in by_name:
            raise ConfigError(f"decide() got two results of check {r.check!r}; pass one per check")
        by_name[r.check] = r
    reasons: list[str] = []
    scores: dict[str, tuple[float, float]] = {}
    for name, r in by_name.items():
        thr = float(pol.thresholds.get(name, r.threshold))
        scores[name] = (float(r.score), thr)
        blocking = name in pol.required or (name in pol.optional and pol.optional_must_pass)
        if not blocking:
            continue
        tag = name.upper()
        if not r.available:
            reasons.append(f"{tag}:UNAVAILABLE")
            reasons.extend(f"{tag}:{c}" for c in r.reasons)
            continue
        if name in pol.thresholds:  # the policy's threshold replaces the check's own score test
            passed = math.isfinite(r.score) and r.score >= thr
        else:
            passed = bool(r.accepted)
        if not passed:
            codes = [c for c in r.reasons] or ["BELOW_THRESHOLD"]
            reasons.extend(f"{tag}:{c}" for c in codes)
    for name in pol.required:
        if name not in by_name:
            reasons.append(f"{name.upper()}:MISSING")
    return Decision(accepted=not reasons, reasons=tuple(reasons), scores=scores)
