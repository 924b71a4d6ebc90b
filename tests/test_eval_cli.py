"""``lipauth eval`` end to end on synthetic clips (and a small real subset), and every bad dataset input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

from lipauth.errors import ConfigError, InputError, MediaNotFoundError
from lipauth.eval.dataset import load_dataset, split_rows
from lipauth.eval.runner import EvalConfig

HEADER = ["path", "label", "user", "phrase", "challenge"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lipauth.cli", *args], capture_output=True, text=True, timeout=300, check=False)


# --------------------------------------------------------------------------------------
# bad input


def test_missing_columns_are_named(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "d.csv", [["a.mp4", "u1"]], header=["path", "user"])
    with pytest.raises(InputError, match=r"missing column\(s\) label, phrase, challenge"):
        load_dataset(p)


def test_unknown_label_names_the_row(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "d.csv", [["a.mp4", "bona_fide", "", "", ""], ["b.mp4", "spoofy", "", "", ""]])
    with pytest.raises(InputError, match=r"line 3 \(b.mp4\) has unknown label 'spoofy'; use bona_fide or one of shift"):
        load_dataset(p)


def test_duplicated_rows_are_refused(tmp_path: Path) -> None:
    rows = [["a.mp4", "bona_fide", "", "", ""], ["b.mp4", "photo", "", "", ""], ["a.mp4", "bona_fide", "", "", ""]]
    with pytest.raises(InputError, match=r"line 4 duplicates line 2 \(a.mp4\)"):
        load_dataset(write_csv(tmp_path / "d.csv", rows))


def test_empty_path_empty_file_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="line 2 has an empty path"):
        load_dataset(write_csv(tmp_path / "d.csv", [["", "bona_fide", "", "", ""]]))
    with pytest.raises(InputError, match="no rows"):
        load_dataset(write_csv(tmp_path / "e.csv", []))
    with pytest.raises(MediaNotFoundError, match="dataset file not found"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(MediaNotFoundError, match="--root is not a folder"):
        load_dataset(tmp_path / "d.csv", root=tmp_path / "nowhere")


def test_missing_clips_are_listed_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    p = write_csv(tmp_path / "d.csv", [["a.mp4", "bona_fide", "u", "p", ""], ["gone.mp4", "replay", "", "", ""]])
    ds = load_dataset(p, root=tmp_path / "clips")
    assert [r.path for r in ds.rows] == ["a.mp4"] and [r.path for r in ds.missing] == ["gone.mp4"]
    assert ds.missing[0].line == 3


def test_split_is_seeded_and_stratified() -> None:
    from lipauth.eval.dataset import ClipRow

    rows = [ClipRow(i + 2, f"p{ph}_{i}.mp4", Path(f"p{ph}_{i}.mp4"), "bona_fide", "u", f"p{ph}", "")
            for ph in range(2) for i in range(6)]
    a, b = split_rows(rows, seed=1), split_rows(rows, seed=1)
    assert a == b and split_rows(rows, seed=2) != a
    for ph in range(2):
        assert sum(1 for k, v in a.items() if k.startswith(f"p{ph}") and v == "tune") == 3
    with pytest.raises(InputError, match="tune_fraction=1.5"):
        split_rows(rows, tune_fraction=1.5)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown face; use some of sync,password"):
        EvalConfig(checks=("sync", "face"))
    with pytest.raises(ConfigError, match="unknown attack mask; use some of shift,swap,still,replay"):
        EvalConfig(generate=("mask",))
    with pytest.raises(ConfigError, match="tune_fraction=0"):
        EvalConfig(tune_fraction=0.0)


def test_cli_bad_inputs_exit_2(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "d.csv", [["a.mp4", "fake", "", "", ""]])
    proc = run_cli("eval", str(p), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "unknown label 'fake'" in proc.stderr and "Traceback" not in proc.stderr
    good = write_csv(tmp_path / "g.csv", [["a.mp4", "bona_fide", "", "", ""]])
    proc = run_cli("eval", str(good), "--out", str(tmp_path / "o"), "--generate", "shift,warp")
    assert proc.returncode == 2 and "unknown attack warp" in proc.stderr


# --------------------------------------------------------------------------------------
# end to end on synthetic clips


@pytest.fixture(scope="module")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from password_synth import render_take

    from lipauth.synth import make_talking_clip

    d = tmp_path_factory.mktemp("eval_synth")
    rows = []
    for s in range(3):
        make_talking_clip(d / f"talk{s}.mp4", duration_s=2.5, fps=25.0, size=(320, 240), face_width_px=150, seed=s)
        rows.append([f"talk{s}.mp4", "bona_fide", "", "", ""])
    for sig in "AB":
        for k in range(5):
            render_take(sig, path=str(d / f"pw{sig}{k}.mp4"), seed=k, speed=1 + 0.05 * k)
            rows.append([f"pw{sig}{k}.mp4", "bona_fide", "u1", sig, ""])
    (d / "broken.mp4").write_bytes(b"\x00" * 1000)
    rows.append(["broken.mp4", "replay", "", "", ""])
    rows.append(["gone.mp4", "bona_fide", "", "", ""])
    return write_csv(d / "data.csv", rows)


@pytest.fixture(scope="module")
def synth_report(synth_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("eval_out") / "report"
    proc = run_cli("eval", str(synth_dataset), "--out", str(out), "--generate", "shift,swap,still,replay",
                   "--tune-fraction", "0.6", "--bootstrap", "200", "--workers", "2", "--format", "parquet")
    return out, proc


def test_eval_writes_report_scores_and_thresholds(synth_report: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = synth_report
    assert proc.returncode == 0, proc.stderr
    assert "Liveness (sync)" in proc.stdout and "Lip password" in proc.stdout
    for name in ("report.md", "report.html", "scores.csv", "scores.parquet", "thresholds.json", "det_sync.png",
                 "hist_sync.png", "det_password.png", "hist_password.png", "clips.batch.jsonl"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "seed 0, tune fraction 0.6" in md and "APCER worst" in md and "BPCER at APCER 5%" in md
    assert "FRR at FAR 0.1%" in md and "## Missing clips (1)" in md and "gone.mp4" in md
    assert "broken.mp4 | replay | test | clip | corrupt_media" in md
    th = json.loads((out / "thresholds.json").read_text())
    assert th["split"]["seed"] == 0 and th["sync"]["rule"] == "EER point of the tuning split"
    with open(out / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    sync = [r for r in rows if r["check"] == "sync"]
    assert {r["label"] for r in sync if r["kind"] == "attack"} >= {f"{a} (generated)" for a in ("shift", "swap", "still", "replay")}
    broken = [r for r in sync if r["clip"] == "broken.mp4"]  # undecodable attack: a detected attack
    assert len(broken) == 1 and broken[0]["score"] == "" and float(broken[0]["score_used"]) < min(
        float(r["score"]) for r in sync if r["score"])
    pw = [r for r in rows if r["check"] == "password"]
    assert {r["kind"] for r in pw} == {"genuine", "impostor"}
    genuine = [float(r["score"]) for r in pw if r["kind"] == "genuine" and r["split"] == "test"]
    impostor = [float(r["score"]) for r in pw if r["kind"] == "impostor" and r["split"] == "test"]
    assert min(genuine) > max(impostor)  # two clearly different synthetic passwords
    import pyarrow.parquet as pq

    assert pq.read_table(out / "scores.parquet").num_rows == len(rows)


def test_eval_resume_skips_work_and_refuses_other_settings(synth_dataset: Path, synth_report) -> None:
    out, first = synth_report
    assert first.returncode == 0
    proc = run_cli("eval", str(synth_dataset), "--out", str(out), "--generate", "shift,swap,still,replay",
                   "--tune-fraction", "0.6", "--bootstrap", "50", "--workers", "1")
    assert proc.returncode == 0, proc.stderr  # every clip resumed: split/bootstrap changes only the scoring
    proc = run_cli("eval", str(synth_dataset), "--out", str(out), "--generate", "shift", "--workers", "1")
    assert proc.returncode == 2 and "other settings (changed: generate)" in proc.stderr


# --------------------------------------------------------------------------------------
# a small real subset


@pytest.mark.realdata
def test_eval_on_real_subset(tmp_path: Path) -> None:
    root = shared_path()
    grid = sorted((root / "grid_s1" / "video").glob("*.mpg"))[:4]
    rows = [[str(p.relative_to(root)), "bona_fide", "s1", "", ""] for p in grid]
    rows += [[f"miracl_f01/F01_phrase0{ph}_rep{k:02d}.mp4", "bona_fide", "F01", f"phrase0{ph}", ""]
             for ph in (1, 2) for k in range(1, 7)]
    rows += [["spoof/photo_attack_1.jpg", "photo", "", "", ""], ["spoof/phone_replay.mp4", "replay", "", "", ""]]
    data = write_csv(tmp_path / "subset.csv", rows)
    proc = run_cli("eval", str(data), "--root", str(root), "--out", str(tmp_path / "o"), "--generate",
                   "shift,swap,still,replay", "--bootstrap", "100", "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    sync = res["metrics"]["sync"]
    assert set(sync["n_attacks"]) >= {"shift (generated)", "swap (generated)", "still (generated)", "photo"} and sync["n_bona_fide"] == 2
    assert "far" in res["metrics"]["password"] and res["n_clips"] == 18
    with open(tmp_path / "o" / "scores.csv") as fh:
        photo = [r for r in csv.DictReader(fh) if r["clip"] == "spoof/photo_attack_1.jpg"]
    assert len(photo) == 1 and photo[0]["error"] == "still_image"  # a photo is a detected attack
