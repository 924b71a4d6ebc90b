"""API keys (hashed in the store, plus the page's in-memory key), rate limits, user names."""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections import OrderedDict

from fastapi import Request

from lipauth.errors import BadUserNameError, RateLimitedError, UnauthorizedError

__all__ = ["RateLimiter", "KeyChecker", "KeyGateMiddleware", "check_user_name", "USER_RE"]

USER_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
API_KEY_HEADER = "X-API-Key"


def check_user_name(user: str) -> str:
    """Return ``user`` when it is 1-64 characters of ``A-Z a-z 0-9 . _ @ -``; else :class:`BadUserNameError`."""
    if not USER_RE.fullmatch(user or ""):
        raise BadUserNameError(f"user name {user[:80]!r} is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
    return user


class RateLimiter:
    """Token buckets per name: ``per_min`` requests a minute, refilled continuously.

    Parameters
    ----------
    per_min : int
        Bucket size and refill per minute.
    max_names : int
        Buckets kept (least recently used are dropped first).
    """

    def __init__(self, per_min: int, *, max_names: int = 100_000) -> None:
        self.per_min = int(per_min)
        self.max_names = int(max_names)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, name: str, *, now: float | None = None) -> None:
        """Take one token for ``name``; :class:`RateLimitedError` (with ``retry_after_s``) when empty."""
        t = time.monotonic() if now is None else now
        rate_s = self.per_min / 60.0
        with self._lock:
            tokens, last = self._buckets.pop(name, (float(self.per_min), t))
            tokens = min(float(self.per_min), tokens + (t - last) * rate_s)
            if tokens < 1.0:
                self._buckets[name] = (tokens, t)
                wait = (1.0 - tokens) / rate_s
                raise RateLimitedError(f"{name}: more than {self.per_min} requests a minute; retry in {wait:.0f} s",
                                       retry_after_s=max(1.0, math.ceil(wait)))
            self._buckets[name] = (tokens - 1.0, t)
            while len(self._buckets) > self.max_names:
                self._buckets.popitem(last=False)


class KeyChecker:
    """Checks ``X-API-Key`` against the store's hashed keys and the page's in-memory key.

    Store look-ups are cached for a few seconds so a revoked key stops working within
    ``cache_s`` (default 2 s).
    """

    def __init__(self, store, *, page_key: str = "", cache_s: float = 2.0) -> None:
        self.store = store
        self.page_key = page_key
        self.cache_s = float(cache_s)
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def name_of(self, key: str | None) -> str:
        """The key's name (``"page"`` for the page key); :class:`UnauthorizedError` when missing/unknown/revoked."""
        if not key:
            raise UnauthorizedError(f"no {API_KEY_HEADER} header; create a key with 'lipauth apikeys create NAME'")
        if self.page_key and hmac.compare_digest(key.encode("utf-8", "replace"), self.page_key.encode("utf-8")):
            return "page"
        h = self.store.hash_api_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
        if hit is not None and now - hit[1] < self.cache_s:
            name = hit[0]
        else:
            name = self.store.api_key_name(key)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[h] = (name, now)
        if name is None:
            raise UnauthorizedError(f"{API_KEY_HEADER} is unknown or revoked; create a key with 'lipauth apikeys create NAME'")
        return name

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def require_key(request: Request) -> str:
    """FastAPI dependency: the API key's name, after the per-key rate limit."""
    state = request.app.state.lipauth
    name = state.keys.name_of(request.headers.get(API_KEY_HEADER))
    state.key_rate.hit("key:" + name)
    return name


#: routes under /v1 that need no key
OPEN_PATHS = ("/v1/health", "/v1/config")


class KeyGateMiddleware:
    """ASGI middleware: refuse a ``/v1`` request without a valid ``X-API-Key`` before its body is read.

    (FastAPI parses a multipart body before running dependencies; this gate keeps
    unauthenticated clients from making the server spool uploads.) The per-key rate limit
    stays in :func:`require_key`.
    """

    def __init__(self, app, *, keys: KeyChecker) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: dict, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope.get("method") != "OPTIONS" and path.startswith("/v1/") and path not in OPEN_PATHS:
            headers = dict(scope.get("headers") or [])
            key = headers.get(API_KEY_HEADER.lower().encode(), b"").decode("latin-1")
            try:
                self.keys.name_of(key)
            except UnauthorizedError as exc:
                from lipauth.service.errors import error_body, status_of

                status, code, detail = status_of(exc)
                body = json.dumps(error_body(code, detail)).encode("utf-8")
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
