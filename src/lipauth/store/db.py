"""The store: one object over a SQLAlchemy engine, migrated by Alembic on open.

URL: ``$LIPAUTH_STORE_URL`` or a SQLite file ``lipauth.db`` in ``config.data_dir()``;
PostgreSQL via ``postgresql+psycopg://user@host:port/db``. Every public method is one
transaction: it either writes everything or nothing (SQLite transactions take the write
lock up front, ``BEGIN IMMEDIATE``; PostgreSQL rows are locked with ``SELECT ... FOR
UPDATE``), so concurrent verifies serialise on the lock-out counter.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from lipauth.config import check_range, data_dir
from lipauth.errors import ConfigError, StoreUnavailableError, UnknownUserError, UserExistsError
from lipauth.store.crypto import (
    KEY_ENV,
    KEY_FILE,
    KeyRing,
    decrypt_template,
    encrypt_template,
    key_id,
    load_keyring,
    new_key,
    write_key_file,
)
from lipauth.store.models import ApiKey, Attempt, AuditEvent, Lockout, Nonce, Template, User

__all__ = ["URL_ENV", "DB_FILE", "default_url", "LockoutPolicy", "LockState", "UserInfo", "Store"]

URL_ENV = "LIPAUTH_STORE_URL"
DB_FILE = "lipauth.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


def _lock_state(locked_until: float | None, failed_count: int, now: float) -> LockState:
    """The :class:`LockState` of a lock-out row at ``now``."""
    if locked_until is not None and locked_until > now:
        return LockState(False, failed_count, locked_until - now)
    return LockState(True, failed_count, 0.0)


def _create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file of ``url`` with mode 0600 before SQLite does (it would use the umask, 0644);
    its ``-wal`` and ``-shm`` files take the database file's mode."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(url).database
    except ArgumentError:  # malformed: create_engine reports it
        return
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = os.path.abspath(database)
    if os.path.exists(path) or not os.path.isdir(os.path.dirname(path)):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process made it first


def default_url() -> str:
    """``$LIPAUTH_STORE_URL`` or ``sqlite:///<data_dir>/lipauth.db``."""
    raw = os.environ.get(URL_ENV, "").strip()
    if raw:
        return raw
    return f"sqlite:///{data_dir(create=True) / DB_FILE}"


@dataclass(frozen=True)
class LockoutPolicy:
    """Lock-out after repeated failed verifies, with exponential back-off.

    Attributes
    ----------
    max_failures : int
        Failed verifies in a row (per user name) that lock it.
    base_lock_s : float
        Length of the first lock; each further lock doubles it (back-off).
    max_lock_s : float
        Upper bound of a lock's length.
    """

    max_failures: int = 5
    base_lock_s: float = 60.0
    max_lock_s: float = 3600.0

    def __post_init__(self) -> None:
        check_range("LockoutPolicy", "max_failures", self.max_failures, 1, 1000)
        check_range("LockoutPolicy", "base_lock_s", self.base_lock_s, 0.0, 86400.0 * 30)
        check_range("LockoutPolicy", "max_lock_s", self.max_lock_s, self.base_lock_s, 86400.0 * 365)

    def lock_s(self, level: int) -> float:
        return float(min(self.base_lock_s * 2.0 ** max(level, 0), self.max_lock_s))


@dataclass(frozen=True)
class LockState:
    """Lock-out state of a user name: ``allowed`` False while locked; ``retry_after_s`` until then."""

    allowed: bool
    failed_count: int
    retry_after_s: float


@dataclass(frozen=True)
class UserInfo:
    name: str
    created_at: float
    labels: tuple[str, ...]
    failed_count: int
    locked_until: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": self.created_at,
            "labels": list(self.labels),
            "failed_count": self.failed_count,
            "locked_until": self.locked_until,
        }


def _unavailable(url: str, exc: Exception) -> StoreUnavailableError:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    hint = "retry later (another process holds the write lock)" if "locked" in text else (
        "free disk space" if "full" in text else f"check {URL_ENV} and that the database server is running"
    )
    return StoreUnavailableError(f"store {_safe_url(url)}: {text}; {hint}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (any unparsable URL: show nothing secret)
        return "<unparsable url>"


class Store:
    """Users, encrypted templates, lock-out counters, used nonces, attempts and an audit log.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL (default :func:`default_url`).
    keyring : KeyRing, optional
        Template keys (default :func:`lipauth.store.crypto.load_keyring`).
    lockout : LockoutPolicy, optional
    migrate : bool
        Bring the schema to the latest Alembic revision on open (default True).
    busy_timeout_s : float
        SQLite: how long to wait for another writer before :class:`StoreUnavailableError`.

    Raises
    ------
    StoreUnavailableError
        The database cannot be opened.
    ConfigError
        Bad URL or key.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        keyring: KeyRing | None = None,
        lockout: LockoutPolicy | None = None,
        migrate: bool = True,
        busy_timeout_s: float = 15.0,
    ) -> None:
        check_range("Store", "busy_timeout_s", busy_timeout_s, 0.0, 3600.0)
        self.url = url or default_url()
        self.lockout = lockout or LockoutPolicy()
        self._keyring = keyring
        self.engine = self._make_engine(self.url, busy_timeout_s=busy_timeout_s)
        if migrate:
            self.migrate()

    # ---------------------------------------------------------------- plumbing

    @staticmethod
    def _make_engine(url: str, *, busy_timeout_s: float = 15.0) -> Engine:
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            if url.startswith("sqlite"):
                _create_private_sqlite_file(url)
                engine = create_engine(url, connect_args={"timeout": busy_timeout_s})

                @event.listens_for(engine, "connect")
                def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
                    dbapi_conn.execute("PRAGMA foreign_keys=ON")
                    if ":memory:" not in url and url.rstrip("/") != "sqlite:":
                        # write-ahead log: readers do not block the writer; commits stay atomic
                        # (a crash loses at most the last commits on power loss, never half of one)
                        dbapi_conn.execute("PRAGMA journal_mode=WAL")
                        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

                @event.listens_for(engine, "begin")
                def _on_begin(conn: Any) -> None:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")

                return engine
            return create_engine(url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"store URL {_safe_url(url)!r} is not usable ({exc}); set {URL_ENV} to e.g. sqlite:///path/lipauth.db") from None

    @property
    def keyring(self) -> KeyRing:
        if self._keyring is None:
            self._keyring = load_keyring()
        return self._keyring

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except OperationalError as exc:
            raise _unavailable(self.url, exc) from None

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision shipped in the package."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise _unavailable(self.url, exc) from None

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _audit(session: Session, event_name: str, name: str, **detail: Any) -> None:
        session.add(AuditEvent(at=time.time(), event=event_name, name=name, detail=json.dumps(detail, sort_keys=True)))

    def _encrypt(self, plain: bytes, name: str, label: str) -> tuple[bytes, str]:
        ring = self.keyring
        return encrypt_template(plain, key=ring.current, user=name, label=label), key_id(ring.current).hex()

    @staticmethod
    def _user(session: Session, name: str, *, lock: bool = False) -> User | None:
        q = select(User).where(User.name == name)
        if lock:
            q = q.with_for_update()
        return session.scalars(q).one_or_none()

    # ---------------------------------------------------------------- templates

    def enrol(self, name: str, *, label: str, kind: str, template: bytes, new_user: bool | None = None) -> None:
        """Store a serialised template (encrypted) for ``name`` in one transaction.

        ``new_user=True`` creates the user (:class:`UserExistsError` if it exists);
        ``False`` adds another password label to an existing user
        (:class:`UnknownUserError` if absent); ``None`` does whichever applies. A label the
        user already has raises :class:`UserExistsError` (use :meth:`replace_template`).
        """
        if not name or len(name) > 200:
            raise ConfigError(f"user name {name!r} must be 1 to 200 characters")
        blob, kid = self._encrypt(template, name, label)
        now = time.time()
        try:
            with self._session() as s:
                user = self._user(s, name, lock=True)
                if new_user is None:
                    new_user = user is None
                if new_user:
                    if user is not None:
                        raise UserExistsError(f"user {name!r} is already enrolled; use change to replace a password or delete the user")
                    user = User(name=name, created_at=now)
                    s.add(user)
                    s.flush()
                elif user is None:
                    raise UnknownUserError(f"user {name!r} is not enrolled; enrol the user first")
                elif any(t.label == label for t in user.templates):
                    raise UserExistsError(f"user {name!r} already has a password labelled {label!r}; use change to replace it")
                s.add(Template(user_id=user.id, label=label, kind=kind, blob=blob, key_id=kid, created_at=now))
                s.flush()
                self._audit(s, "enrol", name, label=label, kind=kind)
        except IntegrityError:
            raise UserExistsError(f"user {name!r} was enrolled concurrently; use change or delete it first") from None

    def replace_template(self, name: str, *, label: str, kind: str, template: bytes) -> None:
        """Replace the password ``label`` of ``name`` (change password), one transaction."""
        blob, kid = self._encrypt(template, name, label)
        with self._session() as s:
            user = self._user(s, name, lock=True)
            if user is None:
                raise UnknownUserError(f"user {name!r} is not enrolled; enrol the user first")
            row = next((t for t in user.templates if t.label == label), None)
            if row is None:
                raise UnknownUserError(f"user {name!r} has no password labelled {label!r}; known: {sorted(t.label for t in user.templates)}")
            row.blob, row.key_id, row.kind, row.created_at = blob, kid, kind, time.time()
            self._audit(s, "change", name, label=label)

    def templates(self, name: str) -> dict[str, tuple[str, bytes]] | None:
        """Decrypted templates of ``name`` as ``{label: (kind, bytes)}``; None for an unknown user.

        Raises
        ------
        TemplateDecryptError
            A template cannot be decrypted (wrong key, corrupt bytes).
        """
        with self._session() as s:
            user = self._user(s, name)
            if user is None:
                return None
            rows = [(t.label, t.kind, t.blob) for t in user.templates]
        return {
            label: (kind, decrypt_template(blob, keyring=self.keyring, user=name, label=label)) for label, kind, blob in rows
        }

    def labels(self, name: str) -> tuple[str, ...] | None:
        """The password labels of ``name``, sorted (no template is read or decrypted); None for an unknown user."""
        with self._session() as s:
            user_id = s.scalars(select(User.id).where(User.name == name)).one_or_none()
            if user_id is None:
                return None
            return tuple(sorted(s.scalars(select(Template.label).where(Template.user_id == user_id))))

    def users(self) -> list[UserInfo]:
        with self._session() as s:
            locks = {lk.name: lk for lk in s.scalars(select(Lockout))}
            out = []
            for u in s.scalars(select(User).order_by(User.name)):
                lk = locks.get(u.name)
                out.append(
                    UserInfo(
                        name=u.name,
                        created_at=u.created_at,
                        labels=tuple(sorted(t.label for t in u.templates)),
                        failed_count=lk.failed_count if lk else 0,
                        locked_until=lk.locked_until if lk else None,
                    )
                )
            return out

    def delete_user(self, name: str) -> None:
        """Delete a user and erase their templates, attempts and lock-out counter."""
        with self._session() as s:
            user = self._user(s, name, lock=True)
            if user is None:
                raise UnknownUserError(f"user {name!r} is not enrolled; lipauth users list shows who is")
            s.execute(delete(Template).where(Template.user_id == user.id))
            s.delete(user)
            s.execute(delete(Lockout).where(Lockout.name == name))
            s.execute(delete(Attempt).where(Attempt.name == name))
            self._audit(s, "delete", name)

    # ---------------------------------------------------------------- lock-out

    def _lock_row(self, s: Session, name: str) -> Lockout:
        if self.engine.dialect.name in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert = sqlite.insert if self.engine.dialect.name == "sqlite" else postgresql.insert
            s.execute(insert(Lockout).values(name=name, failed_count=0, lock_level=0).on_conflict_do_nothing())
        elif s.get(Lockout, name) is None:
            s.add(Lockout(name=name, failed_count=0, lock_level=0))
            s.flush()
        return s.scalars(select(Lockout).where(Lockout.name == name).with_for_update()).one()

    def begin_attempt(self, name: str, *, now: float | None = None) -> LockState:
        """Reserve a verify attempt: counted as a failure until :meth:`finish_attempt` says otherwise.

        Counting first makes concurrent verifies unable to exceed ``max_failures``. Works the
        same for names that are not enrolled.
        """
        t = time.time() if now is None else now
        with self._session() as s:
            row = self._lock_row(s, name)
            if row.locked_until is not None and row.locked_until > t:
                return LockState(False, row.failed_count, row.locked_until - t)
            if row.locked_until is not None:  # lock expired: unlocked by time
                row.locked_until = None
                row.failed_count = 0
            if row.failed_count >= self.lockout.max_failures:
                row.locked_until = t + self.lockout.lock_s(row.lock_level)
                row.lock_level += 1
                self._audit(s, "lock", name, until=row.locked_until)
                return LockState(False, row.failed_count, row.locked_until - t)
            row.failed_count += 1
            return LockState(True, row.failed_count, 0.0)

    def finish_attempt(
        self, name: str, *, accepted: bool, score: float | None = None, reasons: tuple[str, ...] = (), now: float | None = None
    ) -> LockState:
        """Record the outcome of a reserved attempt; success clears the counter, the last failure locks."""
        t = time.time() if now is None else now
        with self._session() as s:
            row = self._lock_row(s, name)
            s.add(Attempt(name=name, at=t, accepted=bool(accepted), score=score, reasons=",".join(reasons)))
            if accepted:
                row.failed_count, row.lock_level, row.locked_until = 0, 0, None
                return LockState(True, 0, 0.0)
            if row.failed_count >= self.lockout.max_failures and (row.locked_until is None or row.locked_until <= t):
                row.locked_until = t + self.lockout.lock_s(row.lock_level)
                row.lock_level += 1
                self._audit(s, "lock", name, until=row.locked_until)
            return _lock_state(row.locked_until, row.failed_count, t)

    def lock_state(self, name: str, *, now: float | None = None) -> LockState:
        t = time.time() if now is None else now
        with self._session() as s:
            row = s.get(Lockout, name)
            if row is None:
                return LockState(True, 0, 0.0)
            return _lock_state(row.locked_until, row.failed_count, t)

    def unlock(self, name: str) -> None:
        """Admin unlock: clear the failure counter and back-off of ``name``."""
        with self._session() as s:
            if self._user(s, name) is None:
                raise UnknownUserError(f"user {name!r} is not enrolled; lipauth users list shows who is")
            s.execute(delete(Lockout).where(Lockout.name == name))
            self._audit(s, "unlock", name)

    def attempts(self, name: str) -> list[dict[str, Any]]:
        with self._session() as s:
            rows = s.scalars(select(Attempt).where(Attempt.name == name).order_by(Attempt.id))
            return [{"at": a.at, "accepted": a.accepted, "score": a.score, "reasons": a.reasons} for a in rows]

    def audit(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._session() as s:
            q = select(AuditEvent).order_by(AuditEvent.id)
            if name is not None:
                q = q.where(AuditEvent.name == name)
            return [{"at": e.at, "event": e.event, "name": e.name, "detail": json.loads(e.detail)} for e in s.scalars(q)]

    # ---------------------------------------------------------------- nonces

    def use_nonce(self, nonce: str, *, expires_at: float, now_s: float | None = None) -> bool:
        """Mark a challenge nonce used; False when it was used before (replay).

        Nonces of challenges that expired before ``now_s`` are purged (an expired challenge
        is refused by its expiry already).
        """
        now = time.time() if now_s is None else float(now_s)
        try:
            with self._session() as s:
                s.execute(delete(Nonce).where(Nonce.expires_at < now))
                s.add(Nonce(nonce=nonce, expires_at=float(expires_at), used_at=now))
                s.flush()
        except IntegrityError:
            return False
        return True

    def nonce_used(self, nonce: str) -> bool:
        """Whether ``nonce`` was used already (read only: nothing is written)."""
        with self.engine.connect() as conn:
            return conn.execute(select(Nonce.nonce).where(Nonce.nonce == nonce)).first() is not None

    def nonce_count(self) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(Nonce)) or 0)

    # ---------------------------------------------------------------- keys

    def rotate_key(self, new: bytes | None = None) -> bytes:
        """Re-encrypt every template under a new key (one transaction); returns the new key.

        With a key file the new key replaces it (via ``template.key.new-<key id>``, so a
        crash never strands a template; see :mod:`lipauth.store.crypto`). With ``$LIPAUTH_KEY`` the caller must set the variable to the
        returned key (base64) afterwards.
        """
        ring = self.keyring
        key = new or new_key()
        pending: Path | None = None
        if ring.source != "env":
            pending = Path(ring.source).with_name(f"{KEY_FILE}.new-{key_id(key).hex()}")
            write_key_file(pending, key)
        new_ring = KeyRing(current=key, others=(ring.current, *ring.others), source=ring.source)
        with self._session() as s:
            n = 0
            for t, user_name in s.execute(select(Template, User.name).join(User, Template.user_id == User.id)).all():
                plain = decrypt_template(t.blob, keyring=ring, user=user_name, label=t.label)
                t.blob = encrypt_template(plain, key=key, user=user_name, label=t.label)
                t.key_id = key_id(key).hex()
                n += 1
            self._audit(s, "rotate_key", "", templates=n, key_id=key_id(key).hex())
        if pending is not None:
            os.replace(pending, Path(ring.source))
            for stale in Path(ring.source).parent.glob(KEY_FILE + ".new-*"):  # every template uses the new key now
                stale.unlink()
        self._keyring = KeyRing(current=key, source=ring.source) if pending is not None else new_ring
        log.info("re-encrypted %d template(s) under key %s", n, key_id(key).hex())
        if ring.source == "env":
            log.warning("set %s to the new key before the next run", KEY_ENV)
        return key

    # ---------------------------------------------------------------- API keys

    @staticmethod
    def hash_api_key(key: str) -> str:
        """Hex SHA-256 of an API key (what the store keeps)."""
        import hashlib

        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def create_api_key(self, name: str) -> str:
        """Create an API key for client app ``name``; returns the key (shown once, stored hashed).

        Raises
        ------
        UserExistsError
            A key of that name exists (revoked ones too: names are never reused).
        """
        import secrets

        if not name or len(name) > 200:
            raise ConfigError(f"API key name {name!r} must be 1 to 200 characters")
        if name != name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
            # one line in 'lipauth apikeys list', the audit log and the service's log lines
            raise ConfigError(f"API key name {name!r} has a control character or leading/trailing space; "
                              "use printable characters on one line")
        if name == "page":  # the name the service gives the page's credential (its rate-limit bucket too)
            raise ConfigError("API key name 'page' is reserved for the page's credential; pick another name")
        key = "lk_" + secrets.token_urlsafe(32)
        try:
            with self._session() as s:
                if s.scalars(select(ApiKey).where(ApiKey.name == name)).one_or_none() is not None:
                    raise UserExistsError(f"API key name {name!r} is taken (names are never reused, even after revoke); pick another name")
                s.add(ApiKey(name=name, key_hash=self.hash_api_key(key), created_at=time.time()))
                s.flush()
                self._audit(s, "apikey_create", "", key_name=name)
        except IntegrityError:
            raise UserExistsError(f"API key {name!r} was created concurrently; pick another name") from None
        return key

    def revoke_api_key(self, name: str) -> None:
        """Revoke the API key ``name`` (:class:`UnknownUserError` when there is none)."""
        with self._session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.name == name)).one_or_none()
            if row is None:
                raise UnknownUserError(f"no API key named {name!r}; lipauth apikeys list shows them")
            if row.revoked_at is None:
                row.revoked_at = time.time()
            self._audit(s, "apikey_revoke", "", key_name=name)

    def api_keys(self) -> list[dict[str, Any]]:
        """Every API key as ``{name, created_at, revoked_at}`` (never the key or its hash)."""
        with self._session() as s:
            return [{"name": k.name, "created_at": k.created_at, "revoked_at": k.revoked_at}
                    for k in s.scalars(select(ApiKey).order_by(ApiKey.name))]

    def api_key_name(self, key: str) -> str | None:
        """The name of the active API key ``key``; None when unknown or revoked."""
        if not key:
            return None
        with self._session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.key_hash == self.hash_api_key(key))).one_or_none()
            return row.name if row is not None and row.revoked_at is None else None
