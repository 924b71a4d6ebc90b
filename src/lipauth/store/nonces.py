"""A SQL-backed :class:`lipauth.challenge.NonceStore`: used challenge nonces survive restarts
and are shared by every process on the same database."""

from __future__ import annotations

from lipauth.store.db import Store

__all__ = ["SqlNonceStore"]


class SqlNonceStore:
    """Remembers used nonces in the store's ``nonces`` table (rows purged an hour after expiry).

    Parameters
    ----------
    store : Store
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def use(self, nonce: str, *, expires_at: float, now_s: float | None = None) -> bool:
        """Mark ``nonce`` used; False when it already was (a replayed challenge).

        Nonces whose challenge expired before ``now_s`` (default: now) are forgotten.
        """
        return self.store.use_nonce(nonce, expires_at=expires_at, now_s=now_s)

    def __len__(self) -> int:
        return self.store.nonce_count()
