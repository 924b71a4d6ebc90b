"""What a demanding first user hit on the command line with real clips (reproduced here on
synthetic inputs): usage errors as one line, a photo named as a photo by ``sync``, enrolment
refusals before seconds of tracking (and nothing stored or counted), ``commands enrol
--no-copies``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lipauth.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def _one_error_line(code: int, out: str, err: str, *contains: str) -> str:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("lipauth: error: "), err
    for text in contains:
        assert text in lines[0], err
    assert out == ""
    return lines[0]


def test_usage_errors_are_one_line_and_say_where_help_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_error_line(*_run(capsys, "sync", str(tmp_path)), "is a directory", "'lipauth sync --help'")
    assert str(tmp_path) in line
    _one_error_line(*_run(capsys, "sync"), "Missing argument 'VIDEO'", "'lipauth sync --help'")
    _one_error_line(*_run(capsys, "sync", "x.mp4", "--bogus"), "No such option '--bogus'")
    _one_error_line(*_run(capsys, "nosuchverb"), "No such command 'nosuchverb'", "'lipauth --help'")
    _one_error_line(*_run(capsys, "enrol", "bob"), "Missing argument 'TAKES...'", "'lipauth enrol --help'")
    code, _, err = _run(capsys, "users")  # a group without its subcommand still shows its help
    assert code == 2 and "Commands:" in err and "list" in err


def test_sync_names_a_photo_as_a_photo_not_as_missing_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2 = pytest.importorskip("cv2")
    photo = tmp_path / "face.jpg"
    rng = np.random.default_rng(0)
    assert cv2.imwrite(str(photo), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    _one_error_line(*_run(capsys, "sync", str(photo)), "face.jpg: is a still image")
    _one_error_line(*_run(capsys, "sync", str(photo), "--json"), "is a still image")


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data dir with 'bob' enrolled (a placeholder template), three non-empty take files,
    and the tracker replaced by a failure: these refusals must come before any take is tracked."""
    from lipauth.auth import Authenticator
    from lipauth.checks.password import TEMPLATE_KIND
    from lipauth.store import Store

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    with Store(None) as store:
        store.enrol("bob", label="default", kind=TEMPLATE_KIND, template=b"placeholder")

    def no_tracking(*_a, **_k):
        raise AssertionError("a take was tracked before the cheap checks")

    monkeypatch.setattr(Authenticator, "_prepare", no_tracking)
    for name in ("a", "b", "c", "cur"):
        (tmp_path / f"{name}.mp4").write_bytes(b"not tracked in this test")
    return tmp_path


def _bob(capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, _ = _run(capsys, "users", "list", "--json")
    assert code == 0
    (row,) = json.loads(out)
    return row


def test_enrol_refusals_come_before_tracking_and_store_nothing(store_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = (str(store_env / f"{n}.mp4") for n in "abc")
    _one_error_line(*_run(capsys, "enrol", "ann", a, b), "got 2 enrolment take(s); record at least 3")
    _one_error_line(*_run(capsys, "enrol", "ann", a, b, str(store_env / "gone.mp4")), "gone.mp4: no such file")
    _one_error_line(*_run(capsys, "enrol", "ann", a, b, str(store_env)), "is a directory")
    _one_error_line(*_run(capsys, "enrol", "bob", a, b, c, "--json"), "already has a password labelled 'default'")
    code, out, _ = _run(capsys, "users", "list", "--json")
    assert [r["name"] for r in json.loads(out)] == ["bob"]


def test_change_checks_the_new_takes_before_the_attempt_counts(store_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, cur = (str(store_env / f"{n}.mp4") for n in ("a", "b", "cur"))
    _one_error_line(*_run(capsys, "change", "bob", cur, a, b, str(store_env / "gone.mp4")), "gone.mp4: no such file")
    assert _bob(capsys)["failed_count"] == 0


def test_commands_enrol_without_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mediapipe", reason="the takes are tracked with MediaPipe")
    from password_synth import render_take

    takes = [render_take("A", speed=speed, seed=seed, path=str(tmp_path / f"t{i}.mp4")).path
             for i, (seed, speed) in enumerate(((0, 0.95), (1, 1.0), (2, 1.05)))]
    store = str(tmp_path / "vocab")
    code, out, err = _run(capsys, "commands", "enrol", "home", *map(str, takes), "--word", "yes", "--no-copies",
                          "--store", store, "--json")
    assert code == 0, err
    assert json.loads(out) == {"vocabulary": "home", "words": {"yes": 3}}


def test_commands_enrol_names_a_missing_take_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import lipauth.checks.commands as commands

    def no_tracking(*_a, **_k):
        raise AssertionError("a take was tracked before the missing one was named")

    monkeypatch.setattr(commands, "clip_sequence", no_tracking)
    (tmp_path / "a.mp4").write_bytes(b"x")
    _one_error_line(*_run(capsys, "commands", "enrol", "home", str(tmp_path / "a.mp4"), str(tmp_path / "a.mp4"),
                          str(tmp_path / "gone.mp4"), "--word", "yes", "--store", str(tmp_path / "v")),
                    "gone.mp4: no such file")
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").iterdir())


def test_liveness_says_how_long_the_clip_must_be_and_refuses_a_reused_challenge_before_tracking(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mediapipe", reason="the clip is tracked with MediaPipe")
    import lipauth.auth
    from lipauth.challenge import new_challenge
    from lipauth.synth import make_talking_clip

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    clip = tmp_path / "short.mp4"
    make_talking_clip(clip, duration_s=1.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=2)
    ch = new_challenge("blow", rng=1)
    (tmp_path / "ch.json").write_text(json.dumps(ch.to_dict()))
    code, out, err = _run(capsys, "liveness", str(clip), "--challenge", str(tmp_path / "ch.json"))
    assert code == 1, err
    assert f"the clip lasts 1.0 s; the challenge's prompts need {ch.duration_s:.1f} s" in out

    def no_decoding(*_a, **_k):
        raise AssertionError("the clip was decoded for a challenge already answered")

    monkeypatch.setattr(lipauth.auth, "_decode_media", no_decoding)  # under _decode_clip too
    _one_error_line(*_run(capsys, "liveness", str(clip), "--challenge", str(tmp_path / "ch.json"), "--json"),
                    "was already answered once")


def test_progress_bars_stay_off_a_stderr_that_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """With stderr in a file (a script, a CI log) the bars only left a blank line there."""
    from lipauth.batch.engine import progress_bar  # the one bar: the CLI's tracking and the batch engine

    with progress_bar("tracking x.mp4", 1000) as update:
        assert update is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("args", [
    ("track", "{clip}", "--plot", "{missing}/mouth.png"),
    ("sync", "{clip}", "--plot", "{missing}/sync.png"),
    ("inspect", "{clip}", "--out", "{missing}/features.json"),
    ("commands", "recognise", "home", "{clip}", "--plot", "{missing}/r.png"),
], ids=lambda a: a[0] if a[0] != "commands" else "commands-recognise")
def test_an_output_in_a_missing_folder_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  args: tuple[str, ...]) -> None:
    clip = tmp_path / "never_read.mp4"  # exists, but is not a video: nothing may read it first
    clip.write_bytes(b"x")
    argv = [a.format(clip=clip, missing=tmp_path / "no" / "such") for a in args]
    line = _one_error_line(*_run(capsys, *argv), "does not exist; create it first")
    assert "never_read" not in line


def test_sync_offset_in_words() -> None:
    """"-10 ms (audio behind lips)" read as the voice 10 ms late; the sign is now said in words."""
    from lipauth.cli.sync import _offset_words

    assert _offset_words(-10.0) == "offset -10 ms (the voice 10 ms before the lips)"
    assert _offset_words(90.0) == "offset +90 ms (the voice 90 ms after the lips)"
    assert _offset_words(0.2) == "offset +0 ms (voice and lips together)"


def test_sync_of_a_still_face_says_not_scored_not_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("mediapipe", reason="the clip is tracked with MediaPipe")
    from lipauth.synth import make_talking_clip

    clip, voice = tmp_path / "still.mp4", tmp_path / "voice.mp4"
    make_talking_clip(clip, duration_s=2.0, fps=25.0, size=(320, 240), face_width_px=120.0, opening=np.zeros(50),
                      width=np.zeros(50), audio=None, seed=5)
    make_talking_clip(voice, duration_s=2.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=6)
    code, out, err = _run(capsys, "sync", str(clip), "--audio", str(voice))
    assert code == 1, err
    assert "REJECTED" in out and "not scored" in out and "nan" not in out.lower(), out
    code, out, _ = _run(capsys, "sync", str(clip), "--audio", str(voice), "--json")
    assert code == 1 and json.loads(out)["accepted"] is False
