"""Authenticator: enrol/verify/change/delete, no user enumeration, lock-out, concurrency, policy."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from password_synth import tracked_take

from lipauth.auth import AuthConfig, Authenticator, _Prepared
from lipauth.decision import Policy
from lipauth.errors import ChallengeReusedError, EnrolmentError, InputError, UnknownUserError, UserExistsError
from lipauth.store import KeyRing, LockoutPolicy, Store, new_key

pytestmark = pytest.mark.slow

A_TAKES = ((0, 0.95), (1, 1.0), (2, 1.05))


def _a(seed: int, speed: float):
    return tracked_take("A", speed, 150.0, False, seed)


def _b(seed: int = 9, speed: float = 1.0):
    return tracked_take("B", speed, 150.0, False, seed)


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'auth.db'}", keyring=KeyRing(current=new_key(), source="test"),
              lockout=LockoutPolicy(max_failures=2, base_lock_s=30.0, max_lock_s=120.0))
    yield s
    s.close()


def _prepared(clip_and_take) -> _Prepared:
    """What Authenticator._prepare returns, from an already tracked synthetic take."""
    video, take = clip_and_take
    return _Prepared(take=take, features=None, video=video, audio=None)


@pytest.fixture
def fast(store: Store, monkeypatch: pytest.MonkeyPatch):
    """An Authenticator whose clips are (video, take) pairs tracked once per process."""
    auth = Authenticator(AuthConfig(), store)
    monkeypatch.setattr(auth, "_prepare", lambda clip, **_: _prepared(clip))
    auth.enrol("alice", [_a(s, v) for s, v in A_TAKES])
    return auth


def test_end_to_end_with_videos(store: Store) -> None:
    auth = Authenticator(AuthConfig(), store)
    template = auth.enrol("alice", [_a(s, v)[0] for s, v in A_TAKES])
    assert template.n_takes == 3
    ok = auth.verify("alice", _a(6, 1.25)[0])
    assert ok.accepted and ok.score >= ok.threshold and ok.reasons == ()
    wrong = auth.verify("alice", _b()[0])
    assert not wrong.accepted and wrong.reasons == ("PASSWORD:MISMATCH",)
    # no raw video is stored: the encrypted template is far smaller than the frames
    (kind, blob), = store.templates("alice").values()
    frames = _a(0, 0.95)[0].frames
    assert kind == "lip_password" and len(blob) < frames.nbytes / 20
    with pytest.raises(UserExistsError, match="already has a password labelled 'default'"):
        auth.enrol("alice", [_a(s, v)[0] for s, v in A_TAKES])


def test_unknown_user_answers_like_a_wrong_password(fast: Authenticator, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = fast.verify("alice", _b())
    unknown = fast.verify("mallory", _b())
    assert not unknown.accepted and unknown.reasons == wrong.reasons == ("PASSWORD:MISMATCH",)

    def shape(d):  # keys and types, recursively, without values
        if isinstance(d, dict):
            return {k: shape(v) for k, v in d.items() if k != "user"}
        if isinstance(d, list):
            return [shape(v) for v in d]
        return type(d).__name__

    assert shape(unknown.to_dict()) == shape(wrong.to_dict())
    assert unknown.to_dict()["checks"][0]["details"].keys() == wrong.to_dict()["checks"][0]["details"].keys()

    def timed(user: str) -> float:
        t0 = time.perf_counter()
        fast.verify(user, _b(10, 0.8))
        return time.perf_counter() - t0

    fast.store.unlock("alice")
    t_known = min(timed("alice") for _ in range(2))
    fast.store.unlock("alice")
    t_unknown = min(timed("nobody-else") for _ in range(2))
    assert 0.33 < t_unknown / t_known < 3.0, (t_known, t_unknown)


def test_lockout_and_admin_unlock(fast: Authenticator) -> None:
    for _ in range(2):
        assert fast.verify("alice", _b()).reasons == ("PASSWORD:MISMATCH",)
    locked = fast.verify("alice", _a(6, 1.25))  # even the right password while locked
    assert not locked.accepted and locked.reasons == ("LOCKOUT:LOCKED",) and locked.retry_after_s > 0
    # a locked name is answered before its clip is decoded or tracked (nothing counted, no work)
    early = fast.verify("alice", b"not a video at all")
    assert early.reasons == ("LOCKOUT:LOCKED",) and early.track is None
    ghost = [fast.verify("ghost", _b()).reasons for _ in range(3)]
    assert ghost[-1] == ("LOCKOUT:LOCKED",)  # unknown names lock the same way
    fast.store.unlock("alice")
    assert fast.verify("alice", _a(6, 1.25)).accepted


def test_concurrent_verifies_do_not_bypass_lockout(fast: Authenticator) -> None:
    results = []
    lock = threading.Lock()

    def go() -> None:
        r = fast.verify("alice", _b())
        with lock:
            results.append(r)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    matched = [r for r in results if r.reasons != ("LOCKOUT:LOCKED",)]
    assert len(results) == 6 and len(matched) == 2 and not any(r.accepted for r in results)
    assert len(fast.store.attempts("alice")) == 2


def test_change_and_delete(fast: Authenticator) -> None:
    before = fast.store.templates("alice")
    refused = fast.change("alice", _b(), [_b(s, v) for s, v in ((11, 0.95), (12, 1.0), (13, 1.05))])
    assert not refused.accepted and fast.store.templates("alice") == before
    done = fast.change("alice", _a(6, 1.25), [_b(s, v) for s, v in ((11, 0.95), (12, 1.0), (13, 1.05))])
    assert done.accepted and fast.store.templates("alice") != before
    assert fast.verify("alice", _b(10, 0.8)).accepted
    assert not fast.verify("alice", _a(6, 1.25)).accepted
    fast.delete("alice")
    assert fast.store.templates("alice") is None
    with pytest.raises(UnknownUserError, match="'alice' is not enrolled"):
        fast.delete("alice")


def test_policy_requires_liveness(fast: Authenticator) -> None:
    strict = Authenticator(AuthConfig(policy=Policy(required=("password", "sync"))), fast.store)
    strict._prepare = fast._prepare  # type: ignore[method-assign]
    res = strict.verify("alice", _a(6, 1.25))
    assert not res.accepted and "SYNC:UNAVAILABLE" in res.reasons and "SYNC:NO_AUDIO" in res.reasons
    assert res.decision.scores["password"][0] >= res.decision.scores["password"][1]


def test_challenge_nonce_is_single_use(fast: Authenticator, monkeypatch: pytest.MonkeyPatch) -> None:
    from lipauth.challenge import new_challenge

    monkeypatch.setenv("LIPAUTH_CHALLENGE_KEY", "k")
    auth = Authenticator(AuthConfig(policy=Policy(required=("password", "challenge"))), fast.store)
    auth._prepare = fast._prepare  # type: ignore[method-assign]
    ch = new_challenge("blow")
    assert auth.verify("alice", _a(6, 1.25), ch).accepted
    with pytest.raises(ChallengeReusedError):
        auth.verify("alice", _a(6, 1.25), ch)
    assert fast.store.attempts("alice")[-1]["reasons"] == "ERROR"


def test_bad_input(fast: Authenticator, store: Store) -> None:
    with pytest.raises(InputError, match="takes is one clip"):
        fast.enrol("bob", "clip.mp4")  # type: ignore[arg-type]
    with pytest.raises(EnrolmentError, match="got 2 enrolment take"):
        fast.enrol("bob", [_a(0, 0.95), _a(1, 1.0)])
    plain = Authenticator(AuthConfig(), store)
    with pytest.raises(InputError, match="clip is a int; pass a file path, bytes or a Video"):
        plain.verify("alice", 42)  # type: ignore[arg-type]
    assert np.isfinite(fast.verify("alice", _a(6, 1.25)).score)


def test_a_liveness_answer_without_sound_leaves_its_challenge_unused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clip without an audio stream is bad input: refused before tracking, and the challenge can still be answered."""
    from password_synth import render_take

    from lipauth.auth import check_liveness
    from lipauth.challenge import MemoryNonceStore, new_challenge
    from lipauth.errors import NoAudioStreamError

    monkeypatch.setenv("LIPAUTH_CHALLENGE_KEY", "k")
    mute = tmp_path / "mute.mp4"
    render_take("A", seed=0, path=str(mute))  # video only
    nonces = MemoryNonceStore()
    for kind, what in (("blow", "the blow check"), ("speech", "the timed speech check")):
        ch = new_challenge(kind)
        with pytest.raises(NoAudioStreamError, match=f"{what} needs the clip's audio"):
            check_liveness(mute, challenge=ch, nonce_store=nonces)
        assert ch.nonce not in nonces
    assert len(nonces) == 0
