"""Options and result of ``lipauth eval`` (:class:`EvalConfig`, :class:`EvalResult`).

Their own module so that the evaluation flows one way: :mod:`lipauth.eval.runner` (the flow
and the per-clip work) imports :mod:`lipauth.eval.report` (scoring and the report), and both
import this module; neither imports the other back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lipauth.errors import ConfigError
from lipauth.eval.dataset import Dataset

__all__ = ["CHECKS", "GENERATORS", "EvalConfig", "EvalResult"]

CHECKS = ("sync", "password")
GENERATORS = ("shift", "swap", "still", "replay")


@dataclass(frozen=True)
class EvalConfig:
    """Options of :func:`~lipauth.eval.runner.run_evaluation` (the CLI's flags).

    Attributes
    ----------
    checks : tuple of str
        Subset of :data:`CHECKS`.
    generate : tuple of str
        Attacks generated from bona fide clips (subset of :data:`GENERATORS`).
    tune_fraction : float
        Share of each (label, user, phrase) group's clips in the tuning split (rows whose
        ``split`` column is empty; the others keep theirs).
    seed : int
        Split seed.
    shift_ms : float
        Audio delay of the ``shift`` attack, milliseconds.
    replay_period_s : float
        Length of the looped lip track of the ``replay`` attack, seconds.
    n_bootstrap : int
        Bootstrap resamples for the confidence intervals.
    """

    checks: tuple[str, ...] = CHECKS
    generate: tuple[str, ...] = ()
    tune_fraction: float = 0.5
    seed: int = 0
    shift_ms: float = 500.0
    replay_period_s: float = 0.5
    n_bootstrap: int = 1000

    def __post_init__(self) -> None:
        bad = [c for c in self.checks if c not in CHECKS]
        if bad or not self.checks:
            raise ConfigError(f"checks={','.join(self.checks)!r}: unknown {','.join(bad) or 'empty list'}; use some of {','.join(CHECKS)}")
        bad = [g for g in self.generate if g not in GENERATORS]
        if bad:
            raise ConfigError(f"generate={','.join(self.generate)!r}: unknown attack {','.join(bad)}; use some of {','.join(GENERATORS)}")
        if not 0.0 < self.tune_fraction < 1.0:
            raise ConfigError(f"tune_fraction={self.tune_fraction!r}; pass a fraction strictly between 0 and 1")
        if not 40.0 <= abs(self.shift_ms) <= 5000.0:
            raise ConfigError(f"shift_ms={self.shift_ms!r}; pass 40 to 5000 ms")
        if not 0.04 <= self.replay_period_s <= 5.0:
            raise ConfigError(f"replay_period_s={self.replay_period_s!r}; pass 0.04 to 5 s")
        if self.n_bootstrap < 10:
            raise ConfigError(f"n_bootstrap={self.n_bootstrap!r}; pass at least 10 resamples")

    def clip_settings(self) -> dict[str, Any]:
        """What changes the per-clip results (hashed by the batch engine).

        Besides the options: the SHA-256 (16 hex digits) of every shipped model file and,
        with the password check, the default :class:`~lipauth.checks.password.PasswordConfig`,
        so resuming after a model or take setting changed is refused instead of mixing
        stale cached takes with the new scoring.
        """
        import hashlib

        from lipauth import __version__

        models = Path(__file__).resolve().parents[1] / "checks" / "models"
        out: dict[str, Any] = {
            "task": "eval", "lipauth": __version__, "checks": sorted(self.checks), "generate": sorted(self.generate),
            "shift_ms": self.shift_ms, "replay_period_s": self.replay_period_s,
            "models": {f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in sorted(models.glob("*.npz"))},
        }
        if "password" in self.checks:
            from lipauth.checks.password import PasswordConfig

            out["password_config"] = repr(PasswordConfig())
        return out


@dataclass
class EvalResult:
    """Everything :func:`~lipauth.eval.runner.run_evaluation` produced (also written to ``out_dir``)."""

    out_dir: Path
    dataset: Dataset
    split: dict[str, str]
    scores: list[dict[str, Any]]
    thresholds: dict[str, Any]
    metrics: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
