"""API keys (hashed in the store, plus the page's in-memory credential), rate limits, user names, Host/Origin checks.

The page's credential (made by ``lipauth serve`` and written into the page it serves) is
scoped: it can ask for challenges, enrol, verify and run the liveness and sync analyses
(:data:`PAGE_ROUTES`), never delete users or anything else, and only from a browser page
of an allowed origin (it needs an ``Origin`` header). :class:`HostGuardMiddleware` checks
``Host`` (against ``LIPAUTH_ALLOWED_HOSTS``) and ``Origin`` (same origin as ``Host``, or one
of ``LIPAUTH_CORS_ORIGINS``) on every state-changing request and on the page itself, so a
DNS-rebinding page (``Host: evil.example``) gets neither the credential nor an answer.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections import OrderedDict

from fastapi import Request

from lipauth.errors import BadUserNameError, ForbiddenError, HostNotAllowedError, RateLimitedError, UnauthorizedError

__all__ = [
    "RateLimiter", "KeyChecker", "KeyGateMiddleware", "HostGuardMiddleware", "HostRule", "check_user_name", "check_label",
    "USER_RE", "LABEL_RE", "PAGE_ROUTES", "PAGE_SCOPE", "FULL_SCOPE",
]

USER_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
LABEL_RE = re.compile(r"[A-Za-z0-9._@-]{1,64}")
API_KEY_HEADER = "X-API-Key"
PAGE_SCOPE = "page"
FULL_SCOPE = "full"
#: (method, path pattern) the page's credential may use: challenges, enrol, verify, liveness, sync, framing
PAGE_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/v1/challenges")),
    ("POST", re.compile(r"/v1/users/[^/]+/enrolments")),
    ("POST", re.compile(r"/v1/users/[^/]+/verifications")),
    ("POST", re.compile(r"/v1/liveness")),
    ("POST", re.compile(r"/v1/sync")),
    ("POST", re.compile(r"/v1/framing")),
)
#: methods that change state: Host and Origin are checked on each
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def check_user_name(user: str) -> str:
    """Return ``user`` when it is 1-64 characters of ``A-Z a-z 0-9 . _ @ -``; else :class:`BadUserNameError`."""
    if not USER_RE.fullmatch(user or ""):
        raise BadUserNameError(f"user name {user[:80]!r} is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
    return user


def check_label(label: str) -> str:
    """Return ``label`` when it is 1-64 characters of ``A-Z a-z 0-9 . _ @ -``; else :class:`BadLabelError`."""
    from lipauth.errors import BadLabelError

    if not isinstance(label, str) or not LABEL_RE.fullmatch(label):
        raise BadLabelError(f"password label {str(label)[:80]!r} is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
    return label


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
        """The key's name (``"page"`` for the page credential); :class:`UnauthorizedError` when missing/unknown/revoked."""
        return self.identify(key)[0]

    def identify(self, key: str | None) -> tuple[str, str]:
        """``(name, scope)`` of a key: scope :data:`PAGE_SCOPE` for the page's credential, else :data:`FULL_SCOPE`."""
        if not key:
            raise UnauthorizedError(f"no {API_KEY_HEADER} header; create a key with 'lipauth apikeys create NAME'")
        if self.page_key and hmac.compare_digest(key.encode("utf-8", "replace"), self.page_key.encode("utf-8")):
            return "page", PAGE_SCOPE
        return self._store_name(key), FULL_SCOPE

    def _store_name(self, key: str) -> str:
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
    name, key_scope = state.keys.identify(request.headers.get(API_KEY_HEADER))
    if key_scope == PAGE_SCOPE and not page_may_use(request.method, request.url.path):
        raise ForbiddenError(f"the page's credential may not {request.method} {request.url.path[:80]}; use an API key")
    bucket = "key:" + name
    if request.url.path == "/v1/framing":  # the live preview polls: a budget per client, apart from the checks'
        bucket = f"framing:{name}:{request.client.host if request.client else ''}"
    state.key_rate.hit(bucket)
    return name


#: routes under /v1 that need no key
OPEN_PATHS = ("/v1/health", "/v1/config")


def page_may_use(method: str, path: str) -> bool:
    """True when the page's credential may call ``method path`` (:data:`PAGE_ROUTES`)."""
    return any(m == method and rx.fullmatch(path) for m, rx in PAGE_ROUTES)


async def _refuse(send, exc: Exception) -> None:
    """Answer an ASGI request with the JSON error of ``exc`` (a :class:`LipAuthError`)."""
    from lipauth.service.errors import error_body, status_of

    status, code, detail = status_of(exc)  # type: ignore[arg-type]
    body = json.dumps(error_body(code, detail)).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class KeyGateMiddleware:
    """ASGI middleware: refuse a ``/v1`` request without a valid ``X-API-Key`` before its body is read.

    (FastAPI parses a multipart body before running dependencies; this gate keeps
    unauthenticated clients from making the server spool uploads.) The page's credential is
    refused (403 ``FORBIDDEN``) on every route but :data:`PAGE_ROUTES` and without an
    ``Origin`` header (it is bound to the page's origin, checked by
    :class:`HostGuardMiddleware`). The per-key rate limit stays in :func:`require_key`.
    """

    def __init__(self, app, *, keys: KeyChecker) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: dict, receive, send) -> None:
        path = scope.get("path", "")
        method = scope.get("method", "")
        if scope["type"] == "http" and method != "OPTIONS" and path.startswith("/v1/") and path not in OPEN_PATHS:
            headers = dict(scope.get("headers") or [])
            key = headers.get(API_KEY_HEADER.lower().encode(), b"").decode("latin-1")
            try:
                _name, key_scope = self.keys.identify(key)
                if key_scope == PAGE_SCOPE:
                    if not page_may_use(method, path):
                        raise ForbiddenError(f"the page's credential may not {method} {path[:80]}; use an API key")
                    if not headers.get(b"origin"):
                        raise ForbiddenError("the page's credential is used without an Origin header (not from the page)")
            except (UnauthorizedError, ForbiddenError) as exc:
                await _refuse(send, exc)
                return
        await self.app(scope, receive, send)


class HostRule:
    """Which ``Host`` headers the service answers (``LIPAUTH_ALLOWED_HOSTS``).

    Entries: ``name`` (any port), ``name:port``, ``[v6]:port``, ``*ip`` (any IP-literal
    host: a DNS-rebinding page always has a name, never an IP, in ``Host``) or ``*``
    (anything: only behind a proxy that checks ``Host`` itself).
    """

    def __init__(self, entries: tuple[str, ...] | list[str]) -> None:
        self.entries = tuple(e.strip().lower() for e in entries if e.strip())
        self.any = "*" in self.entries
        self.any_ip = "*ip" in self.entries

    @staticmethod
    def split(host: str) -> tuple[str, str]:
        """``(name, port)`` of a Host value (port "" when absent; IPv6 without brackets)."""
        h = host.strip().lower()
        if h.startswith("["):
            end = h.find("]")
            name, rest = (h[1:end], h[end + 1:]) if end > 0 else (h, "")
            return name, rest[1:] if rest.startswith(":") else ""
        if h.count(":") == 1:
            name, port = h.split(":")
            return name, port
        return h, ""

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        if not host or len(host) > 300:
            return False
        name, port = self.split(host)
        if self.any_ip:
            import ipaddress

            try:
                ipaddress.ip_address(name)
                return True
            except ValueError:
                pass
        for e in self.entries:
            ename, eport = self.split(e)
            if ename == name and (not eport or eport == port):
                return True
        return False


class HostGuardMiddleware:
    """ASGI middleware: 403 ``HOST_NOT_ALLOWED`` for a state-changing request (or the page ``GET /``)
    whose ``Host`` is not allowed or whose ``Origin`` is neither the same origin nor a CORS origin.

    Requests without ``Origin`` (curl, apps) are judged by ``Host`` alone; ``Origin: null`` is refused.
    """

    def __init__(self, app, *, hosts: HostRule, cors_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.hosts = hosts
        self.cors_origins = tuple(o.lower().rstrip("/") for o in cors_origins)

    def check(self, method: str, path: str, headers: dict[bytes, bytes]) -> None:
        """Raise :class:`HostNotAllowedError` when the request must be refused."""
        if method not in STATE_CHANGING and not (method in ("GET", "HEAD") and path == "/"):
            return
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.hosts.allows(host):
            raise HostNotAllowedError(f"Host {host[:100]!r} is not in LIPAUTH_ALLOWED_HOSTS")
        raw = headers.get(b"origin")
        if raw is None:
            return
        origin = raw.decode("latin-1").strip().lower().rstrip("/")
        if "*" in self.cors_origins or origin in self.cors_origins:
            return
        netloc = origin.split("://", 1)[1] if origin.startswith(("http://", "https://")) else None
        if netloc is None or netloc != host.strip().lower():
            raise HostNotAllowedError(f"Origin {origin[:100]!r} is not this service's origin (Host {host[:100]!r}) nor a CORS origin")

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "http":
            try:
                self.check(scope.get("method", ""), scope.get("path", ""), dict(scope.get("headers") or []))
            except HostNotAllowedError as exc:
                await _refuse(send, exc)
                return
        await self.app(scope, receive, send)
