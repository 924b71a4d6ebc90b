"""Persistent state: users, encrypted password templates, lock-out, used nonces, attempts, audit.

``Store(url=None)`` opens (and migrates) the database: ``$LIPAUTH_STORE_URL`` or a SQLite
file in ``$LIPAUTH_DATA_DIR``. Templates are AES-256-GCM encrypted
(:mod:`lipauth.store.crypto`); raw video is never stored. :class:`SqlNonceStore` persists
challenge nonces (the :class:`lipauth.challenge.NonceStore` protocol).
"""

from __future__ import annotations

from lipauth.store.crypto import KEY_ENV, KeyRing, decrypt_template, encrypt_template, key_id, load_keyring, new_key
from lipauth.store.db import URL_ENV, LockoutPolicy, LockState, Store, UserInfo, default_url
from lipauth.store.nonces import SqlNonceStore

__all__ = [
    "Store",
    "LockoutPolicy",
    "LockState",
    "UserInfo",
    "SqlNonceStore",
    "KeyRing",
    "load_keyring",
    "new_key",
    "key_id",
    "encrypt_template",
    "decrypt_template",
    "default_url",
    "URL_ENV",
    "KEY_ENV",
]
