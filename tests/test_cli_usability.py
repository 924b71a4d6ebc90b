"""What a first user runs into on the command line: clear option errors before any work, help for
every option, ``liveness`` exit codes like ``verify``, ``synth --audio blow`` usable from the CLI."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from lipauth.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in _commands(cli):
        if not (cmd.help or "").strip():
            missing.append(" ".join(path))
        for p in cmd.params:
            if isinstance(p, click.Option) and not (p.help or "").strip() and p.name != "help":
                missing.append(f"{' '.join(path)} {p.opts[0]}")
    assert not missing, f"no --help text: {missing}"


def test_magnify_checks_the_band_before_tracking(tmp_path) -> None:
    # the clip does not even exist: the option error comes first, not after tracking the whole video
    res = CliRunner().invoke(cli, ["magnify", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "m.mp4"),
                                   "--low-hz", "9", "--high-hz", "8"])
    assert res.exit_code == 2
    assert "--high-hz 8 must be above --low-hz 9" in res.output


@pytest.mark.parametrize(("args", "message"), [
    (["--audio", "blow"], "--audio blow needs at least one --blow-window START-END"),
    (["--blow-window", "x"], "'x' is not START-END in seconds"),
    (["--blow-window", "2-1"], "'2-1': need 0 <= START < END"),
])
def test_synth_blow_window_errors(tmp_path, args, message) -> None:
    res = CliRunner().invoke(cli, ["synth", str(tmp_path / "b.mp4"), *args])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "b.mp4").exists()


def test_synth_blow_from_the_cli(tmp_path) -> None:
    out = tmp_path / "b.wav.mp4"
    res = CliRunner().invoke(cli, ["synth", str(out), "--audio", "blow", "--blow-window", "0.3-0.8", "--duration-s", "1",
                                   "--size", "160x120", "--face-width-px", "80", "--fps", "25", "--json"])
    assert res.exit_code == 0, res.output
    truth = json.loads(res.output)
    assert out.stat().st_size > 1000
    assert json.dumps(truth)  # ground truth printed as JSON


def test_liveness_rejection_exits_1_and_says_not_scored(tmp_path, monkeypatch) -> None:
    from lipauth.challenge import new_challenge
    from lipauth.synth import make_talking_clip

    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    clip = tmp_path / "short.mp4"
    make_talking_clip(clip, duration_s=1.0, fps=25.0, size=(160, 120), face_width_px=80.0, seed=2)
    (tmp_path / "ch.json").write_text(json.dumps(new_challenge("blow", rng=1).to_dict()))
    res = CliRunner().invoke(cli, ["liveness", str(clip), "--challenge", str(tmp_path / "ch.json")])
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines[0].endswith("REJECTED") and "not scored" in lines[1] and "CLIP_TOO_SHORT" in lines[1]
    assert "nan" not in res.output and all(line.strip() for line in lines)


def test_commands_listen_takes_the_clip_as_argument_or_option_once(tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["commands", "listen", "alice"])
    assert res.exit_code == 2 and "give the clip once" in res.output
    res = runner.invoke(cli, ["commands", "listen", "alice", "a.mp4", "--video", "b.mp4"])
    assert res.exit_code == 2 and "give the clip once" in res.output
    # both spellings reach the vocabulary store (which says the vocabulary is unknown)
    for args in (["a.mp4"], ["--video", "a.mp4"]):
        res = runner.invoke(cli, ["commands", "listen", "nobody", *args, "--store", str(tmp_path)])
        assert res.exit_code != 0 and "no vocabulary 'nobody'" in str(res.exception), res.output


@pytest.fixture(scope="module")
def password_clips(tmp_path_factory):
    """Three takes and an attempt of one synthetic lip password, and a still face.

    The takes are the same phrase at slightly different speeds (as the service tests'), so
    the enrolment rule (tuned on real people) finds them consistent."""
    from password_synth import render_take

    from lipauth.synth import make_talking_clip

    d = tmp_path_factory.mktemp("pw")
    paths = [render_take("A", speed=speed, seed=seed, path=str(d / f"t{i}.mp4")).path
             for i, (seed, speed) in enumerate(((0, 0.95), (1, 1.0), (2, 1.05), (6, 1.25)))]
    other = d / "still.mp4"  # no lip movement: rejected whatever the metric and threshold
    make_talking_clip(other, duration_s=2.0, fps=25.0, size=(320, 240), face_width_px=120.0, opening=np.zeros(50),
                      width=np.zeros(50), noise_std=2.0, audio="silence", seed=5)
    return [str(p) for p in paths[:3]], str(paths[3]), str(other)


def test_change_password_from_the_cli(tmp_path, monkeypatch, password_clips) -> None:
    takes, attempt, other = password_clips
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["enrol", "bob", *takes]).exit_code == 0
    res = runner.invoke(cli, ["change", "bob", attempt, takes[0]])
    assert res.exit_code != 0 and "got 1 new take(s); record at least 3" in str(res.exception)
    res = runner.invoke(cli, ["change", "bob", other, *takes])
    assert res.exit_code == 1 and res.output.startswith("NOT CHANGED: still.mp4 was rejected"), res.output
    res = runner.invoke(cli, ["change", "bob", attempt, *takes, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["changed"] is True


def test_cli_keeps_mediapipe_log_lines_off_stderr(tmp_path, password_clips) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "GLOG_minloglevel"}
    env["LIPAUTH_DATA_DIR"] = str(tmp_path)
    takes, _, _ = password_clips
    res = subprocess.run([sys.executable, "-m", "lipauth.cli", "enrol", "bob", *takes], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "", res.stderr


def test_enrol_refuses_names_the_service_cannot_serve(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["enrol", "bad name!", "a.mp4", "b.mp4", "c.mp4"])
    assert res.exit_code != 0 and "user name 'bad name!' is not allowed; use 1 to 64 characters" in str(res.exception)


def test_challenge_ttl_has_its_unit_in_the_name_and_the_old_spelling_works(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    for opt in ("--ttl-s", "--ttl"):
        res = runner.invoke(cli, ["challenge", "new", opt, "30"])
        assert res.exit_code == 0, res.output
        ch = json.loads(res.output)
        assert abs(ch["expires_at"] - ch["issued_at"] - 30.0) < 1e-6
