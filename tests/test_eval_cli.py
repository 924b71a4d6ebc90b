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


def test_split_column_pins_rows_and_is_validated(tmp_path: Path) -> None:
    head = HEADER + ["split"]
    rows = [[f"p{ph}_{i}.mp4", "bona_fide", "u", f"p{ph}", "", "tune" if ph == 0 else ""] for ph in range(2) for i in range(6)]
    rows += [["held.mp4", "bona_fide", "u", "p1", "", "TEST"]]
    ds = load_dataset(write_csv(tmp_path / "d.csv", rows, header=head))
    assert [r.split for r in ds.missing[:6]] == ["tune"] * 6 and ds.missing[-1].split == "test"
    for seed in range(4):
        split = split_rows(ds.missing, seed=seed)
        assert all(split[f"p0_{i}.mp4"] == "tune" for i in range(6)) and split["held.mp4"] == "test"
        assert sum(1 for i in range(6) if split[f"p1_{i}.mp4"] == "tune") == 3  # unpinned rows: split among themselves
    # without the column every row is split at random, as before
    plain = load_dataset(write_csv(tmp_path / "plain.csv", [r[:5] for r in rows]))
    assert {r.split for r in plain.missing} == {""}
    bad = rows[:2] + [["x.mp4", "bona_fide", "u", "p1", "", "train"]]
    with pytest.raises(InputError, match=r"line 4 \(x.mp4\) has unknown split 'train'; use tune or test, or leave it empty"):
        load_dataset(write_csv(tmp_path / "bad.csv", bad, header=head))


def test_shared_data_csv_keeps_every_training_clip_in_tune() -> None:
    """benchmarks/shared_data.csv: the test split holds no clip a shipped model was trained on."""
    import numpy as np

    root = Path(__file__).resolve().parents[1]
    with open(root / "benchmarks" / "shared_data.csv", encoding="utf-8") as fh:
        ds_rows = list(csv.DictReader(fh))
    by_path = {r["path"]: r["split"] for r in ds_rows}
    # sync towers: every person of ../shared/data except the GRID s1 clips this file pins to test
    # (scripts/train_sync.py reads the test split from this file and says so in trained_on)
    with np.load(root / "src" / "lipauth" / "checks" / "models" / "sync_towers.npz") as z:
        trained_on = str(z["trained_on"])
    assert "without the 50 GRID s1 clips of benchmarks/shared_data.csv's test split" in trained_on
    grid = sorted(p for p in by_path if p.startswith("grid_s1/video/"))
    assert len(grid) == 100 and all(by_path[p] == "tune" for p in grid[:50])
    assert all(by_path[p] == "tune" for p in by_path if p.startswith("talking_heads/"))
    # password cohort: MIRACL F01 phrases 01-03 and GRID s1 clips 40-49 (benchmarks/train_password_cohort.py);
    # phrases 01-03 are pinned to tune, GRID 40-49 sits inside the tune half (0-49)
    with np.load(root / "src" / "lipauth" / "checks" / "models" / "password_cohort.npz") as z:
        info = json.loads(bytes(z["info"]).decode())
    assert info["data"] == "MIRACL-VC1 F01 phrases 01, 02, 03; GRID s1 clips 40-49 (sorted)"
    for ph in (1, 2, 3):
        takes = [p for p in by_path if p.startswith(f"miracl_f01/F01_phrase0{ph}_")]
        assert len(takes) == 10 and all(by_path[p] == "tune" for p in takes)
    assert all(by_path[p] == "test" for p in grid[50:])


def test_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown face; use some of sync,password"):
        EvalConfig(checks=("sync", "face"))
    with pytest.raises(ConfigError, match="unknown attack mask; use some of shift,swap,still,replay"):
        EvalConfig(generate=("mask",))
    with pytest.raises(ConfigError, match="tune_fraction=0"):
        EvalConfig(tune_fraction=0.0)


def test_eval_batch_settings_name_the_models_and_the_take_settings() -> None:
    s = EvalConfig().clip_settings()
    models = Path(__file__).resolve().parents[1] / "src" / "lipauth" / "checks" / "models"
    assert set(s["models"]) == {p.name for p in models.glob("*.npz")} >= {"password_cohort.npz", "sync_towers.npz"}
    assert all(len(h) == 16 for h in s["models"].values())
    assert s["password_config"].startswith("PasswordConfig(sequence=SequenceConfig(")
    assert "password_config" not in EvalConfig(checks=("sync",)).clip_settings()


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
                   "--tune-fraction", "0.6", "--bootstrap", "200", "--workers", "2", "--format", "parquet",
                   "--allow-missing")  # gone.mp4: evaluated without it, listed in the report
    return out, proc


def test_eval_writes_report_scores_and_thresholds(synth_report: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, proc = synth_report
    assert proc.returncode == 0, proc.stderr
    assert "Liveness (sync)" in proc.stdout and "Lip password" in proc.stdout
    assert "lipauth: warning: 1 clip(s) of data.csv not found and not evaluated (listed in " in proc.stderr
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
                   "--tune-fraction", "0.6", "--bootstrap", "50", "--workers", "1", "--allow-missing")
    assert proc.returncode == 0, proc.stderr  # every clip resumed: split/bootstrap changes only the scoring
    proc = run_cli("eval", str(synth_dataset), "--out", str(out), "--generate", "shift", "--workers", "1", "--allow-missing")
    assert proc.returncode == 2 and "other settings (changed: generate)" in proc.stderr


def test_eval_split_column_pins_clips_and_tune_only_groups_are_no_test_target(
        synth_dataset: Path, synth_report: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    out, first = synth_report
    assert first.returncode == 0
    with open(synth_dataset, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    pins = {"talk0.mp4": "test", "talk1.mp4": "tune", "talk2.mp4": "tune"} | {f"pwB{k}.mp4": "tune" for k in range(5)}
    data = write_csv(synth_dataset.parent / "pinned.csv", [r + [pins.get(r[0], "")] for r in rows], header=HEADER + ["split"])
    (tmp_path / "o").mkdir()  # the clips' records come from the synthetic run (same clips and settings): scoring only
    (tmp_path / "o" / "clips.batch.jsonl").write_bytes((out / "clips.batch.jsonl").read_bytes())
    proc = run_cli("eval", str(data), "--out", str(tmp_path / "o"), "--generate", "shift,swap,still,replay",
                   "--tune-fraction", "0.6", "--bootstrap", "50", "--workers", "1", "--json", "--allow-missing")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["thresholds"]["split"]["pinned_tune"] == 7 and res["thresholds"]["split"]["pinned_test"] == 1
    with open(tmp_path / "o" / "scores.csv") as fh:
        scores = list(csv.DictReader(fh))
    split_of = {r["clip"]: r["split"] for r in scores}
    assert all(split_of[c] == v for c, v in pins.items())
    assert sum(1 for k in range(5) if split_of[f"pwA{k}.mp4"] == "tune") == 3  # unpinned: tune fraction 0.6 of 5
    pw_test = [r for r in scores if r["check"] == "password" and r["split"] == "test"]
    # phrase B is tuning-only: no test take, and no test target either; so the test split has no impostor
    assert pw_test and {r["target"] for r in pw_test} == {"u1/A"} and {r["kind"] for r in pw_test} == {"genuine"}
    assert any(r["target"] == "u1/B" and r["split"] == "tune" for r in scores if r["check"] == "password")
    assert res["metrics"]["password"]["note"].startswith("test split lacks genuine or impostor attempts")
    md = (tmp_path / "o" / "report.md").read_text()
    assert "7 clips pinned to tune and 1 to test by the dataset's split column" in md
    assert "Lip password: test split too small" not in md and "password: not measured" in md


# --------------------------------------------------------------------------------------
# all of ../shared/data (the README numbers) and a small real subset

ROOT = Path(__file__).resolve().parents[1]
FULL_ARGS = ("--generate", "shift,swap,still,replay")  # plus the defaults: seed 0, tune fraction 0.5, 1000 resamples


def _tables(md: str, title_re: str) -> dict[str, list[list[str]]]:
    """``{title: rows}`` of the Markdown tables whose title line matches ``title_re``."""
    import re

    out: dict[str, list[list[str]]] = {}
    title = None
    for line in md.splitlines():
        m = re.fullmatch(title_re, line.strip())
        if m:
            title, out[m.group(1)] = m.group(1), []
        elif title and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] != "metric" and not set(cells[0]) <= {"-"}:
                out[title].append(cells)
        elif title and out[title] and not line.strip().startswith("|"):
            title = None
    return out


def readme_eval_tables() -> dict[str, list[list[str]]]:
    """The accuracy tables of docs/evaluation.md, section "Accuracy" (bold title line, then the table)."""
    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    start = text.index("## Accuracy")
    end = text.find("\n## ", start + 1)
    return _tables(text[start:end if end > 0 else None], r"\*\*((?:Liveness|Lip password).*from the tuning split)\*\*")


@pytest.fixture(scope="module")
def full_eval(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lipauth eval benchmarks/shared_data.csv`` over all of ../shared/data, the README command."""
    import time

    root = shared_path()
    out = tmp_path_factory.mktemp("eval_full") / "full"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lipauth.cli", "eval", str(ROOT / "benchmarks" / "shared_data.csv"),
                           "--root", str(root), "--out", str(out), *FULL_ARGS],
                          capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"lipauth eval over all of ../shared/data: {time.perf_counter() - t0:.0f} s")
    return out


@pytest.mark.realdata
@pytest.mark.slow
def test_eval_on_all_shared_data_matches_the_readme(full_eval: Path) -> None:
    for name in ("report.md", "report.html", "scores.csv", "thresholds.json", "metrics.json", "det_sync.png",
                 "hist_sync.png", "det_password.png", "hist_password.png"):
        assert (full_eval / name).stat().st_size > 0, name
    md = (full_eval / "report.md").read_text()
    assert "167 clips present, 0 missing" in md and "82 clips pinned to tune and 50 to test" in md
    report = _tables(md, r"## (.*from the tuning split)")
    readme = readme_eval_tables()
    assert any(t.startswith("Liveness (sync)") for t in readme) and any(t.startswith("Lip password") for t in readme)
    for title, rows in readme.items():
        assert title in report, f"README table {title!r} is not in the report; the report has {sorted(report)}"
        assert rows == report[title], f"README table {title!r} differs from the report: update the README"
    # the test split holds no clip a shipped model was trained on (GRID s1 0-49, talking heads, MIRACL 01-03)
    with open(full_eval / "scores.csv") as fh:
        test_clips = {r["clip"] for r in csv.DictReader(fh) if r["split"] == "test"}
    grid = sorted(p.name for p in (shared_path() / "grid_s1" / "video").glob("*.mpg"))
    seen = {f"grid_s1/video/{n}" for n in grid[:50]}
    assert test_clips and not (test_clips & seen)
    assert not any(c.startswith(("talking_heads/", *(f"miracl_f01/F01_phrase0{k}_" for k in (1, 2, 3)))) for c in test_clips)


@pytest.mark.realdata
@pytest.mark.slow
def test_eval_on_real_subset(tmp_path: Path, full_eval: Path) -> None:
    root = shared_path()
    # the clips' batch records come from the full run (same keys and settings): only the scoring runs here
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "clips.batch.jsonl").write_bytes((full_eval / "clips.batch.jsonl").read_bytes())
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
