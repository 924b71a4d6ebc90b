"""Liveness checks over features: each returns a :class:`~lipauth.types.CheckResult`.

``check_sync(features, audio)`` (:mod:`lipauth.checks.sync`): do the lips move with the voice?
"""

from __future__ import annotations

from lipauth.checks.sync import SyncModel, SyncResult, check_sync, load_sync_model

__all__ = ["SyncModel", "SyncResult", "check_sync", "load_sync_model"]
