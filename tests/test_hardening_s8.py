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

