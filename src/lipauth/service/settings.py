"""Service settings from the environment, validated with one-line :class:`ConfigError` messages."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from lipauth.config import data_dir as default_data_dir
from lipauth.errors import ConfigError

__all__ = ["Settings", "WorkerConfig"]

_KNOWN_CHECKS = ("password", "sync", "blow", "speech", "sensors", "challenge")
#: hosts answered when LIPAUTH_ALLOWED_HOSTS is not set: localhost and any IP address (a
#: DNS-rebinding page always has a name in Host, never an address)
DEFAULT_ALLOWED_HOSTS = ("localhost", "*ip")


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _env_num(env: dict[str, str], name: str, default: float, low: float, high: float, *, integer: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}={raw!r} is not {kind}; set it to {kind} from {low:g} to {high:g}") from None
    if not (low <= value <= high):
        raise ConfigError(f"{name}={raw!r} is out of range; allowed {low:g} to {high:g}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment (see :meth:`from_env`).

    Attributes
    ----------
    store_url : str
        SQLAlchemy URL of the store (``LIPAUTH_STORE_URL``; default SQLite in the data dir).
    key : str
        Template key, base64 of 32 bytes (``LIPAUTH_KEY``; default the key file in the data dir).
    data_dir : str
        ``LIPAUTH_DATA_DIR`` (default ``~/.local/share/lipauth``).
    max_upload_mb : float
        Largest accepted upload per clip, MB (``LIPAUTH_MAX_UPLOAD_MB``, 25).
    max_clip_s : float
        Longest accepted clip, seconds (``LIPAUTH_MAX_CLIP_S``, 20).
    workers : int
        Analysis processes (``LIPAUTH_WORKERS``, default the cores).
    queue : int
        Requests that may wait beyond the busy workers before 503 (``LIPAUTH_QUEUE``, 2 x workers).
    rate_per_min, user_rate_per_min : int
        Requests per minute per API key (120) and per user name (20).
    cors_origins : tuple of str
        Origins allowed by CORS (``LIPAUTH_CORS_ORIGINS``, comma list; none by default).
    policy : tuple of str
        Checks every verify requires (``LIPAUTH_POLICY``, ``password``).
    analysis_timeout_s : float
        Longest analysis before its worker is replaced and the request gets 504 (60).
    challenge_ttl_s : float
        Lifetime of a new challenge (``LIPAUTH_CHALLENGE_TTL_S``, 120).
    max_frame_side, max_frame_pixels : int
        Largest video frame decoded (``LIPAUTH_MAX_FRAME_SIDE``, 4096 px; ``LIPAUTH_MAX_FRAME_PIXELS``,
        12 000 000): a larger one is refused (413 ``FRAME_TOO_LARGE``) from the stream's header,
        before any frame is decoded.
    max_decoded_mb : float
        Largest decoded size of one clip, frames x width x height x 3 bytes (``LIPAUTH_MAX_DECODED_MB``,
        3072): bounds each worker's memory (413 ``FRAME_TOO_LARGE`` above it).
    allowed_hosts : tuple of str
        ``Host`` values the service answers on state-changing requests and the page
        (``LIPAUTH_ALLOWED_HOSTS``, comma list of ``name``, ``name:port``, ``*ip`` = any IP
        address, ``*`` = any). Default: ``localhost`` and any IP address; ``lipauth serve``
        adds its ``--host``. A reverse proxy's public name must be listed.
    page_key : str
        In-memory credential of the served page ("" = none); set by ``lipauth serve``. It can
        only ask for challenges, enrol, verify, and run liveness and sync, from the page's origin.
    test_hooks : bool
        Honour the ``X-LipAuth-Test-Hook`` header (``crash`` or ``sleep=S``) to make an
        analysis crash or hang; for tests only (``LIPAUTH_TEST_HOOKS=1``).
    """

    store_url: str = ""
    key: str = ""
    data_dir: str = ""
    max_upload_mb: float = 25.0
    max_clip_s: float = 20.0
    workers: int = field(default_factory=_cores)
    queue: int = -1
    rate_per_min: int = 120
    user_rate_per_min: int = 20
    cors_origins: tuple[str, ...] = ()
    policy: tuple[str, ...] = ("password",)
    analysis_timeout_s: float = 60.0
    challenge_ttl_s: float = 120.0
    max_frame_side: int = 4096
    max_frame_pixels: int = 12_000_000
    max_decoded_mb: float = 3072.0
    allowed_hosts: tuple[str, ...] = ()
    page_key: str = ""
    test_hooks: bool = False

    def __post_init__(self) -> None:
        def check(name: str, value: float, low: float, high: float) -> None:
            if not (low <= value <= high):
                raise ConfigError(f"Settings.{name}={value!r} is out of range; allowed {low:g} to {high:g}")

        check("max_upload_mb", self.max_upload_mb, 0.01, 1024)
        check("max_clip_s", self.max_clip_s, 1, 600)
        check("workers", self.workers, 1, 64)
        if self.queue < 0:
            object.__setattr__(self, "queue", 2 * int(self.workers))
        check("queue", self.queue, 0, 10000)
        check("rate_per_min", self.rate_per_min, 1, 1_000_000)
        check("user_rate_per_min", self.user_rate_per_min, 1, 1_000_000)
        check("analysis_timeout_s", self.analysis_timeout_s, 0.5, 3600)
        check("challenge_ttl_s", self.challenge_ttl_s, 5, 86400)
        check("max_frame_side", self.max_frame_side, 64, 16384)
        check("max_frame_pixels", self.max_frame_pixels, 4096, 268_435_456)
        check("max_decoded_mb", self.max_decoded_mb, 16, 1_048_576)
        hosts = tuple(h.strip() for h in (self.allowed_hosts or DEFAULT_ALLOWED_HOSTS) if h.strip())
        for h in hosts:
            if not re.fullmatch(r"\*|\*ip|\[[0-9A-Fa-f:.]+\](:\d{1,5})?|[A-Za-z0-9._-]+(:\d{1,5})?", h):
                raise ConfigError(f"LIPAUTH_ALLOWED_HOSTS has {h!r}; give host names like lip.example.com or lip.example.com:8443")
        object.__setattr__(self, "allowed_hosts", hosts)
        pol = tuple(self.policy)
        bad = [c for c in pol if c not in _KNOWN_CHECKS]
        if not pol or bad:
            raise ConfigError(f"LIPAUTH_POLICY names {bad or 'no check'}; use a comma list of {', '.join(_KNOWN_CHECKS)}")
        object.__setattr__(self, "policy", pol)
        for origin in self.cors_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ConfigError(f"LIPAUTH_CORS_ORIGINS has {origin!r}; give origins like https://app.example.com (no path)")
        if self.key:
            self.template_key()  # validates

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``env`` (default ``os.environ``); keyword overrides win."""
        e = dict(os.environ if env is None else env)
        kw: dict[str, object] = {
            "store_url": e.get("LIPAUTH_STORE_URL", "").strip(),
            "key": e.get("LIPAUTH_KEY", "").strip(),
            "data_dir": e.get("LIPAUTH_DATA_DIR", "").strip(),
            "max_upload_mb": _env_num(e, "LIPAUTH_MAX_UPLOAD_MB", 25.0, 0.01, 1024),
            "max_clip_s": _env_num(e, "LIPAUTH_MAX_CLIP_S", 20.0, 1, 600),
            "workers": int(_env_num(e, "LIPAUTH_WORKERS", _cores(), 1, 64, integer=True)),
            "queue": int(_env_num(e, "LIPAUTH_QUEUE", -1, -1, 10000, integer=True)),
            "rate_per_min": int(_env_num(e, "LIPAUTH_RATE_PER_MIN", 120, 1, 1_000_000, integer=True)),
            "user_rate_per_min": int(_env_num(e, "LIPAUTH_USER_RATE_PER_MIN", 20, 1, 1_000_000, integer=True)),
            "cors_origins": tuple(o.strip() for o in e.get("LIPAUTH_CORS_ORIGINS", "").split(",") if o.strip()),
            "policy": tuple(p.strip() for p in (e.get("LIPAUTH_POLICY", "") or "password").split(",") if p.strip()),
            "analysis_timeout_s": _env_num(e, "LIPAUTH_ANALYSIS_TIMEOUT_S", 60.0, 0.5, 3600),
            "challenge_ttl_s": _env_num(e, "LIPAUTH_CHALLENGE_TTL_S", 120.0, 5, 86400),
            "test_hooks": e.get("LIPAUTH_TEST_HOOKS", "").strip() in ("1", "true", "yes"),
            "max_frame_side": int(_env_num(e, "LIPAUTH_MAX_FRAME_SIDE", 4096, 64, 16384, integer=True)),
            "max_frame_pixels": int(_env_num(e, "LIPAUTH_MAX_FRAME_PIXELS", 12_000_000, 4096, 268_435_456, integer=True)),
            "max_decoded_mb": _env_num(e, "LIPAUTH_MAX_DECODED_MB", 3072.0, 16, 1_048_576),
            "allowed_hosts": tuple(h.strip() for h in e.get("LIPAUTH_ALLOWED_HOSTS", "").split(",") if h.strip()),
        }
        kw.update(overrides)
        return cls(**kw)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ resolved values

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def resolved_data_dir(self) -> Path:
        if self.data_dir:
            path = Path(self.data_dir).expanduser()
            try:
                path.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: keys, templates, audit
            except OSError as exc:
                raise ConfigError(f"LIPAUTH_DATA_DIR={self.data_dir!r} cannot be created ({exc.strerror}); set a writable directory") from None
            return path
        return default_data_dir(create=True)

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.resolved_data_dir() / 'lipauth.db'}"

    def template_key(self) -> bytes | None:
        """The template key from ``key`` (None: the store's key file in the data dir)."""
        if not self.key:
            return None
        try:
            raw = base64.b64decode(self.key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigError("LIPAUTH_KEY is not base64 of 32 bytes; make one with: python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\"")
        return raw

    def challenge_key(self) -> bytes:
        """``$LIPAUTH_CHALLENGE_KEY`` or ``challenge.key`` in the data dir (created 0600 on first use)."""
        from lipauth.challenge import KEY_ENV, KEY_FILE

        raw = os.environ.get(KEY_ENV, "").strip()
        if raw:
            return raw.encode("utf-8")
        path = self.resolved_data_dir() / KEY_FILE
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
            except FileExistsError:
                pass  # another process made it first
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise ConfigError(f"challenge key file {path} holds {len(key)} characters; delete it to make a new one")
        return key.encode("ascii")

    def worker_config(self) -> WorkerConfig:
        from lipauth.store.crypto import load_keyring

        key = self.template_key()
        others: tuple[bytes, ...] = ()
        if key is not None:
            current = key
        else:
            ring = load_keyring(directory=self.resolved_data_dir())
            current, others = ring.current, tuple(ring.others)
        return WorkerConfig(
            store_url=self.resolved_store_url(),
            template_key=current,
            other_keys=others,
            challenge_key=self.challenge_key(),
            policy=self.policy,
            max_clip_s=self.max_clip_s,
            test_hooks=self.test_hooks,
            max_frame_side=self.max_frame_side,
            max_frame_pixels=self.max_frame_pixels,
            max_decoded_mb=self.max_decoded_mb,
        )


@dataclass(frozen=True)
class WorkerConfig:
    """What an analysis worker process needs (picklable; resolved once in the server)."""

    store_url: str
    template_key: bytes
    other_keys: tuple[bytes, ...]
    challenge_key: bytes
    policy: tuple[str, ...]
    max_clip_s: float
    test_hooks: bool = False
    max_frame_side: int = 4096
    max_frame_pixels: int = 12_000_000
    max_decoded_mb: float = 3072.0
