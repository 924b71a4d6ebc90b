"""Issue 18 on the command line: exit 2 for every error that is not a rejection, JSON nested too
deep refused, one challenge nonce store shared with the service, names checked before the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lipauth.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(d))
    for name in ("LIPAUTH_STORE_URL", "LIPAUTH_KEY", "LIPAUTH_CHALLENGE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return d


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_internal_error_exits_2_not_1(data_dir: Path, capsys, monkeypatch) -> None:
    """Row 7: an internal error exited 1, which scripts read as "rejected"."""
    import lipauth.challenge

    def boom(*_a, **_k):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(lipauth.challenge, "new_challenge", boom)
    code, out, err = _run(["challenge", "new"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == "lipauth: internal error: RecursionError: maximum recursion depth exceeded (rerun with -vv for details)"


def test_deep_challenge_or_sensors_json_is_a_clear_exit_2(data_dir: Path, tmp_path: Path, capsys) -> None:
    """Row 6/7: JSON 1000 levels deep gave ``internal error: RecursionError`` and exit 1."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 1000 + "]" * 1000)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 100)
    code, out, err = _run(["liveness", str(clip), "--challenge", str(deep)], capsys)
    assert code == 2 and out == ""
    assert err.strip() == f"lipauth: error: {deep} nests 1000 levels deep; at most 32 are accepted (send the object unchanged)"
    from lipauth.challenge import new_challenge

    ch = tmp_path / "ch.json"
    ch.write_text(json.dumps(new_challenge("blow").to_dict()))
    code, _, err = _run(["liveness", str(clip), "--challenge", str(ch), "--sensors", str(deep)], capsys)
    assert code == 2 and "nests 1000 levels deep" in err


@pytest.mark.slow
def test_liveness_uses_up_the_nonce_in_the_services_store(data_dir: Path, tmp_path: Path, capsys) -> None:
    """Row 3: ``lipauth liveness`` never checked nor used the nonce: a challenge answered over HTTP was
    accepted again and again. Now the CLI and ``lipauth serve`` share the store in LIPAUTH_DATA_DIR."""
    from lipauth.challenge import new_challenge
    from lipauth.store import SqlNonceStore, Store
    from lipauth.synth import make_talking_clip

    clip = tmp_path / "answer.mp4"
    make_talking_clip(clip, duration_s=1.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=2)
    # a challenge the service already answered: its nonce is in the store
    used = new_challenge("blow", rng=1)
    with Store() as store:
        assert SqlNonceStore(store).use(used.nonce, expires_at=used.expires_at)
    (tmp_path / "used.json").write_text(json.dumps(used.to_dict()))
    code, out, err = _run(["liveness", str(clip), "--challenge", str(tmp_path / "used.json")], capsys)
    assert code == 2 and "was already answered once" in err, err
    # a fresh one: answered once (rejected: the clip is too short), then refused as reused
    fresh = new_challenge("blow", rng=2)
    (tmp_path / "fresh.json").write_text(json.dumps(fresh.to_dict()))
    code, out, _ = _run(["liveness", str(clip), "--challenge", str(tmp_path / "fresh.json")], capsys)
    assert code == 1 and "REJECTED" in out
    code, _, err = _run(["liveness", str(clip), "--challenge", str(tmp_path / "fresh.json")], capsys)
    assert code == 2 and "was already answered once" in err
    with Store() as store:
        assert not SqlNonceStore(store).use(fresh.nonce, expires_at=fresh.expires_at, now_s=time.time())


def test_verify_and_enrol_check_names_before_the_store(data_dir: Path, tmp_path: Path, capsys) -> None:
    """Rows 9/10: ``lipauth verify ../x`` made a lock-out row; a label ``../../x\\0`` was stored."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 100)
    code, _, err = _run(["verify", "../x", str(clip)], capsys)
    assert code == 2 and "user name '../x' is not allowed" in err
    code, _, err = _run(["verify", "bob", str(clip), "--label", "../../x\x00"], capsys)
    assert code == 2 and "password label" in err and "is not allowed" in err
    code, _, err = _run(["enrol", "bob", str(clip), str(clip), str(clip), "--label", "a/b"], capsys)
    assert code == 2 and "password label 'a/b' is not allowed" in err
    from lipauth.store import Store

    with Store() as store:
        assert store.attempts("../x") == [] and store.users() == []
