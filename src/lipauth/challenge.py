"""Random, signed, expiring challenge schedules (blow at the screen, timed speech).

A :class:`Challenge` is a schedule of prompt windows the client must answer in the order
and at the times given (``t = 0`` is the first video frame of the response), with a
random nonce, an issue and an expiry time and an HMAC-SHA256 signature over a canonical
JSON of everything else, so a client cannot move a window or extend the expiry. A
pre-recorded or replayed video cannot follow a schedule it has never seen.

Key: ``$LIPAUTH_CHALLENGE_KEY`` (any string, used as UTF-8 bytes) or a random 32-byte key
in ``config.data_dir() / "challenge.key"`` created on first use with mode 0600.

Verifying (:func:`verify_challenge`) checks the signature, the expiry and single use:
the nonce goes to a :class:`NonceStore` (here :class:`MemoryNonceStore`; the store layer
persists them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lipauth.config import data_dir
from lipauth.errors import (
    ChallengeExpiredError,
    ChallengeReusedError,
    ChallengeSubjectError,
    ChallengeTamperedError,
    ConfigError,
)

__all__ = [
    "CHALLENGE_KINDS",
    "Challenge",
    "NonceStore",
    "MemoryNonceStore",
    "new_challenge",
    "verify_challenge",
    "sign_challenge",
    "challenge_key",
]

#: kinds of challenge and the prompt labels their windows carry
CHALLENGE_KINDS: dict[str, tuple[str, ...]] = {"blow": ("blow",), "speech": ("speak",)}
KEY_ENV = "LIPAUTH_CHALLENGE_KEY"
KEY_FILE = "challenge.key"
_VERSION = 1
#: lead-in before the first window: the mouth-shape check calibrates on these neutral frames
LEAD_IN_S = 1.2
#: shortest pause between two windows (so a window's edges are unambiguous)
MIN_GAP_S = 0.9
#: share of the schedule's free room the windows may fill (the rest is random slack)
FILL = 0.6


@dataclass(frozen=True)
class Challenge:
    """A signed prompt schedule.

    Attributes
    ----------
    kind : str
        ``"blow"`` or ``"speech"``.
    windows : tuple of (start_s, end_s, prompt)
        Prompt windows in seconds from the first frame of the response; ``prompt`` is
        ``"blow"`` or ``"speak"``. Outside them the person rests (mouth neutral, quiet).
    duration_s : float
        Length of the whole schedule; the response clip must be at least this long.
    nonce : str
        32 hex characters, random; a response may use it once.
    issued_at, expires_at : float
        Unix times in seconds.
    signature : str
        Hex HMAC-SHA256 of :meth:`canonical` under the server key ("" when unsigned).
    subject : str
        The user the challenge was issued for ("" = not bound to a user). Covered by the
        signature only when non-empty, so signatures of unbound challenges stay as they were.
    """

    kind: str
    windows: tuple[tuple[float, float, str], ...]
    duration_s: float
    nonce: str
    issued_at: float
    expires_at: float
    signature: str = ""
    subject: str = ""

    def content(self) -> dict[str, Any]:
        """Everything the signature covers (all fields but ``signature``)."""
        out = {
            "version": _VERSION,
            "kind": self.kind,
            "windows": [[round(float(a), 3), round(float(b), 3), str(p)] for a, b, p in self.windows],
            "duration_s": round(float(self.duration_s), 3),
            "nonce": self.nonce,
            "issued_at": round(float(self.issued_at), 3),
            "expires_at": round(float(self.expires_at), 3),
        }
        if self.subject:
            out["subject"] = self.subject
        return out

    def canonical(self) -> bytes:
        """Canonical JSON of :meth:`content` (sorted keys, no spaces, UTF-8)."""
        return json.dumps(self.content(), sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Challenge", **self.content(), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        """Parse a challenge dict; :class:`ChallengeTamperedError` when fields are missing or malformed."""
        if not isinstance(data, dict):
            raise ChallengeTamperedError(
                f"challenge is a {type(data).__name__}, not a JSON object; pass the JSON that 'lipauth challenge new' printed"
            )
        try:
            windows = tuple((float(a), float(b), str(p)) for a, b, p in data["windows"])
            return cls(
                kind=str(data["kind"]),
                windows=windows,
                duration_s=float(data["duration_s"]),
                nonce=str(data["nonce"]),
                issued_at=float(data["issued_at"]),
                expires_at=float(data["expires_at"]),
                signature=str(data.get("signature", "")),
                subject=str(data.get("subject", "") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ChallengeTamperedError(
                f"challenge JSON is malformed ({type(exc).__name__}: {exc}); request a new challenge"
            ) from None

    def prompt_windows(self, prompt: str | None = None) -> list[tuple[float, float]]:
        """``(start_s, end_s)`` of the windows with this prompt (all when None)."""
        return [(a, b) for a, b, p in self.windows if prompt is None or p == prompt]


class NonceStore(Protocol):
    """Remembers used nonces. ``use`` records ``nonce`` and returns False when it was already
    used; it may forget nonces whose challenge expired before ``now_s``."""

    def use(self, nonce: str, *, expires_at: float, now_s: float) -> bool: ...


class MemoryNonceStore:
    """In-memory :class:`NonceStore` (one process; forgets nonces after they expire)."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}

    def use(self, nonce: str, *, expires_at: float, now_s: float) -> bool:
        # an expired challenge is refused by its expiry, so its nonce can be forgotten
        for k in [k for k, exp in self._used.items() if exp < now_s]:
            del self._used[k]
        if nonce in self._used:
            return False
        self._used[nonce] = float(expires_at)
        return True

    def __contains__(self, nonce: object) -> bool:
        return nonce in self._used

    def __len__(self) -> int:
        return len(self._used)


def challenge_key(*, create: bool = True) -> bytes:
    """The signing key: ``$LIPAUTH_CHALLENGE_KEY`` or the key file in ``data_dir()``.

    The key file (32 random bytes, hex) is created with mode 0600 on first use.
    """
    raw = os.environ.get(KEY_ENV, "")
    if raw.strip():
        return raw.strip().encode("utf-8")
    path = data_dir(create=create) / KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"no challenge key: set {KEY_ENV} or create {path} (run 'lipauth challenge new' once)")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(f"challenge key file {path} holds {len(key)} characters; delete it to make a new one")
    return key.encode("ascii")


def _key_bytes(key: bytes | str | None) -> bytes:
    if key is None:
        return challenge_key()
    out = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(out) < 16:
        raise ConfigError(f"challenge key has {len(out)} bytes; pass at least 16 bytes")
    return out


def sign_challenge(challenge: Challenge, *, key: bytes | str | None = None) -> str:
    """Hex HMAC-SHA256 of ``challenge.canonical()``."""
    return hmac.new(_key_bytes(key), challenge.canonical(), hashlib.sha256).hexdigest()


def _random_windows(
    rng: np.random.Generator, n: int, duration_s: float, len_lo: float, len_hi: float, prompt: str
) -> tuple[tuple[float, float, str], ...]:
    """``n`` windows of ``len_lo..len_hi`` s in ``[LEAD_IN_S, duration_s - 0.6]``, gaps >= MIN_GAP_S."""
    # windows may fill at most 60 % of the room: the rest is random slack, without which
    # every schedule would look alike and an old answer could fit a new challenge
    while n > 1 and FILL * (duration_s - 0.6 - LEAD_IN_S - MIN_GAP_S * (n - 1)) / n < len_lo:
        n -= 1
    room = duration_s - 0.6 - LEAD_IN_S - MIN_GAP_S * (n - 1)
    lengths = rng.uniform(len_lo, max(len_lo, min(len_hi, FILL * room / n)), size=n)
    free = max(room - lengths.sum(), 0.0)
    # split the free time at random among the n + 1 gaps
    cuts = np.sort(rng.uniform(0.0, free, size=n))
    gaps = np.diff(np.concatenate([[0.0], cuts]))
    out = []
    t = LEAD_IN_S
    for i in range(n):
        t += gaps[i] + (MIN_GAP_S if i else 0.0)
        start = round(float(t), 2)
        out.append((start, round(start + round(float(lengths[i]), 2), 2), prompt))
        t += lengths[i]
    return tuple(out)


def new_challenge(
    kind: str,
    *,
    rng: np.random.Generator | int | None = None,
    key: bytes | str | None = None,
    now_s: float | None = None,
    ttl_s: float = 120.0,
    subject: str = "",
) -> Challenge:
    """Make a random, signed challenge schedule.

    Parameters
    ----------
    kind : {"blow", "speech"}
        ``"blow"``: 2-3 blow windows of 0.8-2 s within a 6-8 s schedule (3 only when
        they leave 40 % of the free room as random slack).
        ``"speech"``: 2-3 speak windows of 1.0-2.0 s within 6-8 s; rest between them.
        Every schedule starts with a rest of at least 1.2 s (calibration of the neutral
        mouth) and keeps at least 0.9 s between windows.
    rng : numpy Generator or int seed, optional
        Randomness for the schedule (the nonce always comes from ``secrets``).
    key : bytes or str, optional
        Signing key; default :func:`challenge_key`.
    now_s : float, optional
        Issue time (Unix seconds); default now.
    ttl_s : float
        Seconds until it expires (5 to 86400).
    subject : str, optional
        Bind the challenge to this user name (signed); :func:`verify_challenge` with
        ``subject=`` then refuses it for anyone else.

    Returns
    -------
    Challenge
    """
    if kind not in CHALLENGE_KINDS:
        raise ConfigError(f"challenge kind={kind!r}; pass one of {sorted(CHALLENGE_KINDS)}")
    if not (5.0 <= float(ttl_s) <= 86400.0):
        raise ConfigError(f"ttl_s={ttl_s!r} is out of range; allowed 5 to 86400 seconds")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    duration = round(float(gen.uniform(6.0, 8.0)), 2)
    n = int(gen.integers(2, 4))
    if kind == "blow":
        windows = _random_windows(gen, n, duration, 0.8, 2.0, "blow")
    else:
        windows = _random_windows(gen, n, duration, 1.0, 2.0, "speak")
    now = time.time() if now_s is None else float(now_s)
    ch = Challenge(
        kind=kind, windows=windows, duration_s=duration, nonce=secrets.token_hex(16),
        issued_at=now, expires_at=now + float(ttl_s), subject=str(subject),
    )
    return Challenge(**{**ch.__dict__, "signature": sign_challenge(ch, key=key)})


def verify_challenge(
    challenge: Challenge | dict[str, Any],
    *,
    key: bytes | str | None = None,
    now_s: float | None = None,
    nonce_store: NonceStore | None = None,
    subject: str | None = None,
) -> Challenge:
    """Check signature, subject, expiry and single use; return the parsed challenge.

    The nonce is consumed in ``nonce_store`` only when signature and expiry are fine.
    Without a store the single-use check is skipped (e.g. to re-score a stored session).
    With ``subject`` (a user name) the challenge must have been issued for that user
    (an unbound challenge, subject "", matches only ``subject=""``); None skips the check.

    Raises
    ------
    ChallengeTamperedError
        Malformed, or the signature does not match the content (any field changed).
    ChallengeSubjectError
        ``subject`` is given and differs from the challenge's signed subject.
    ChallengeExpiredError
        ``now_s`` is past ``expires_at``.
    ChallengeReusedError
        The nonce was used before.
    """
    ch = challenge if isinstance(challenge, Challenge) else Challenge.from_dict(challenge)
    if ch.kind not in CHALLENGE_KINDS or not ch.windows:
        raise ChallengeTamperedError(f"challenge kind={ch.kind!r} with {len(ch.windows)} windows is not valid; request a new challenge")
    expected = sign_challenge(ch, key=key)
    if not hmac.compare_digest(expected, ch.signature):
        raise ChallengeTamperedError(
            f"challenge {ch.nonce[:8]}...: signature does not match its content (altered or signed with another key); "
            "request a new challenge"
        )
    if subject is not None and not hmac.compare_digest(ch.subject.encode("utf-8"), str(subject).encode("utf-8")):
        raise ChallengeSubjectError(
            f"challenge {ch.nonce[:8]}... was issued for another user, not {subject!r}; request a challenge for this user"
        )
    now = time.time() if now_s is None else float(now_s)
    if now > ch.expires_at:
        raise ChallengeExpiredError(
            f"challenge {ch.nonce[:8]}... expired {now - ch.expires_at:.0f} s ago; request a new challenge"
        )
    if nonce_store is not None and not nonce_store.use(ch.nonce, expires_at=ch.expires_at, now_s=now):
        raise ChallengeReusedError(
            f"challenge {ch.nonce[:8]}... was already answered once; request a new challenge for every attempt"
        )
    return ch
