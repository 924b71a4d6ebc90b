"""CLI: lipauth enrol / verify / users list|delete|unlock / keys rotate on synthetic clip files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from password_synth import render_take

from lipauth.checks.password import DEFAULT_THRESHOLD
from lipauth.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for name, signal, speed, seed in (("a1", "A", 0.95, 0), ("a2", "A", 1.0, 1), ("a3", "A", 1.05, 2), ("a_fast", "A", 1.25, 6), ("b", "B", 1.0, 9)):
        path = str(d / f"{name}.mp4")
        render_take(signal, speed=speed, seed=seed, path=path)
        out[name] = path
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIPAUTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIPAUTH_KEY", raising=False)
    monkeypatch.delenv("LIPAUTH_STORE_URL", raising=False)
    return tmp_path


def test_enrol_verify_users_keys(clips: dict[str, str], env: Path) -> None:
    run = CliRunner().invoke
    r = run(cli, ["enrol", "alice", clips["a1"], clips["a2"], clips["a3"], "--passphrase-label", "home"])
    assert r.exit_code == 0 and "enrolled 'alice' (home) from 3 takes" in r.output, r.output
    assert (env / "lipauth.db").exists() and (env / "template.key").stat().st_mode & 0o777 == 0o600
    r = run(cli, ["verify", "alice", clips["a_fast"]])
    assert r.exit_code == 0 and r.output.startswith("ACCEPTED: matching degree") and f"vs threshold {DEFAULT_THRESHOLD:.3f}" in r.output
    r = run(cli, ["verify", "alice", clips["b"], "--json"])
    data = json.loads(r.output)
    assert r.exit_code == 1 and data["accepted"] is False and data["reasons"] == ["PASSWORD:MISMATCH"]
    assert set(data["scores"]["password"]) == {"score", "threshold"}
    r = run(cli, ["verify", "nobody", clips["b"]])
    assert r.exit_code == 1 and r.output.startswith("REJECTED: matching degree") and "(PASSWORD:MISMATCH)" in r.output
    r = run(cli, ["users", "list", "--json"])
    [row] = json.loads(r.output)
    assert row["name"] == "alice" and row["labels"] == ["home"] and row["failed_count"] == 1
    assert run(cli, ["users", "unlock", "alice"]).output.strip() == "unlocked 'alice'"
    r = run(cli, ["keys", "rotate"])
    assert r.exit_code == 0 and "templates re-encrypted; new key written to" in r.output
    assert run(cli, ["verify", "alice", clips["a_fast"]]).exit_code == 0  # readable under the new key
    assert run(cli, ["users", "delete", "alice"]).output.strip() == "deleted 'alice'"
    assert run(cli, ["users", "list"]).output.strip() == "no users enrolled"


def test_errors_are_one_line(clips: dict[str, str], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lipauth.cli import main

    for argv, message in (
        (["enrol", "bob", clips["a1"], clips["a2"]], "lipauth: error: got 2 enrolment take(s); record at least 3"),
        (["users", "delete", "ghost"], "lipauth: error: user 'ghost' is not enrolled"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
