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

    def use(self, nonce: str, *, expires_at: float) -> bool:
        """Mark ``nonce`` used; False when it already was (a replayed challenge)."""
        return self.store.use_nonce(nonce, expires_at=expires_at)

    def __len__(self) -> int:
        return self.store.nonce_count()
