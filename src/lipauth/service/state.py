"""What the routes share at run time (``app.state.lipauth``): one module that both the app and the routes import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lipauth.service.metrics import Metrics
from lipauth.service.pool import AnalysisPool
from lipauth.service.security import KeyChecker, RateLimiter
from lipauth.service.settings import Settings

__all__ = ["AppState"]


@dataclass
class AppState:
    """Everything the routes share (``app.state.lipauth``)."""

    settings: Settings
    store: Any
    keys: KeyChecker
    key_rate: RateLimiter
    user_rate: RateLimiter
    pool: AnalysisPool
    metrics: Metrics
    challenge_key: bytes
