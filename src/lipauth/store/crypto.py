"""AES-256-GCM encryption of biometric templates at rest, and the key ring.

Key: ``$LIPAUTH_KEY`` (base64 of 32 random bytes) or, when unset, the key file
``config.data_dir() / "template.key"`` (base64, created on first use with mode 0600).
A blob is ``b"LAT1" + key_id (8 bytes) + nonce (12 bytes) + ciphertext+tag``; ``key_id``
is the first 8 bytes of SHA-256 of the key, so a blob written under another key fails
with a message that says so, and a flipped bit fails the GCM tag. The associated data
binds a blob to its user and password label: a template copied to another user's row
does not decrypt.

Rotation (:func:`lipauth.store.Store.rotate_key`) re-encrypts every template in one
transaction. With a key file, the new key is first written to
``template.key.new-<key id>`` (mode 0600), the templates are re-encrypted and committed,
then that file replaces the old key file and stale pending files are removed; a crash at
any point leaves a key ring (:func:`load_keyring`: the key file plus every pending file)
that still reads every template.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from lipauth.config import data_dir
from lipauth.errors import ConfigError, TemplateDecryptError

__all__ = [
    "KEY_ENV",
    "KEY_FILE",
    "KeyRing",
    "new_key",
    "key_id",
    "load_keyring",
    "encrypt_template",
    "decrypt_template",
    "write_key_file",
]

KEY_ENV = "LIPAUTH_KEY"
KEY_FILE = "template.key"
MAGIC = b"LAT1"
_ID_LEN = 8
_NONCE_LEN = 12
log = logging.getLogger(__name__)


def new_key() -> bytes:
    """32 random bytes (an AES-256 key)."""
    return secrets.token_bytes(32)


def key_id(key: bytes) -> bytes:
    """First 8 bytes of SHA-256 of ``key`` (stored with each blob; not secret)."""
    return hashlib.sha256(key).digest()[:_ID_LEN]


def _parse_key(text: str, *, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source} is not valid base64; set it to base64 of 32 random bytes (lipauth keys rotate makes one)") from None
    if len(key) != 32:
        raise ConfigError(f"{source} decodes to {len(key)} bytes; it must be base64 of exactly 32 bytes (AES-256)")
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` as base64 to ``path`` with mode 0600 (created atomically, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True)
class KeyRing:
    """The current key and any older/pending keys that may still decrypt blobs.

    Attributes
    ----------
    current : bytes
        32-byte key new blobs are encrypted with.
    others : tuple of bytes
        Keys tried by id when a blob names one (a pending rotation).
    source : str
        ``"env"`` or the key file path (for messages).
    """

    current: bytes
    others: tuple[bytes, ...] = ()
    source: str = "env"

    def by_id(self, kid: bytes) -> bytes | None:
        for k in (self.current, *self.others):
            if key_id(k) == kid:
                return k
        return None


def load_keyring(*, create: bool = True, directory: Path | None = None) -> KeyRing:
    """The template key ring from ``$LIPAUTH_KEY`` or the key file.

    Parameters
    ----------
    create : bool
        Create the key file (0600) when neither the variable nor the file exists.
    directory : Path, optional
        Where the key file lives (default ``config.data_dir()``).

    Raises
    ------
    ConfigError
        ``LIPAUTH_KEY`` or the file is not base64 of 32 bytes, the file is readable by
        others, or there is no key and ``create`` is False.
    """
    raw = os.environ.get(KEY_ENV, "").strip()
    if raw:
        return KeyRing(current=_parse_key(raw, source=KEY_ENV), source="env")
    folder = directory if directory is not None else data_dir(create=create)
    path = folder / KEY_FILE
    others = [_parse_key(p.read_text(), source=str(p)) for p in sorted(folder.glob(KEY_FILE + ".new-*"))]
    if not path.exists():
        if not create:
            raise ConfigError(f"no template key: {KEY_ENV} is unset and {path} does not exist; set {KEY_ENV} or enrol a user first")
        write_key_file(path, new_key())
        log.info("created template key file %s (mode 0600)", path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path} has mode {mode:o}; the template key must be private: chmod 600 {path}")
    return KeyRing(current=_parse_key(path.read_text(), source=str(path)), others=tuple(others), source=str(path))


def _aad(user: str, label: str) -> bytes:
    return b"lipauth-template\x00" + user.encode() + b"\x00" + label.encode()


def encrypt_template(plain: bytes, *, key: bytes, user: str, label: str) -> bytes:
    """AES-256-GCM encrypt a serialised template, bound to ``user`` and ``label``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE_LEN)
    return MAGIC + key_id(key) + nonce + AESGCM(key).encrypt(nonce, plain, _aad(user, label))


def decrypt_template(blob: bytes, *, keyring: KeyRing, user: str, label: str) -> bytes:
    """Decrypt a blob from :func:`encrypt_template`.

    Raises
    ------
    TemplateDecryptError
        Not a lipauth blob, encrypted under a key the ring does not hold (wrong key),
        or the bytes were changed (GCM tag mismatch).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    head = len(MAGIC) + _ID_LEN + _NONCE_LEN
    blob = bytes(blob)
    if len(blob) < head + 16 or not blob.startswith(MAGIC):
        raise TemplateDecryptError(
            f"template of user {user!r} ({label!r}) is not a lipauth encrypted blob ({len(blob)} bytes); "
            "the row is corrupt: delete the user and enrol again"
        )
    kid = blob[len(MAGIC) : len(MAGIC) + _ID_LEN]
    key = keyring.by_id(kid)
    if key is None:
        raise TemplateDecryptError(
            f"template of user {user!r} ({label!r}) was encrypted with key {kid.hex()}, but the key in use "
            f"({keyring.source}) is {key_id(keyring.current).hex()}; set {KEY_ENV} to the key the store was written with"
        )
    nonce = blob[len(MAGIC) + _ID_LEN : head]
    try:
        return AESGCM(key).decrypt(nonce, blob[head:], _aad(user, label))
    except InvalidTag:
        raise TemplateDecryptError(
            f"template of user {user!r} ({label!r}) fails its integrity check (corrupt or tampered bytes); "
            "delete the user and enrol again"
        ) from None
