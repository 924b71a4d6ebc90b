"""Challenges: schedule shape, signature, expiry, single use, key file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from lipauth.challenge import Challenge, MemoryNonceStore, challenge_key, new_challenge, verify_challenge
from lipauth.errors import ChallengeExpiredError, ChallengeReusedError, ChallengeTamperedError, ConfigError

KEY = "test-key-0123456789abcdef"


@pytest.mark.parametrize("seed", range(20))
def test_blow_schedule_shape(seed: int) -> None:
    ch = new_challenge("blow", rng=seed, key=KEY, now_s=1000.0)
    assert 6.0 <= ch.duration_s <= 8.0
    assert 2 <= len(ch.windows) <= 3
    prev_end = 0.0
    for a, b, prompt in ch.windows:
        assert prompt == "blow"
        assert 0.8 - 1e-6 <= b - a <= 2.0 + 1e-6
        assert a >= 1.2 - 1e-6 and b <= ch.duration_s
        assert a - prev_end >= (0.9 - 0.011 if prev_end else 0.0)
        prev_end = b


def test_speech_schedule_and_randomness() -> None:
    ch = new_challenge("speech", rng=1, key=KEY)
    assert {p for _, _, p in ch.windows} == {"speak"}
    schedules = {new_challenge("blow", rng=s, key=KEY).windows for s in range(30)}
    assert len(schedules) == 30
    assert new_challenge("blow", rng=5, key=KEY).nonce != new_challenge("blow", rng=5, key=KEY).nonce


def test_round_trip_and_verify() -> None:
    ch = new_challenge("blow", rng=2, key=KEY, now_s=1000.0)
    back = Challenge.from_dict(ch.to_dict())
    assert back.windows == ch.windows and back.signature == ch.signature
    store = MemoryNonceStore()
    assert verify_challenge(ch.to_dict(), key=KEY, now_s=1010.0, nonce_store=store).nonce == ch.nonce
    assert ch.nonce in store


@pytest.mark.parametrize("field,value", [("windows", [[1.0, 2.0, "blow"], [3.0, 4.0, "blow"]]), ("expires_at", 9e9),
                                          ("kind", "speech"), ("duration_s", 20.0)])
def test_tampered(field: str, value: object) -> None:
    d = new_challenge("blow", rng=3, key=KEY, now_s=1000.0).to_dict()
    d[field] = value
    with pytest.raises(ChallengeTamperedError, match="signature does not match"):
        verify_challenge(d, key=KEY, now_s=1001.0)


def test_wrong_key_and_malformed() -> None:
    d = new_challenge("blow", rng=3, key=KEY, now_s=1000.0).to_dict()
    with pytest.raises(ChallengeTamperedError, match="another key"):
        verify_challenge(d, key="another-key-0123456789", now_s=1001.0)
    del d["nonce"]
    with pytest.raises(ChallengeTamperedError, match="malformed"):
        verify_challenge(d, key=KEY, now_s=1001.0)
    with pytest.raises(ChallengeTamperedError, match="not a JSON object"):
        verify_challenge([1, 2], key=KEY)  # type: ignore[arg-type]


def test_expired_and_reused() -> None:
    ch = new_challenge("blow", rng=4, key=KEY, now_s=1000.0, ttl_s=60)
    with pytest.raises(ChallengeExpiredError, match="expired"):
        verify_challenge(ch, key=KEY, now_s=1061.0)
    store = MemoryNonceStore()
    verify_challenge(ch, key=KEY, now_s=1001.0, nonce_store=store)
    with pytest.raises(ChallengeReusedError, match="already answered"):
        verify_challenge(ch, key=KEY, now_s=1002.0, nonce_store=store)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="kind='sneeze'"):
        new_challenge("sneeze", key=KEY)
    with pytest.raises(ConfigError, match="ttl_s"):
        new_challenge("blow", key=KEY, ttl_s=1)
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        new_challenge("blow", key="short")


def test_key_file_created_0600(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LIPAUTH_CHALLENGE_KEY", raising=False)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    key = challenge_key()
    path = tmp_path / "data" / "challenge.key"
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert challenge_key() == key and len(key) == 64
    ch = new_challenge("blow", rng=np.random.default_rng(1))
    verify_challenge(ch.to_dict())
    monkeypatch.setenv("LIPAUTH_CHALLENGE_KEY", "from-the-environment-123")
    assert challenge_key() == b"from-the-environment-123"
