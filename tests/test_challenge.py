"""Challenges: schedule shape, signature, expiry, single use, key file."""

from __future__ import annotations

import json
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
    assert 5.4 - 1e-6 <= ch.duration_s <= 14.5 + 1e-6 < 20.0  # the service refuses clips over 20 s
    assert len(ch.windows) == 3
    prev_end = 0.0
    for a, b, prompt in ch.windows:
        assert prompt == "blow"
        assert round(b - a, 2) in (0.8, 1.25, 1.7, 2.15, 2.6)
        assert a >= 1.0 - 1e-6 and b <= ch.duration_s - 0.6 + 1e-6
        if prev_end:
            assert round(a - prev_end, 2) in (0.7, 1.15, 1.6, 2.05)
        else:
            assert 1.0 - 1e-6 <= a <= 2.0 + 1e-6
        prev_end = b


def _intervals(ch) -> tuple[float, ...]:
    out = []
    for i, (a, b, _) in enumerate(ch.windows):
        if i:
            out.append(round(a - ch.windows[i - 1][1], 2))
        out.append(round(b - a, 2))
    return tuple(out)


def test_speech_schedule_and_randomness() -> None:
    ch = new_challenge("speech", rng=1, key=KEY)
    assert {p for _, _, p in ch.windows} == {"speak"} and len(ch.windows) == 3
    assert ch.duration_s <= 17.75 + 1e-6
    assert all(round(b - a, 2) in (1.0, 1.75, 2.5, 3.25) for a, b, _ in ch.windows)
    schedules = {new_challenge("blow", rng=s, key=KEY).windows for s in range(30)}
    assert len(schedules) == 30
    assert new_challenge("blow", rng=5, key=KEY).nonce != new_challenge("blow", rng=5, key=KEY).nonce


def test_two_schedules_differ_by_half_a_second_somewhere() -> None:
    """Any two schedules either share all 5 intervals or differ in one by >= 0.45 s; sharing
    all of them has probability 5**-3 * 4**-2 = 1/2000 (the replay defence of lipauth.checks.blow)."""
    codes = [_intervals(new_challenge("blow", rng=s, key=KEY)) for s in range(2000)]
    for i in range(0, 2000, 7):
        for j in range(i + 1, min(i + 40, 2000)):
            diff = max(abs(x - y) for x, y in zip(codes[i], codes[j]))
            assert diff == 0.0 or diff >= 0.45 - 1e-9
    same = sum(codes[i] == codes[i + 1] for i in range(1999))
    assert same <= 5, same  # expected 1999 / 2000 = 1.0 (P(> 5) = 0.0006)
    lengths = [new_challenge("blow", rng=s, key=KEY).duration_s for s in range(2000)]
    assert 9.8 <= float(np.mean(lengths)) <= 10.1, np.mean(lengths)  # 9.95 s expected


def test_speech_schedules_differ_by_a_window_step_or_a_rest_step() -> None:
    """Two speech schedules share every interval (1 in 4**3 * 6**2 = 2304) or differ in a window
    length by >= 0.75 s (= the 0.25 s early + 0.5 s late an answer may end: its offset falls
    outside) or only in rests, by >= 0.4 s (> the 0.3-s onset spread); every schedule fits the
    service's 20-s clip limit (longest 17.75 s)."""
    from lipauth.challenge import REST_LEVELS_S, WINDOW_LEVELS_S
    from lipauth.checks.speech import SPEECH_MAX_ONSET_SPREAD_S, SPEECH_OFFSET_EARLY_S, SPEECH_OFFSET_LATE_S

    steps = np.diff(WINDOW_LEVELS_S["speech"])
    assert np.all(steps >= SPEECH_OFFSET_EARLY_S + SPEECH_OFFSET_LATE_S - 1e-9)
    assert np.all(np.diff(REST_LEVELS_S["speech"]) >= SPEECH_MAX_ONSET_SPREAD_S + 0.1 - 1e-9)
    chs = [new_challenge("speech", rng=s, key=KEY) for s in range(2000)]
    assert max(c.duration_s for c in chs) <= 17.75 + 1e-6 < 20.0
    assert 11.6 <= float(np.mean([c.duration_s for c in chs])) <= 12.2  # 11.9 s expected
    codes = [_intervals(c) for c in chs]
    for i in range(0, 2000, 7):
        for j in range(i + 1, min(i + 40, 2000)):
            wins = max(abs(codes[i][k] - codes[j][k]) for k in (0, 2, 4))
            rests = max(abs(codes[i][k] - codes[j][k]) for k in (1, 3))
            assert wins >= 0.75 - 1e-9 or (wins == 0.0 and (rests == 0.0 or rests >= 0.4 - 1e-9))
    same = sum(codes[i] == codes[i + 1] for i in range(1999))
    assert same <= 5, same  # expected 1999 / 2304 = 0.9


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


@pytest.mark.parametrize("field,value,match", [
    ("version", 99, "version 99 is not 1"),
    ("version", "1", "malformed"),
    ("type", "Other", "type is 'Other'"),
    ("subject", "mallory", "signature does not match"),
    ("extra", 1, r"fields \['extra'\]"),
])
def test_signature_covers_every_field(field: str, value: object, match: str) -> None:
    """Issue 18 row 12: ``version`` (and ``type``) were not signed: ``version: 99`` verified."""
    d = new_challenge("blow", rng=3, key=KEY, now_s=1000.0).to_dict()
    assert verify_challenge(dict(d), key=KEY, now_s=1001.0).version == 1
    d[field] = value
    with pytest.raises(ChallengeTamperedError, match=match):
        verify_challenge(d, key=KEY, now_s=1001.0)


def test_signed_content_names_type_and_version() -> None:
    ch = new_challenge("speech", rng=1, key=KEY, now_s=1000.0)
    content = json.loads(ch.canonical())
    assert content["type"] == "Challenge" and content["version"] == 1 and set(ch.to_dict()) == set(content) | {"signature"}
