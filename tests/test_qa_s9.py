"""What a demanding new user hit with real clips in QA session 9 (reproduced here on synthetic
inputs where possible; tests that need ../shared/data skip when it is absent)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lipauth.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


# --------------------------------------------------------------------------------------
# liveness --json of a blow challenge nobody answered: a NaN in a list in the details


def test_result_to_dict_turns_nan_inside_lists_into_null() -> None:
    """``lipauth liveness --json`` (and the service's answer) of a real talking clip against a
    blow challenge crashed with "Out of range float values are not JSON compliant": the blow
    check's ``mouth_timing`` holds NaN delays in lists (an unanswered window), and
    ``to_dict`` only cleaned NaN in tuples and arrays."""
    from lipauth.checks.blow import BlowResult, schedule_timing

    t = np.arange(0, 5, 0.04)
    timing = schedule_timing(t, np.zeros_like(t, dtype=bool), [(1.0, 2.0), (3.0, 4.0)])
    assert math.isnan(timing.onset_delay_s[0])
    result = BlowResult(score=0.0, threshold=0.5, accepted=False, reasons=("NO_BLOW_HEARD",),
                        details={"mouth_timing": timing.to_dict(), "nested": [[float("nan"), 1.0], {"x": [float("inf")]}]})
    text = json.dumps(result.to_dict(), allow_nan=False)  # the CLI's and Starlette's encoders both refuse NaN
    details = json.loads(text)["details"]
    assert details["mouth_timing"]["onset_delay_s"] == [None, None]
    assert details["nested"] == [[None, 1.0], {"x": [None]}]


# --------------------------------------------------------------------------------------
# command vocabularies are private like the rest of the data dir


def test_vocabulary_files_are_private_whatever_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lipauth commands enrol`` into a fresh LIPAUTH_DATA_DIR made it 0755 and wrote
    ``vocabularies/home.npz`` 0644 (the person's lip crops readable by every local user),
    while the store and keys in the same folder are 0600 in a 0700 folder (docs/service.md)."""
    import os
    import stat

    from lipauth.checks.commands import FileVocabularyStore, Vocabulary

    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 12)
    vocab = Vocabulary("home")
    vocab.add_word("stop", [np.stack([np.sin(6 * t), np.cos(6 * t), t], 1).astype(np.float32)
                            + 0.05 * rng.standard_normal((12, 3)).astype(np.float32) for _ in range(3)])
    data = tmp_path / "fresh" / "data"
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(data))
    old = os.umask(0o022)
    try:
        FileVocabularyStore().save(vocab)
        FileVocabularyStore(tmp_path / "own").save(vocab)  # --store DIR: private too
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(data) == 0o700
    assert mode(data / "vocabularies") == 0o700
    assert mode(data / "vocabularies" / "home.npz") == 0o600
    assert mode(tmp_path / "own") == 0o700 and mode(tmp_path / "own" / "home.npz") == 0o600
    assert sorted(p.name for p in (data / "vocabularies").iterdir()) == ["home.npz"]  # no temporary file left
    assert FileVocabularyStore().load("home").words == ["stop"]


# --------------------------------------------------------------------------------------
# commands enrol: a bad --word is refused before the takes are tracked


@pytest.mark.parametrize("word", ["", "   ", "x" * 65, "two\nlines"])
def test_commands_enrol_refuses_a_bad_word_before_tracking(word: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth commands enrol home a b c --word ''`` tracked the three real takes (3 s) before
    saying the word is not valid; now it is refused at once, and nothing is stored."""
    import lipauth.checks.commands as commands

    def no_tracking(*_a, **_k):
        raise AssertionError("a take was tracked before the word was checked")

    monkeypatch.setattr(commands, "clip_sequence", no_tracking)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    takes = []
    for name in "abc":
        (tmp_path / f"{name}.mp4").write_bytes(b"never tracked")
        takes.append(str(tmp_path / f"{name}.mp4"))
    code, out, err = _run(capsys, "commands", "enrol", "home", *takes, "--word", word)
    assert code == 2 and out == "", err
    assert err.startswith("lipauth: error: word ") and "is not valid; pass 1-64 characters on one line" in err
    assert not (tmp_path / "data" / "vocabularies").exists()


# --------------------------------------------------------------------------------------
# eval: a binary file passed as the dataset CSV


def test_eval_names_a_binary_dataset_file_instead_of_an_internal_error(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth eval picture.png --out DIR`` printed "internal error: UnicodeDecodeError"."""
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    code, out, err = _run(capsys, "eval", str(png), "--out", str(tmp_path / "ev"))
    assert code == 2 and out == ""
    assert err.startswith("lipauth: error: ") and "picture.png: is not a UTF-8 text CSV" in err, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()


# --------------------------------------------------------------------------------------
# demo --video: a clip that cannot be used leaves no empty output folder behind


def test_demo_with_an_unusable_video_leaves_no_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth demo --video picture.png --out-dir DIR`` (or a clip without a face) failed but
    left ``DIR`` (and its new parents) behind, empty; a folder that existed before stays."""
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n")
    out = tmp_path / "new" / "demo"
    code, stdout, err = _run(capsys, "demo", "--video", str(bad), "--out-dir", str(out))
    assert code == 2 and stdout == "" and "notes.mp4: cannot be read" in err, err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    code, _, err = _run(capsys, "demo", "--video", str(bad), "--out-dir", str(existing))
    assert code == 2 and existing.is_dir(), err


def test_commands_enrol_refuses_an_unwritable_vocabulary_folder_before_tracking(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``LIPAUTH_DATA_DIR=<a file>`` or ``--store <under a file>`` / ``--store /proc/voc``: the takes
    were tracked for 3 s, then the save failed ("/proc/voc: No such file or directory")."""
    import lipauth.checks.commands as commands

    def no_tracking(*_a, **_k):
        raise AssertionError("a take was tracked before the vocabulary folder was checked")

    monkeypatch.setattr(commands, "clip_sequence", no_tracking)
    takes = []
    for name in "abc":
        (tmp_path / f"{name}.mp4").write_bytes(b"never tracked")
        takes.append(str(tmp_path / f"{name}.mp4"))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    code, out, err = _run(capsys, "commands", "enrol", "home", *takes, "--word", "stop", "--store", str(a_file / "voc"))
    assert code == 2 and out == "" and "vocabulary folder" in err and "cannot be written" in err, err
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(a_file))
    code, out, err = _run(capsys, "commands", "enrol", "home", *takes, "--word", "stop")
    assert code == 2 and out == "" and "LIPAUTH_DATA_DIR" in err and "cannot be created" in err, err
    # a new --store folder is checked by making it, and not left behind when the command fails
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    code, _, err = _run(capsys, "commands", "enrol", "home", *takes, "--word", "stop", "--store", str(tmp_path / "new" / "voc"))
    assert code == 2 and "internal error" in err  # the patched tracker
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------------------
# sync: a silent clip (muted microphone) is refused before tracking


def test_sync_refuses_a_silent_clip_before_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth sync spoof/phone_replay.mp4`` (digital silence) tracked the clip for 3 s before
    saying the audio is silent; the service's /v1/sync kept a worker busy as long."""
    import lipauth.cli.sync as cli_sync
    import lipauth.tracking as tracking
    from lipauth.service import work
    from lipauth.errors import SilentAudioError
    from lipauth.synth import make_talking_clip

    clip = tmp_path / "muted.mp4"
    make_talking_clip(str(clip), duration_s=1.5, fps=15.0, size=(160, 120), face_width_px=60, audio="silence", seed=0)

    def no_tracking(*_a, **_k):
        raise AssertionError("the clip was tracked before its silence was noticed")

    monkeypatch.setattr(cli_sync, "_track_file", no_tracking)
    monkeypatch.setattr(tracking, "track_lips", no_tracking)
    code, out, err = _run(capsys, "sync", str(clip))
    assert code == 2 and out == "" and "muted.mp4: audio is silent" in err, err
    monkeypatch.setattr(work, "_check_length", lambda _p: None)
    with pytest.raises(SilentAudioError):
        work.sync(str(clip), False)


# --------------------------------------------------------------------------------------
# video outputs with a suffix lipauth cannot write, and magnify bands, refused before tracking


@pytest.mark.parametrize("args", [
    ("track", "{clip}", "--out", "{tmp}/t.json", "--overlay", "{tmp}/overlay.txt"),
    ("track", "{clip}", "--overlay", "{tmp}/overlay.wav"),
    ("magnify", "{clip}", "--out", "{tmp}/magnified.txt"),
    ("magnify", "{clip}", "--out", "{tmp}/magnified.mp4", "--high-hz", "500"),
    ("magnify", "{clip}", "--out", "{tmp}/magnified.mp4", "--low-hz", "0.001"),
    ("synth", "{tmp}/talk.wav"),
])
def test_video_outputs_and_bands_are_checked_before_tracking(args: tuple[str, ...], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth track CLIP --out t.json --overlay overlay.txt`` tracked the clip, wrote t.json, then
    failed on the overlay's suffix; ``magnify --out x.txt`` / ``--high-hz 500`` also failed only
    after tracking (and listed audio suffixes such as .wav as choices for a video)."""
    import lipauth.cli._app as app
    import lipauth.cli.video as video

    def no_tracking(*_a, **_k):
        raise AssertionError("the clip was tracked before the options were checked")

    monkeypatch.setattr(app, "_track_file", no_tracking)
    monkeypatch.setattr(video, "_track_file", no_tracking)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never tracked")
    argv = [a.format(clip=clip, tmp=tmp_path) for a in args]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("lipauth: error: "), err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    if "unknown output suffix" in err:
        assert ".wav" not in err.split("use one of")[1] and ".mp4" in err
    assert "write_audio" not in err  # a library function is no advice on the command line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # nothing written


# --------------------------------------------------------------------------------------
# --plot: a suffix Matplotlib cannot write, and a plot path without a suffix


@pytest.mark.parametrize("args", [
    ("sync", "{clip}", "--plot", "{tmp}/sync.txt"),
    ("track", "{clip}", "--out", "{tmp}/t.json", "--plot", "{tmp}/mouth.txt"),
    ("inspect", "{clip}", "--plot", "{tmp}/features.doc"),
    ("commands", "recognise", "home", "{clip}", "--plot", "{tmp}/r.txt"),
    ("liveness", "{clip}", "--challenge", "{clip}", "--plot", "{tmp}/timeline.svg"),  # the timeline is PNG bytes
])
def test_a_plot_suffix_that_cannot_be_written_is_refused_before_tracking(
        args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth sync CLIP --plot sync.txt`` tracked the clip, then ended in "internal error:
    ValueError: Format 'txt' is not supported" (``track`` had written ``--out`` by then)."""
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never read")
    code, out, err = _run(capsys, *[a.format(clip=clip, tmp=tmp_path) for a in args])
    assert code == 2 and out == "", err
    assert "Invalid value for '--plot'" in err and "cannot write a plot as ." in err and "internal error" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_plot_without_a_suffix_is_written_where_the_cli_says(tmp_path: Path) -> None:
    """``lipauth track CLIP --plot mouth`` said "plot written to mouth" but Matplotlib wrote
    ``mouth.png``; a plot is now written at its very path (PNG when it has no suffix)."""
    from lipauth.errors import ConfigError
    from lipauth.types import LipTrack
    from lipauth.viz import plot_format, plot_track

    assert plot_format("mouth") == "png" and plot_format("m.SVG") == "svg" and plot_format("m.pdf") == "pdf"
    with pytest.raises(ConfigError, match=r"m\.txt: cannot write a plot as \.txt"):
        plot_format("m.txt")
    with pytest.raises(ConfigError, match=r"use \.png$"):
        plot_format("m.svg", png_only=True)
    n = 10
    rng = np.random.default_rng(0)
    lm = (0.5 + 0.05 * rng.standard_normal((n, 40, 2))).astype(np.float32)
    track = LipTrack(
        timestamps_s=np.arange(n) / 25.0, detected=np.ones(n, bool),
        face_box=np.tile(np.float32([10, 10, 54, 40]), (n, 1)), labial_box=np.tile(np.float32([20, 28, 44, 38]), (n, 1)),
        landmarks_px=lm * 64, landmarks_norm=lm, pose=np.zeros((n, 3), np.float32), quality=np.zeros(n, np.uint8),
        n_faces=np.ones(n, np.uint8), width=64, height=48, backend="test",
    )
    written = plot_track(track, tmp_path / "mouth")
    assert written == tmp_path / "mouth" and (tmp_path / "mouth").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "mouth.png").exists()


# --------------------------------------------------------------------------------------
# API key names: one printable line, not the page credential's name


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", " padded", "bell\x07", "page"])
def test_api_key_names_are_one_printable_line_and_not_page(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth apikeys create $'two\\nlines'`` made a key whose name split ``apikeys list`` (one
    tab-separated line per key) in two; a key named ``page`` shared the page credential's name
    (and its per-key rate-limit bucket)."""
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    code, out, err = _run(capsys, "apikeys", "create", name)
    assert code == 2 and out == "" and err.startswith("lipauth: error: API key name "), err
    assert len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, "apikeys", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = _run(capsys, "apikeys", "create", "my app 2")  # a space inside is fine
    assert code == 0 and out.startswith("lk_")


# --------------------------------------------------------------------------------------
# verify --threshold: the override was ignored; an override must not let a decoy match pass


@pytest.fixture
def enrolled_alice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A data dir with 'alice' enrolled from three synthetic takes; clips are (video, take) pairs."""
    from password_synth import tracked_take

    from lipauth.auth import AuthConfig, Authenticator, _Prepared
    from lipauth.store import Store

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(Authenticator, "_prepare",
                        lambda self, clip, **_: _Prepared(take=clip[1], features=None, video=clip[0], audio=None))
    with Store(None) as store:
        Authenticator(AuthConfig(), store).enrol(
            "alice", [tracked_take("A", v, 150.0, False, s) for s, v in ((0, 0.95), (1, 1.0), (2, 1.05))])
    return {"right": tracked_take("A", 1.25, 150.0, False, 6), "wrong": tracked_take("B", 1.0, 150.0, False, 9)}


def test_a_policy_threshold_override_never_accepts_a_decoy_match(enrolled_alice: dict) -> None:
    """With ``Policy(thresholds={"password": T})`` below a decoy's score, verifying an enrolled user
    with a password label they do not have was ACCEPTED (the unknown label is matched against a
    decoy template, and the policy's threshold replaced the check's own test); an unknown user
    was already forced to a mismatch. Found while making ``verify --threshold`` work."""
    from lipauth.auth import AuthConfig, Authenticator
    from lipauth.decision import Policy
    from lipauth.store import Store

    with Store(None) as store:
        auth = Authenticator(AuthConfig(policy=Policy(thresholds={"password": -10.0})), store)
        for user, label in (("alice", "other"), ("mallory", None), ("mallory", "default")):
            res = auth.verify(user, enrolled_alice["right"], label=label)
            assert not res.accepted and res.reasons == ("PASSWORD:MISMATCH",), (user, label)
        assert auth.verify("alice", enrolled_alice["right"], label="default").accepted


def test_verify_threshold_override_is_used(enrolled_alice: dict, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth verify alice CLIP --threshold 0.9`` printed "vs threshold 0.190" and accepted: the
    stored template's own threshold was used and the option had no effect."""
    import lipauth.cli.users as users

    clips = {"right.mp4": enrolled_alice["right"], "wrong.mp4": enrolled_alice["wrong"]}
    real_auth = users._auth

    def auth_with_pairs(store_url, threshold=None):  # the CLI's paths stand for the tracked pairs
        a = real_auth(store_url, threshold)
        verify = a.verify
        monkeypatch.setattr(a, "verify", lambda user, clip, **kw: verify(user, clips[clip], **kw))
        return a

    monkeypatch.setattr(users, "_auth", auth_with_pairs)
    code, out, _ = _run(capsys, "verify", "alice", "right.mp4", "--json")
    base = json.loads(out)
    assert code == 0 and base["accepted"]
    score = base["scores"]["password"]["score"]
    code, out, _ = _run(capsys, "verify", "alice", "right.mp4", "--threshold", f"{min(1.0, score + 0.05):.3f}", "--json")
    strict = json.loads(out)
    assert code == 1 and not strict["accepted"]
    assert strict["scores"]["password"]["threshold"] == pytest.approx(min(1.0, score + 0.05), abs=1e-3)
    code, out, _ = _run(capsys, "verify", "alice", "wrong.mp4", "--threshold", "-10", "--json")
    assert code == 0 and json.loads(out)["accepted"]  # the admin's own choice: the override decides


# --------------------------------------------------------------------------------------
# enrolment from three copies of one take


def test_enrolment_refuses_the_same_recording_twice_before_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth enrol frank rep01.mp4 rep01.mp4 rep01.mp4`` (a typo, or a copied file) enrolled
    "from 3 takes; take-to-take spread 0.00": one take's movement, not the person's variation."""
    from lipauth.auth import Authenticator
    from lipauth.errors import InconsistentTakesError
    from lipauth.store import Store

    def no_tracking(*_a, **_k):
        raise AssertionError("a take was tracked before the repeated take was named")

    monkeypatch.setattr(Authenticator, "_prepare", no_tracking)
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    for name, data in (("a", b"take one"), ("b", b"take two"), ("copy_of_b", b"take two")):
        (tmp_path / f"{name}.mp4").write_bytes(data)
    a, b, copy = (str(tmp_path / f"{n}.mp4") for n in ("a", "b", "copy_of_b"))
    code, out, err = _run(capsys, "enrol", "frank", a, b, a)
    assert code == 2 and out == "" and "take 3 (" in err and "is the same recording as take 1" in err, err
    code, out, err = _run(capsys, "enrol", "frank", a, b, copy, "--json")
    assert code == 2 and "copy_of_b.mp4) is the same recording as take 2" in err, err
    with Store(None) as store:
        assert store.users() == []
        with pytest.raises(InconsistentTakesError, match="take 2 .* same recording as take 1"):
            Authenticator(store=store).enrol("frank", [b"same bytes", b"same bytes", b"other"])


# --------------------------------------------------------------------------------------
# LIPAUTH_<COMMAND>_<OPTION> follows the option's name, not the Python parameter's


def test_option_environment_variables_follow_the_option_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``LIPAUTH_SYNC_JSON=1 lipauth sync CLIP`` printed the summary, not JSON: Click named the
    variable after the parameter (``LIPAUTH_SYNC_AS_JSON``; ``--store``: ``..._STORE_URL``;
    ``--challenge``: ``..._CHALLENGE_PATH``), not ``LIPAUTH_<COMMAND>_<OPTION>`` as docs/cli.md says."""
    import click

    from lipauth.cli import cli

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIPAUTH_USERS_LIST_JSON", "1")
    code, out, err = _run(capsys, "users", "list")
    assert code == 0 and json.loads(out) == [], (out, err)
    monkeypatch.delenv("LIPAUTH_USERS_LIST_JSON")
    monkeypatch.setenv("LIPAUTH_USERS_LIST_AS_JSON", "1")  # the old (parameter) name still works
    code, out, _ = _run(capsys, "users", "list")
    assert code == 0 and json.loads(out) == []

    def walk(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            path = f"{prefix}_{name.upper().replace('-', '_')}"
            for p in command.params:
                if isinstance(p, click.Option) and p.name != "help":
                    long = next(o for o in p.opts if o.startswith("--"))
                    yield p.envvar, f"{path}_{long[2:].upper().replace('-', '_')}"
            if isinstance(command, click.Group):
                yield from walk(command, path)

    pairs = list(walk(cli, "LIPAUTH"))
    assert ("LIPAUTH_SYNC_JSON", "LIPAUTH_SYNC_JSON") in pairs and ("LIPAUTH_EVAL_OUT", "LIPAUTH_EVAL_OUT") in pairs
    assert all(got == want for got, want in pairs), [p for p in pairs if p[0] != p[1]]


def test_sync_audio_option_without_sound_names_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth sync CLIP --audio picture.png`` said "no audio stream; record with a microphone or
    pass audio=..." (the library's keyword, not an option of the command)."""
    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(picture)
    code, out, err = _run(capsys, "sync", str(picture), "--audio", str(picture))
    assert code == 2 and "is a still image" in err  # the video is judged first
    from lipauth.synth import make_talking_clip

    silent_video = tmp_path / "video.mp4"
    make_talking_clip(str(silent_video), duration_s=1.0, fps=15.0, size=(160, 120), face_width_px=60, audio="silence", seed=0)
    code, out, err = _run(capsys, "sync", str(silent_video), "--audio", str(picture))
    assert code == 2 and out == "" and "picture.png: no audio stream; give --audio a sound file" in err, err
    assert "audio=..." not in err
    # synth --audio FILE: the same
    code, out, err = _run(capsys, "synth", str(tmp_path / "talk.mp4"), "--audio", str(picture))
    assert code == 2 and out == "" and "picture.png: no audio stream; give --audio syllables, silence, blow" in err, err
    assert "audio=..." not in err and not (tmp_path / "talk.mp4").exists()


# --------------------------------------------------------------------------------------
# a malformed LIPAUTH_KEY is a configuration error, not the user's failed attempt


def test_a_malformed_template_key_is_refused_before_tracking_and_not_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``LIPAUTH_KEY=notbase64 lipauth verify alice CLIP`` tracked the clip (3 s), then failed on the
    key, and counted a failed attempt for alice each time: a mistyped key locked users out."""
    from lipauth.auth import Authenticator
    from lipauth.checks.password import TEMPLATE_KIND
    from lipauth.store import Store

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    with Store(None) as store:
        store.enrol("bob", label="default", kind=TEMPLATE_KIND, template=b"placeholder")

    def no_tracking(*_a, **_k):
        raise AssertionError("the clip was tracked before the key was loaded")

    monkeypatch.setattr(Authenticator, "_prepare", no_tracking)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never tracked")
    takes = []
    for n in "abc":
        (tmp_path / f"{n}.mp4").write_bytes(n.encode())
        takes.append(str(tmp_path / f"{n}.mp4"))
    monkeypatch.setenv("LIPAUTH_KEY", "notbase64")
    for args in (("verify", "bob", str(clip)), ("enrol", "carl", *takes), ("change", "bob", str(clip), *takes)):
        code, out, err = _run(capsys, *args)
        assert code == 2 and out == "" and "LIPAUTH_KEY is not valid base64" in err, (args, err)
    monkeypatch.delenv("LIPAUTH_KEY")
    code, out, _ = _run(capsys, "users", "list", "--json")
    (bob,) = json.loads(out)
    assert bob["name"] == "bob" and bob["failed_count"] == 0


# --------------------------------------------------------------------------------------
# --engine ray with a cluster that cannot be reached


def test_an_unreachable_ray_cluster_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth annotate CLIP --out a.jsonl --engine ray --address ray://127.0.0.1:1`` ended in
    "internal error: ValueError: Ray Client requires pip package `ray[client]`" (``ray.init``'s
    own errors were not turned into lipauth's)."""
    import sys
    import types

    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False  # type: ignore[attr-defined]

    def init(**_kw):
        raise ValueError("Ray Client requires pip package `ray[client]`.\nmore lines")

    fake.init = init  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never tracked")
    code, out, err = _run(capsys, "annotate", str(clip), "--out", str(tmp_path / "a.jsonl"), "--engine", "ray",
                          "--address", "ray://127.0.0.1:1")
    assert code == 2 and "internal error" not in err, err
    assert "cannot start or reach the Ray cluster at 'ray://127.0.0.1:1' (Ray Client requires" in err
    assert "--engine local" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------
# a muted answer to a timed-speech challenge is bad input: the challenge is not used up


def test_a_silent_answer_to_a_speech_challenge_leaves_the_challenge_unused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``lipauth liveness spoof/phone_replay.mp4 --challenge speech.json`` (digital silence) and
    ``POST /v1/liveness`` tracked the clip, used the challenge up, then refused the clip as
    SILENT_AUDIO (422): the next, good answer got CHALLENGE_REUSED, against "bad input changes
    nothing stored". A verify with a speech challenge also counted a failed attempt."""
    from lipauth.auth import AuthConfig, Authenticator, check_liveness
    from lipauth.challenge import MemoryNonceStore, new_challenge
    from lipauth.decision import Policy
    from lipauth.errors import SilentAudioError
    from lipauth.store import Store
    from lipauth.synth import make_talking_clip

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path / "data"))
    muted = tmp_path / "muted.mp4"
    make_talking_clip(str(muted), duration_s=1.0, fps=15.0, size=(160, 120), face_width_px=60, audio="silence", seed=0)
    ch = new_challenge("speech", rng=1)
    nonces = MemoryNonceStore()
    with pytest.raises(SilentAudioError):
        check_liveness(str(muted), challenge=ch, nonce_store=nonces)
    assert ch.nonce not in nonces
    # the CLI: exit 2, then the same challenge still answers (here: too short, so it is used up now)
    (tmp_path / "ch.json").write_text(json.dumps(new_challenge("speech", rng=2).to_dict()))
    code, _, err = _run(capsys, "liveness", str(muted), "--challenge", str(tmp_path / "ch.json"))
    assert code == 2 and "audio is silent" in err, err
    loud = tmp_path / "loud.mp4"
    make_talking_clip(str(loud), duration_s=1.0, fps=15.0, size=(160, 120), face_width_px=60, audio="syllables", seed=0)
    code, out, err = _run(capsys, "liveness", str(loud), "--challenge", str(tmp_path / "ch.json"))
    assert code == 1 and "CLIP_TOO_SHORT" in out, err
    # verify with a speech challenge: refused before the attempt is counted or the nonce used
    with Store(None) as store:
        auth = Authenticator(AuthConfig(policy=Policy(required=("password", "speech"))), store)
        ch3 = new_challenge("speech", rng=3)  # signed with the data dir's key, as the authenticator checks it
        with pytest.raises(SilentAudioError):
            auth.verify("alice", str(muted), challenge=ch3)
        assert not store.nonce_used(ch3.nonce) and store.attempts("alice") == []
