"""The store on SQLite and on a real PostgreSQL server started by the test itself.

PostgreSQL: ``initdb`` + ``pg_ctl`` in a temporary directory on a free localhost port
(as the ``postgres`` system user when the tests run as root, which PostgreSQL refuses);
skipped with the reason when the server binaries are absent (``.ci/run`` installs them).
"""

from __future__ import annotations

import base64
import glob
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lipauth.errors import (
    ChallengeReusedError,
    ConfigError,
    StoreUnavailableError,
    TemplateDecryptError,
    UnknownUserError,
    UserExistsError,
)
from lipauth.store import KeyRing, LockoutPolicy, SqlNonceStore, Store, key_id, load_keyring, new_key

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------
# PostgreSQL server for the session


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed; apt-get install postgresql (.ci/run does)")
    pytest.importorskip("psycopg", reason="psycopg not installed; pip install -e '.[test]'")
    import tempfile

    # not under pytest's tmp dir: that is private to root and the server runs as postgres
    base = Path(tempfile.mkdtemp(prefix="lipauth-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser; cannot start PostgreSQL as an unprivileged user")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' system user to run the server")
        os.chmod(base, 0o755)
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"], check=True, capture_output=True)
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log.txt"), "-w", "start"], check=True, capture_output=True)
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE lipauth_test")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/lipauth_test"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _clear(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        for table in ("audit", "attempts", "nonces", "lockouts", "templates", "users"):
            conn.execute(text(f"DELETE FROM {table}"))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lipauth.db'}"
    pg = request.getfixturevalue("pg_url")
    Store(pg).close()  # migrate once, then start each test empty
    _clear(pg)
    return pg


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(current=new_key(), source="test")


@pytest.fixture
def store(url: str, ring: KeyRing):
    s = Store(url, keyring=ring, lockout=LockoutPolicy(max_failures=3, base_lock_s=10.0, max_lock_s=40.0))
    yield s
    s.close()


def _raw(url: str, sql: str, **params) -> list:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        res = conn.execute(text(sql), params)
        rows = list(res) if res.returns_rows else []
    eng.dispose()
    return rows


# --------------------------------------------------------------------------------------
# schema, round trips


def test_migrates_to_head_and_reopens(store: Store, url: str, ring: KeyRing) -> None:
    assert store.schema_revision() == "0002"
    Store(url, keyring=ring).close()  # idempotent
    assert store.schema_revision() == "0002"


def test_round_trip_is_exact_and_encrypted(store: Store, url: str) -> None:
    payload = os.urandom(5000) + b"\x00" * 10
    store.enrol("alice", label="default", kind="lip_password", template=payload)
    store.enrol("alice", label="bank", kind="lip_password", template=b"second")
    assert store.templates("alice") == {"default": ("lip_password", payload), "bank": ("lip_password", b"second")}
    assert store.templates("nobody") is None
    blobs = [bytes(r[0]) for r in _raw(url, "SELECT blob FROM templates")]
    assert len(blobs) == 2 and all(payload not in b and b"second" not in b for b in blobs)
    [info] = store.users()
    assert info.name == "alice" and info.labels == ("bank", "default")


def test_enrol_twice_and_replace(store: Store) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"one")
    with pytest.raises(UserExistsError, match="already has a password labelled 'default'"):
        store.enrol("alice", label="default", kind="lip_password", template=b"two")
    with pytest.raises(UserExistsError, match="already enrolled"):
        store.enrol("alice", label="x", kind="lip_password", template=b"two", new_user=True)
    with pytest.raises(UnknownUserError, match="'bob' is not enrolled"):
        store.enrol("bob", label="x", kind="lip_password", template=b"two", new_user=False)
    store.replace_template("alice", label="default", kind="lip_password", template=b"changed")
    assert store.templates("alice")["default"][1] == b"changed"
    with pytest.raises(UnknownUserError, match="no password labelled 'nope'"):
        store.replace_template("alice", label="nope", kind="lip_password", template=b"x")
    with pytest.raises(ConfigError, match="user name '' must be 1 to 200"):
        store.enrol("", label="default", kind="lip_password", template=b"x")


def test_labels_of_one_user_without_reading_the_others(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"one")
    store.enrol("alice", label="bank", kind="lip_password", template=b"two")
    store.enrol("bob", label="home", kind="lip_password", template=b"three")
    import lipauth.store.db as db

    def no_decrypt(*_a, **_k):
        raise AssertionError("a template was decrypted to list labels")

    monkeypatch.setattr(db, "decrypt_template", no_decrypt)
    assert store.labels("alice") == ("bank", "default") and store.labels("bob") == ("home",)
    assert store.labels("nobody") is None


def test_delete_erases_templates(store: Store, url: str) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"one")
    store.begin_attempt("alice")
    store.finish_attempt("alice", accepted=False)
    store.delete_user("alice")
    assert store.templates("alice") is None
    assert _raw(url, "SELECT count(*) FROM templates")[0][0] == 0
    assert _raw(url, "SELECT count(*) FROM attempts")[0][0] == 0
    assert [e["event"] for e in store.audit("alice")] == ["enrol", "delete"]
    with pytest.raises(UnknownUserError, match="'alice' is not enrolled"):
        store.delete_user("alice")


# --------------------------------------------------------------------------------------
# keys


def test_wrong_key_fails_loudly(store: Store, url: str) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"secret")
    other = Store(url, keyring=KeyRing(current=new_key(), source="other"))
    with pytest.raises(TemplateDecryptError, match="was encrypted with key .* but the key in use"):
        other.templates("alice")
    other.close()


def test_corrupt_or_moved_template_fails_loudly(store: Store, url: str) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"secret-a")
    store.enrol("bob", label="default", kind="lip_password", template=b"secret-b")
    [(blob,)] = _raw(url, "SELECT t.blob FROM templates t JOIN users u ON u.id = t.user_id WHERE u.name = 'alice'")
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    _raw(url, "UPDATE templates SET blob = :b WHERE user_id = (SELECT id FROM users WHERE name = 'alice')", b=bytes(flipped))
    with pytest.raises(TemplateDecryptError, match="fails its integrity check"):
        store.templates("alice")
    # bob's blob copied into alice's row does not decrypt as alice (bound to user and label)
    [(bob_blob,)] = _raw(url, "SELECT t.blob FROM templates t JOIN users u ON u.id = t.user_id WHERE u.name = 'bob'")
    _raw(url, "UPDATE templates SET blob = :b WHERE user_id = (SELECT id FROM users WHERE name = 'alice')", b=bytes(bob_blob))
    with pytest.raises(TemplateDecryptError, match="integrity check"):
        store.templates("alice")
    _raw(url, "UPDATE templates SET blob = :b WHERE user_id = (SELECT id FROM users WHERE name = 'alice')", b=b"garbage")
    with pytest.raises(TemplateDecryptError, match="not a lipauth encrypted blob"):
        store.templates("alice")


def test_rotate_key_with_key_file(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    s = Store(url)
    s.enrol("alice", label="default", kind="lip_password", template=b"payload")
    key_file = tmp_path / "data" / "template.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    old = load_keyring()
    new = s.rotate_key()
    assert key_id(new) != key_id(old.current)
    assert load_keyring().current == new and not list((tmp_path / "data").glob("template.key.new*"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    fresh = Store(url)
    assert fresh.templates("alice") == {"default": ("lip_password", b"payload")}
    with pytest.raises(TemplateDecryptError, match="encrypted with key"):
        Store(url, keyring=old).templates("alice")
    assert any(e["event"] == "rotate_key" for e in fresh.audit())
    s.close()
    fresh.close()


def test_rotate_key_with_env_key(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIPAUTH_KEY", base64.b64encode(new_key()).decode())
    s = Store(url)
    s.enrol("alice", label="default", kind="lip_password", template=b"payload")
    new = s.rotate_key()
    monkeypatch.setenv("LIPAUTH_KEY", base64.b64encode(new).decode())
    assert Store(url).templates("alice")["default"][1] == b"payload"
    s.close()


def test_bad_key_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIPAUTH_KEY", "not base64!")
    with pytest.raises(ConfigError, match="LIPAUTH_KEY is not valid base64"):
        load_keyring()
    monkeypatch.setenv("LIPAUTH_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(ConfigError, match="decodes to 5 bytes; it must be base64 of exactly 32"):
        load_keyring()
    monkeypatch.delenv("LIPAUTH_KEY")
    with pytest.raises(ConfigError, match="no template key"):
        load_keyring(create=False, directory=tmp_path)
    load_keyring(directory=tmp_path)
    os.chmod(tmp_path / "template.key", 0o644)
    with pytest.raises(ConfigError, match="has mode 644; the template key must be private"):
        load_keyring(directory=tmp_path)


def test_bad_url_and_unreachable_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="store URL 'nosuchdb://x' is not usable"):
        Store("nosuchdb://x")
    with pytest.raises(StoreUnavailableError, match="unable to open database file"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    port = _free_port()
    with pytest.raises(StoreUnavailableError, match="check LIPAUTH_STORE_URL and that the database server is running"):
        Store(f"postgresql+psycopg://nobody:secret@127.0.0.1:{port}/x")


def test_store_locked_by_another_writer(tmp_path: Path, ring: KeyRing) -> None:
    import sqlite3

    path = tmp_path / "lipauth.db"
    s = Store(f"sqlite:///{path}", keyring=ring, busy_timeout_s=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailableError, match="database is locked; retry later"):
            s.enrol("alice", label="default", kind="lip_password", template=b"x")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert s.templates("alice") is None
    s.close()


# --------------------------------------------------------------------------------------
# lock-out


def test_lockout_backoff_and_unlock(store: Store) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"x")
    t0 = 1000.0
    for k in range(3):
        assert store.begin_attempt("alice", now=t0 + k).allowed
        store.finish_attempt("alice", accepted=False, now=t0 + k)
    st = store.begin_attempt("alice", now=t0 + 3)
    assert not st.allowed and st.retry_after_s == pytest.approx(10.0 - 1.0)  # locked at the third failure
    # unlocked by time; the next lock doubles (back-off)
    for k in range(3):
        assert store.begin_attempt("alice", now=t0 + 20 + k).allowed
        store.finish_attempt("alice", accepted=False, now=t0 + 20 + k)
    assert store.lock_state("alice", now=t0 + 23).retry_after_s == pytest.approx(20.0 - 1.0)
    # admin unlock
    store.unlock("alice")
    assert store.begin_attempt("alice", now=t0 + 24).allowed
    store.finish_attempt("alice", accepted=True, now=t0 + 24)
    assert store.lock_state("alice").failed_count == 0
    with pytest.raises(UnknownUserError, match="'zed' is not enrolled"):
        store.unlock("zed")
    assert [a["accepted"] for a in store.attempts("alice")] == [False] * 6 + [True]


def test_unknown_names_lock_like_users(store: Store) -> None:
    for _ in range(3):
        assert store.begin_attempt("ghost").allowed
        store.finish_attempt("ghost", accepted=False)
    assert not store.begin_attempt("ghost").allowed


def test_concurrent_attempts_cannot_exceed_limit(store: Store) -> None:
    store.enrol("alice", label="default", kind="lip_password", template=b"x")
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        st = store.begin_attempt("alice")
        time.sleep(0.05)  # matching takes a while; every attempt is still pending
        with lock:
            allowed.append(st.allowed)

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 3 and len(allowed) == 10


# --------------------------------------------------------------------------------------
# nonces


def test_sql_nonce_store_with_challenges(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from lipauth.challenge import new_challenge, verify_challenge

    monkeypatch.setenv("LIPAUTH_CHALLENGE_KEY", "test-key")
    nonces = SqlNonceStore(store)
    now = time.time()
    assert nonces.use("abc", expires_at=now + 60, now_s=now) and not nonces.use("abc", expires_at=now + 60, now_s=now)
    ch = new_challenge("blow")
    verify_challenge(ch, nonce_store=nonces)
    with pytest.raises(ChallengeReusedError):
        verify_challenge(ch, nonce_store=SqlNonceStore(store))  # another process, same database
    assert len(nonces) == 2


# --------------------------------------------------------------------------------------
# crash mid-enrolment


_CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from lipauth.store import KeyRing, Store
    store = Store(sys.argv[1], keyring=KeyRing(current=bytes(32), source="test"))
    real_audit = Store._audit

    def slow_audit(session, event, name, **detail):
        session.flush()  # user and template rows are written, not committed
        print("IN_TRANSACTION", flush=True)
        time.sleep(60)

    Store._audit = staticmethod(slow_audit)
    store.enrol("crashy", label="default", kind="lip_password", template=b"x" * 1000)
    """
)


def test_killed_enrolment_leaves_nothing(url: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _CRASH_SCRIPT, url], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "IN_TRANSACTION"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    s = Store(url, keyring=KeyRing(current=bytes(32), source="test"))
    assert s.templates("crashy") is None
    assert s.users() == []
    assert _raw(url, "SELECT count(*) FROM templates")[0][0] == 0
    s.enrol("crashy", label="default", kind="lip_password", template=b"ok")  # the store is usable again
    assert s.templates("crashy")["default"][1] == b"ok"
    s.close()


def test_rotation_interrupted_before_key_swap_still_reads(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the re-encryption commit but before the new key file replaces the old one."""
    import lipauth.store.db as db

    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    s = Store(url)
    s.enrol("alice", label="default", kind="lip_password", template=b"payload")

    real_replace = os.replace

    def crash(src, dst):  # noqa: ANN001
        if Path(dst).name == "template.key":  # the final swap, after the commit
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)

    monkeypatch.setattr(db.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        s.rotate_key()
    monkeypatch.undo()
    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    assert len(list((tmp_path / "data").glob("template.key.new-*"))) == 1
    again = Store(url)
    assert again.templates("alice") == {"default": ("lip_password", b"payload")}  # via the pending key
    again.rotate_key()  # a second rotation from the interrupted state finishes cleanly
    assert not list((tmp_path / "data").glob("template.key.new*"))
    assert Store(url).templates("alice") == {"default": ("lip_password", b"payload")}
    s.close()
    again.close()


# --------------------------------------------------------------------------------------
# issue 18 row 13: what lipauth keeps in LIPAUTH_DATA_DIR is private


def test_data_dir_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data dir is created 0700 and every file in it 0600 (the SQLite file and its WAL were 0644)."""
    import stat

    from lipauth.challenge import challenge_key

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIPAUTH_STORE_URL", raising=False)
    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    monkeypatch.delenv("LIPAUTH_CHALLENGE_KEY", raising=False)
    old = os.umask(0o022)  # the usual umask: files 0644 unless lipauth says otherwise
    data = tmp_path / "data"
    try:
        with Store() as s:  # default URL in the data dir, default key file
            s.enrol("alice", label="default", kind="lip_password", template=b"t" * 64)
            assert s.use_nonce("n" * 32, expires_at=time.time() + 60)
            challenge_key()
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}  # with the WAL files open
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        os.umask(old)
    assert {"lipauth.db", "lipauth.db-wal", "challenge.key", "template.key"} <= set(modes), modes
    assert all(m == 0o600 for m in modes.values()), {k: oct(v) for k, v in modes.items()}
