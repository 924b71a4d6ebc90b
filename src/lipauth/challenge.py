"""Random, signed, expiring challenge schedules (blow at the screen, timed speech).

A :class:`Challenge` is a schedule of prompt windows the client must answer in the order
and at the times given (``t = 0`` is the first video frame of the response), with a
random nonce, an issue and an expiry time and an HMAC-SHA256 signature over a canonical
JSON of every other field (``type`` and ``version`` included; a field the format does not
have is refused), so a client cannot move a window, extend the expiry or change anything. A
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
_TYPE = "Challenge"
#: every field of a challenge's JSON; any other key is refused (it would not be signed)
_FIELDS = frozenset({"type", "version", "kind", "windows", "duration_s", "nonce", "issued_at", "expires_at", "signature",
                     "subject"})
#: shortest lead-in before the first window: the mouth-shape check calibrates on these
#: neutral frames; each challenge adds a random 0-1 s to it
LEAD_IN_S = 1.0
LEAD_IN_EXTRA_S = 1.0
#: shortest pause between two windows (so a window's edges are unambiguous)
MIN_GAP_S = 0.7
#: rest after the last window, seconds
TAIL_S = 0.6
#: window lengths and rests are drawn from these levels (seconds). Blow: 0.45 s apart; an
#: answer's pursed-lips edges must agree with one reaction lag within
#: lipauth.checks.blow.MAX_EDGE_SPREAD_S (0.28 s), so an answer to one schedule fits another
#: only when all 2n - 1 intervals are equal: 5 ** -3 * 4 ** -2 = 1/2000 for n = 3 windows.
#: Speech: window lengths 0.75 s apart and rests 0.4 s apart (4 x 6 levels). A speech
#: answer is timed by its onsets (spread <= lipauth.checks.speech.SPEECH_MAX_ONSET_SPREAD_S,
#: 0.3 s: a rest off by 0.4 s moves the later onsets by that much) while each run may end
#: 0.25 s early to 0.5 s late (real people stop at the end of a word): a window length off
#: by 0.75 s = 0.25 + 0.5 puts its offset outside that band. Identical speech schedules:
#: 4 ** -3 * 6 ** -2 = 1/2304; with real people's edge timing about 1 pair in 2400 is
#: confusable for an attacker who shifts a recording in time (nearly all of them identical
#: schedules), 1 in 3800 unshifted (``benchmarks/accuracy_liveness.py --simulate``; was 5 x 4
#: levels 0.5 s apart under one 0.3-s spread limit over all edges: 1 in 1700 / 2700 on the
#: synthetic face's timing, but real speakers' answers were rejected 1 in 4).
WINDOW_LEVELS_S: dict[str, tuple[float, ...]] = {
    "blow": (0.8, 1.25, 1.7, 2.15, 2.6), "speech": (1.0, 1.75, 2.5, 3.25),
}
REST_LEVELS_S: dict[str, tuple[float, ...]] = {
    "blow": (0.7, 1.15, 1.6, 2.05), "speech": (0.7, 1.1, 1.5, 1.9, 2.3, 2.7),
}
#: windows per challenge (3: blow schedules 5.4-14.5 s, mean 9.95 s; speech 6.0-17.75 s,
#: mean 11.9 s, under the service's 20-s clip limit; session 2 had 4 windows from levels
#: 0.5 s apart: 13-14 s for 1/16384)
N_WINDOWS = 3


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
        The user the challenge was issued for ("" = not bound to a user).
    version : int
        Format version (1); signed like every other field, and only version 1 verifies.
    """

    kind: str
    windows: tuple[tuple[float, float, str], ...]
    duration_s: float
    nonce: str
    issued_at: float
    expires_at: float
    signature: str = ""
    subject: str = ""
    version: int = _VERSION

    def content(self) -> dict[str, Any]:
        """Everything the signature covers: every field but ``signature`` (``type`` and ``version`` too)."""
        out = {
            "type": _TYPE,
            "version": self.version,
            "kind": self.kind,
            "windows": [[round(float(a), 3), round(float(b), 3), str(p)] for a, b, p in self.windows],
            "duration_s": round(float(self.duration_s), 3),
            "nonce": self.nonce,
            "issued_at": round(float(self.issued_at), 3),
            "expires_at": round(float(self.expires_at), 3),
            "subject": self.subject,
        }
        return out

    def canonical(self) -> bytes:
        """Canonical JSON of :meth:`content` (sorted keys, no spaces, UTF-8)."""
        return json.dumps(self.content(), sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        """Parse a challenge dict; :class:`ChallengeTamperedError` when fields are missing or malformed."""
        if not isinstance(data, dict):
            raise ChallengeTamperedError(
                f"challenge is a {type(data).__name__}, not a JSON object; pass the JSON that 'lipauth challenge new' printed"
            )
        unknown = sorted(str(k) for k in data if k not in _FIELDS)
        if unknown:
            raise ChallengeTamperedError(
                f"challenge has fields {unknown[:5]} that the format does not have (and no signature covers); "
                "send the challenge unchanged"
            )
        if data.get("type", _TYPE) != _TYPE:
            raise ChallengeTamperedError(f"challenge type is {str(data.get('type'))[:40]!r}, not {_TYPE!r}; send the challenge unchanged")
        try:
            windows = tuple((float(a), float(b), str(p)) for a, b, p in data["windows"])
            version = data.get("version", _VERSION)
            if isinstance(version, bool) or not isinstance(version, int):
                raise TypeError(f"version is {version!r}, not an integer")
            return cls(
                kind=str(data["kind"]),
                windows=windows,
                duration_s=float(data["duration_s"]),
                nonce=str(data["nonce"]),
                issued_at=float(data["issued_at"]),
                expires_at=float(data["expires_at"]),
                signature=str(data.get("signature", "")),
                subject=str(data.get("subject", "") or ""),
                version=version,
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
    rng: np.random.Generator, n: int, lengths_s: tuple[float, ...], rests_s: tuple[float, ...], prompt: str
) -> tuple[tuple[tuple[float, float, str], ...], float]:
    """``n`` windows after a random lead-in, lengths and rests drawn from the given levels.

    Returns the windows and the schedule's duration (last window end + ``TAIL_S``).
    """
    t = LEAD_IN_S + float(rng.uniform(0.0, LEAD_IN_EXTRA_S))
    out = []
    for i in range(n):
        if i:
            t += float(rng.choice(rests_s))
        length = float(rng.choice(lengths_s))
        start = round(t, 2)
        out.append((start, round(start + length, 2), prompt))
        t = start + length
    return tuple(out), round(t + TAIL_S, 2)


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
        ``"blow"``: 3 blow windows of 0.8, 1.25, 1.7, 2.15 or 2.6 s, rests of 0.7, 1.15, 1.6
        or 2.05 s; ``"speech"``: 3 speak windows of 1.0, 1.75, 2.5 or 3.25 s, rests of 0.7,
        1.1, 1.5, 1.9, 2.3 or 2.7 s. A random lead-in of 1.0-2.0 s (calibration of the neutral
        mouth) and a 0.6-s tail: blow 5.4-14.5 s (mean and median 9.95 s), speech 6.0-17.75 s
        (mean 11.9 s). Lengths and rests come from levels far enough apart that two schedules
        are either identical in an interval or differ there by more than the checks' timing
        tolerance (see ``WINDOW_LEVELS_S``): 1 in 2000 pairs of blow schedules, 1 in 2304
        pairs of speech schedules are identical.
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
    prompt = CHALLENGE_KINDS[kind][0]
    windows, duration = _random_windows(gen, N_WINDOWS, WINDOW_LEVELS_S[kind], REST_LEVELS_S[kind], prompt)
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
    if ch.version != _VERSION:
        raise ChallengeTamperedError(f"challenge version {ch.version!r} is not {_VERSION}; request a new challenge")
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
