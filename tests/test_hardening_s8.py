"""Hardening (review, session 8): each test failed before its fix."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lipauth.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


# --------------------------------------------------------------------------------------
# 1. lipauth eval with clips the CSV lists but that do not exist


def test_eval_refuses_missing_clips_naming_them_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    import lipauth.batch

    def no_batch(*_a, **_k):
        raise AssertionError("clips were evaluated although the dataset lists missing clips")

    monkeypatch.setattr(lipauth.batch, "run_batch", no_batch)
    (tmp_path / "here.mp4").write_bytes(b"\0" * 100)
    data = tmp_path / "d.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "user", "phrase", "challenge"])
        w.writerows([["here.mp4", "bona_fide", "", "", ""]] + [[f"gone{k}.mp4", "bona_fide", "", "", ""] for k in range(7)])
    out = tmp_path / "out"
    code, stdout, err = _run(["eval", str(data), "--out", str(out)], capsys)
    assert code == 2 and stdout == ""
    assert err.startswith(f"lipauth: error: {data}: 7 of 8 clips not found under {tmp_path}: gone0.mp4 (line 3), ")
    assert "gone4.mp4 (line 7) and 2 more; fix the paths or --root, or pass --allow-missing" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()  # nothing written


# --------------------------------------------------------------------------------------
# 2. a too-short answer to a challenge is refused before tracking


@pytest.mark.parametrize("kind", ["blow", "speech"])
def test_liveness_refuses_a_too_short_clip_before_tracking(kind: str, tmp_path: Path, monkeypatch) -> None:
    import lipauth.tracking
    from lipauth.auth import _decode_clip, check_liveness
    from lipauth.challenge import new_challenge
    from lipauth.checks.blow import check_blow
    from lipauth.checks.speech import check_speech_challenge
    from lipauth.synth import make_talking_clip

    clip = tmp_path / "short.mp4"
    make_talking_clip(clip, duration_s=1.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=2)
    ch = new_challenge(kind, rng=1)
    # what the check says after tracking (as before) ...
    _v, _t, features, audio, _n = _decode_clip(str(clip))
    tracked = (check_blow if kind == "blow" else check_speech_challenge)(features, audio, ch)
    assert tracked.reasons == ("CLIP_TOO_SHORT",)

    def no_tracking(*_a, **_k):
        raise AssertionError("a too-short clip was tracked")

    monkeypatch.setattr(lipauth.tracking, "track_lips", no_tracking)
    report = check_liveness(str(clip), challenge=ch)  # ... is now answered without tracking
    assert not report.accepted and report.reasons == (f"{kind.upper()}:CLIP_TOO_SHORT",)
    assert report.track is None and report.features is None
    assert report.result.to_dict() == tracked.to_dict()  # same code, details (clip_s, schedule_s) and threshold


def test_service_liveness_frames_a_full_answer_and_not_a_too_short_one(tmp_path: Path, monkeypatch) -> None:
    from lipauth.challenge import new_challenge
    from lipauth.service import work
    from lipauth.service.settings import WorkerConfig
    from lipauth.store import Store
    from lipauth.store.crypto import new_key
    from lipauth.synth import make_talking_clip

    key = new_key()
    monkeypatch.setattr(work, "_CFG", WorkerConfig(store_url=f"sqlite:///{tmp_path / 'l.db'}", template_key=new_key(),
                                                   other_keys=(), challenge_key=key, policy=("password",), max_clip_s=60.0))
    monkeypatch.setattr(work, "_STORE", Store(f"sqlite:///{tmp_path / 'l.db'}"))
    oval = {"cx": 0.5, "cy": 0.5, "rx": 0.3, "ry": 0.45}
    ch = new_challenge("speech", rng=1, key=key)
    full = make_talking_clip(tmp_path / "full.mp4", duration_s=ch.duration_s + 0.3, fps=25, size=(320, 240),
                             face_width_px=150, audio="syllables", seed=3).path
    short = make_talking_clip(tmp_path / "short.mp4", duration_s=2.0, fps=25, size=(320, 240), face_width_px=150,
                              audio="syllables", seed=3).path
    out = work.liveness(str(full), ch.to_dict(), None, False, oval=oval)
    assert "SPEECH:CLIP_TOO_SHORT" not in out["reasons"] and set(out["framing"]) == {"in_oval", "face_inside", "ok", "move"}
    ch = new_challenge("speech", rng=2, key=key)
    out = work.liveness(str(short), ch.to_dict(), None, False, oval=oval)
    assert out["reasons"] == ["SPEECH:CLIP_TOO_SHORT"] and "framing" not in out
    work._STORE.close()


# --------------------------------------------------------------------------------------
# 3. the speech challenge's result has its own type, with the blow result's keys


def test_speech_result_is_its_own_type_with_the_blow_results_keys(tmp_path: Path) -> None:
    from lipauth.auth import check_liveness
    from lipauth.challenge import new_challenge
    from lipauth.checks.blow import BlowResult, check_blow
    from lipauth.checks.speech import SpeechResult, check_speech_challenge
    from lipauth.features import extract_lip_features
    from lipauth.synth import make_talking_clip
    from lipauth.tracking import track_lips
    from lipauth.io import load_audio, load_video
    from lipauth.types import ChallengeResult

    assert not issubclass(SpeechResult, BlowResult) and not issubclass(BlowResult, SpeechResult)
    assert issubclass(SpeechResult, ChallengeResult) and issubclass(BlowResult, ChallengeResult)
    ch = {k: new_challenge(k, rng=1) for k in ("blow", "speech")}
    clip = make_talking_clip(tmp_path / "a.mp4", duration_s=ch["speech"].duration_s + 0.3, fps=25.0, size=(160, 120),
                             face_width_px=80.0, audio="syllables", seed=2).path
    video = load_video(clip)
    feats, audio = extract_lip_features(track_lips(video), video), load_audio(clip)
    speech = check_speech_challenge(feats, audio, ch["speech"])
    blow = check_blow(feats, audio, ch["blow"]) if ch["blow"].duration_s <= ch["speech"].duration_s else None
    assert type(speech) is SpeechResult and speech.check == "speech" and "CLIP_TOO_SHORT" not in speech.reasons
    keys = set(BlowResult().to_dict())
    assert set(speech.to_dict()) == keys and speech.to_dict()["type"] == "SpeechResult"
    if blow is not None:
        assert type(blow) is BlowResult and set(blow.to_dict()) == keys
    back = SpeechResult.from_dict(speech.to_dict())
    assert back.check == "speech" and back.reasons == speech.reasons and (back.mouth_state == speech.mouth_state).all()
    # the early answers (too short, before tracking) are typed too
    short = make_talking_clip(tmp_path / "s.mp4", duration_s=1.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=2).path
    rep = check_liveness(str(short), challenge=new_challenge("speech", rng=3))
    assert type(rep.result) is SpeechResult and rep.result.reasons == ("CLIP_TOO_SHORT",)
    assert set(rep.result.to_dict()) == keys

# --------------------------------------------------------------------------------------
# 4. a command result names its confidence and its relative-distance threshold


def test_command_result_names_the_units_of_score_and_threshold() -> None:
    import json

    from lipauth.checks.commands import CommandResult, CommandsConfig, _no_utterance

    r = CommandResult(score=0.91, threshold=0.6, accepted=True, word="water", details={"relative_distance": 0.42})
    assert (r.confidence, r.relative_distance, r.max_relative_distance) == (0.91, 0.42, 0.6)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["score"] == d["confidence"] == 0.91 and d["threshold"] == d["max_relative_distance"] == 0.6
    assert d["relative_distance"] == 0.42 and d["relative_distance"] <= d["max_relative_distance"]
    assert CommandResult.from_dict(d).to_dict() == d  # the named copies are read back from the fields
    none = _no_utterance(0.0, 1.0, CommandsConfig()).to_dict()
    assert none["relative_distance"] is None and none["max_relative_distance"] == none["threshold"]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "commands.md").read_text()
    api = doc[doc.index("## API and CLI"):doc.index("## Accuracy")]
    assert "`max_relative_distance` (= `threshold`)" in api and "`confidence` (= `score`)" in api

# --------------------------------------------------------------------------------------
# 5. enrolment checks read the one user's labels, not every user


def test_enrolment_check_reads_only_that_users_labels(tmp_path: Path, monkeypatch) -> None:
    from lipauth import Authenticator
    from lipauth.errors import UserExistsError
    from lipauth.store import Store

    store = Store(f"sqlite:///{tmp_path / 'l.db'}")
    store.enrol("alice", label="default", kind="lip_password", template=b"x")
    store.enrol("bob", label="home", kind="lip_password", template=b"y")

    def no_listing(*_a, **_k):
        raise AssertionError("every user was listed to check one user's labels")

    monkeypatch.setattr(store, "users", no_listing)
    takes = []
    for k in range(3):
        (tmp_path / f"t{k}.mp4").write_bytes(b"\0" * 100)  # never tracked: refused first
        takes.append(str(tmp_path / f"t{k}.mp4"))
    auth = Authenticator(store=store)
    with pytest.raises(UserExistsError, match="user 'alice' already has a password labelled 'default'"):
        auth.enrol("alice", takes, label="default")
    assert store.labels("alice") == ("default",) and store.labels("bob") == ("home",)  # nothing changed
    store.close()


# --------------------------------------------------------------------------------------
# 6. one progress bar, in the batch engine, used by the CLI too


def _abs(x: int) -> int:
    return abs(x)


def test_cli_and_batch_share_the_one_progress_bar(tmp_path: Path, monkeypatch) -> None:
    from contextlib import contextmanager

    import lipauth.batch.engine as engine
    import lipauth.cli._app as app
    from lipauth.synth import make_talking_clip

    assert not hasattr(app, "_progress") and not hasattr(engine, "_progress_bar")
    calls: list[tuple[str, int, int, list[tuple[int, int]]]] = []

    @contextmanager
    def recording(description: str, total: int, *, enabled: bool = True, min_total: int = 1):
        done: list[tuple[int, int]] = []
        calls.append((description, total, min_total, done))
        yield lambda d, t: done.append((d, t))

    monkeypatch.setattr(engine, "progress_bar", recording)
    engine.run_batch([("a", -1), ("b", 2)], _abs, workers=1, out=tmp_path / "b.jsonl", description="items")
    clip = tmp_path / "c.mp4"
    make_talking_clip(clip, duration_s=0.5, fps=25.0, size=(160, 120), face_width_px=80.0, seed=1)
    app._track_file(str(clip), quiet=False)
    assert [c[:3] for c in calls] == [("items", 2, 1), ("tracking c.mp4", 12, app.LONG_CLIP_FRAMES)]
    assert calls[0][3] == [(1, 2), (2, 2)] and calls[1][3][-1] == (12, 12)


# --------------------------------------------------------------------------------------
# 7. starlette's TestClient without its httpx deprecation warning (the test extras install httpx2)


def test_test_client_imports_without_a_deprecation_warning() -> None:
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[1]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(e.startswith("httpx2") for e in extras)
    proc = subprocess.run([sys.executable, "-W", "error", "-c", "import starlette.testclient"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-500:]
