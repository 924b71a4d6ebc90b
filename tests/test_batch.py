"""Batch engine: local vs Ray identical outputs, resume after a kill, settings guard, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lipauth.batch import read_results, run_batch
from lipauth.errors import ConfigError

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'lipauth[ray]'")


def square(x: int) -> dict:
    if x == 3:
        raise ValueError("three is broken")
    return {"value": x * x}


@pytest.fixture(scope="module")
def local_ray():
    # workers import this module's item functions by name
    env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from lipauth.synth import make_talking_clip

    d = tmp_path_factory.mktemp("batch_clips")
    paths = []
    for seed in range(3):
        p = d / f"clip{seed}.mp4"
        make_talking_clip(p, duration_s=1.0, fps=20.0, size=(240, 180), face_width_px=110, audio=None, seed=seed)
        paths.append(str(p))
    bad = d / "broken.mp4"
    bad.write_bytes(b"\x00" * 500)
    paths.append(str(bad))
    return paths


def mark_at_exit(path: str) -> dict:
    import atexit

    atexit.register(lambda: Path(path).write_text("interpreter torn down"))
    return {"pid": 0}


def test_pool_workers_exit_fast_without_losing_results(tmp_path: Path) -> None:
    items = [(f"k{i:02d}", i) for i in range(12)]
    two = run_batch(items, square, workers=2, out=tmp_path / "two.jsonl", settings={"a": 1}, progress=False)
    one = run_batch(items, square, workers=1, out=tmp_path / "one.jsonl", settings={"a": 1}, progress=False)
    assert (two.n_done, two.n_failed) == (12, 1) and two.results == one.results
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    # a resume rewrites the finished lines byte for byte (they are reused, not re-dumped)
    before = (tmp_path / "two.jsonl").read_bytes()
    again = run_batch(items, square, workers=2, out=tmp_path / "two.jsonl", settings={"a": 1}, progress=False)
    assert again.n_done == 0 and again.n_skipped == 12 and (tmp_path / "two.jsonl").read_bytes() == before
    # pool workers leave with os._exit after their last result: no interpreter teardown (atexit) in them
    markers = [str(tmp_path / f"m{i}.txt") for i in range(4)]
    done = run_batch([(m, m) for m in markers], mark_at_exit, workers=2, out=tmp_path / "m.jsonl", progress=False)
    assert done.n_done == 4 and done.n_failed == 0
    assert not any(Path(m).exists() for m in markers)


def cpu_set(_: int) -> dict:
    return {"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0))}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not 2 <= len(os.sched_getaffinity(0)) <= 4,
                    reason="CPU pinning needs Linux; the test starts one worker per usable CPU (2 to 4)")
def test_local_workers_covering_the_cpus_run_on_one_cpu_each(tmp_path: Path) -> None:
    usable = os.sched_getaffinity(0)
    items = [(f"k{i}", i) for i in range(4 * len(usable))]
    s = run_batch(items, cpu_set, workers=len(usable), out=tmp_path / "c.jsonl", progress=False)
    by_pid: dict[int, set[int]] = {}
    for rec in s.results.values():
        r = rec["result"]
        assert len(r["cpus"]) == 1 and r["cpus"][0] in usable, r
        by_pid.setdefault(r["pid"], set()).add(r["cpus"][0])
    assert all(len(v) == 1 for v in by_pid.values()), by_pid  # a worker stays on its CPU
    assert len(set().union(*by_pid.values())) == len(by_pid), by_pid  # no two workers on one CPU
    # fewer workers than CPUs (and the in-process worker) are not pinned: their CPUs are the caller's
    one = run_batch(items[:2], cpu_set, workers=1, out=tmp_path / "one.jsonl", progress=False)
    assert all(set(r["result"]["cpus"]) == usable for r in one.results.values())
    assert os.sched_getaffinity(0) == usable


def test_failing_item_is_recorded_and_output_sorted(tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    s = run_batch([(f"k{i}", i) for i in (5, 3, 1)], square, workers=1, out=out, settings={"a": 1}, progress=False)
    assert (s.n_items, s.n_done, s.n_failed) == (3, 3, 1)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["batch"] == "lipauth" and lines[0]["settings"] == {"a": 1}
    assert [r["key"] for r in lines[1:]] == ["k1", "k3", "k5"]
    err = lines[2]
    assert err["status"] == "error" and err["error"]["code"] == "internal_error" and "three is broken" in err["error"]["message"]
    assert lines[3]["result"] == {"value": 25}


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    run_batch([("a", 1)], square, workers=1, out=out, settings={"fps": 25}, progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(changed: fps\)"):
        run_batch([("a", 1), ("b", 2)], square, workers=1, out=out, settings={"fps": 30}, progress=False)
    s = run_batch([("a", 1), ("b", 2)], square, workers=1, out=out, settings={"fps": 30}, resume=False, progress=False)
    assert s.n_done == 2 and s.n_skipped == 0


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine='spark'"):
        run_batch([("a", 1)], square, engine="spark", out=tmp_path / "x.jsonl")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unique; duplicated: a"):
        run_batch([("a", 1), ("a", 2)], square, out=tmp_path / "x.jsonl")
    with pytest.raises(ConfigError, match="workers=0"):
        run_batch([("a", 1)], square, workers=0, out=tmp_path / "x.jsonl")
    with pytest.raises(ConfigError, match="only used with engine='ray'"):
        run_batch([("a", 1)], square, address="auto", out=tmp_path / "x.jsonl")


_SLOW_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from lipauth.batch import run_batch

    LOG = sys.argv[2]

    def slow(x):
        with open(LOG, "a") as fh:
            fh.write(f"{x}\\n")
        time.sleep(0.3)
        return {"x": x}

    if __name__ == "__main__":
        run_batch([(f"item{i:02d}", i) for i in range(10)], slow, workers=int(sys.argv[3]), out=sys.argv[1],
                  settings={"task": "slow"}, progress=False)
    """
)


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_run_resumes_without_redoing_finished_items(tmp_path: Path, workers: int) -> None:
    script = tmp_path / "slow_batch.py"
    script.write_text(_SLOW_SCRIPT)
    out, log = tmp_path / "out.jsonl", tmp_path / "calls.log"
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(log), str(workers)], start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_text().splitlines()) >= 1 + 3:  # header + 3 items
            break
        time.sleep(0.05)
    os.killpg(proc.pid, 9)
    proc.wait()
    _, done = read_results(out)
    assert 3 <= len(done) < 10, len(done)
    n_calls_first = len(log.read_text().splitlines())
    subprocess.run([sys.executable, str(script), str(out), str(log), str(workers)], check=True, timeout=120)
    calls = log.read_text().splitlines()
    redo = calls[n_calls_first:]
    # nothing already written is computed again; items in flight at the kill may be
    assert not set(redo) & {str(int(k[4:])) for k in done}
    assert len(redo) == 10 - len(done)
    _, final = read_results(out)
    assert sorted(final) == [f"item{i:02d}" for i in range(10)]


def _annotate(videos: list[str], out: Path, *extra: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from lipauth.cli import cli

    res = CliRunner().invoke(cli, ["annotate", *videos, "--out", str(out), *extra])
    return res.exit_code, res.output


def test_ray_and_local_give_identical_outputs(local_ray, clips: list[str], tmp_path: Path) -> None:
    out_local, out_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    code_local, _ = _annotate(clips, out_local, "--engine", "local", "--workers", "2")
    code_ray, _ = _annotate(clips, out_ray, "--engine", "ray")
    assert code_local == code_ray == 2  # the broken clip
    assert out_local.read_bytes() == out_ray.read_bytes()
    batch_local = Path(f"{out_local}.batch.jsonl").read_bytes()
    assert batch_local == Path(f"{out_ray}.batch.jsonl").read_bytes()
    rows = [json.loads(x) for x in out_local.read_text().splitlines()]
    assert sum(1 for r in rows if r.get("error") == "corrupt_media") == 1
    assert sum(1 for r in rows if r["video"] == clips[0] and "frame" in r) == 20
    # a rerun resumes: nothing tracked again
    code, output = _annotate(clips, out_local, "--engine", "local")
    assert code == 2 and "4 resumed" in output
    assert out_local.read_bytes() == out_ray.read_bytes()


def test_workers_load_mediapipe_once(local_ray, clips: list[str], tmp_path: Path) -> None:
    """Each Ray worker builds its MediaPipe backend once, however many clips it tracks."""
    s = run_batch([(f"{c}#{k}", c) for k in range(3) for c in clips[:3]], _count_loads, engine="ray", out=tmp_path / "l.jsonl", progress=False,
                  initializer=_init)
    per_pid: dict[int, set[int]] = {}
    for rec in s.results.values():
        per_pid.setdefault(rec["result"]["pid"], set()).add(rec["result"]["loads"])
    assert all(v == {1} for v in per_pid.values()), per_pid


def _init() -> None:
    from lipauth.batch.tasks import init_worker

    init_worker()


def _count_loads(path: str) -> dict:
    from lipauth.batch import tasks

    tasks.annotate_clip(path)
    return {"pid": os.getpid(), "loads": tasks.BACKEND_LOADS}


def test_annotation_lines_format_and_gaps() -> None:
    """One compact JSON line per frame; arrays of a frame without a face are null; flags by name."""
    import numpy as np

    from lipauth.batch.tasks import annotation_lines
    from lipauth.types import LipTrack, QualityFlag

    n = 3
    lm = np.full((n, 40, 2), 1.23456, dtype=np.float32)
    lm[1] = np.nan
    track = LipTrack(
        timestamps_s=np.array([0.0, 0.04, 1 / 3]), detected=np.array([True, False, True]),
        face_box=np.tile(np.float32([10.004, 20, 110, 120]), (n, 1)), labial_box=np.tile(np.float32([40, 80, 80, 100]), (n, 1)),
        landmarks_px=lm, landmarks_norm=lm.copy(), pose=np.zeros((n, 3), np.float32),
        quality=np.array([0, QualityFlag.NO_FACE, QualityFlag.BLURRED | QualityFlag.TOO_DARK], np.uint8),
        n_faces=np.array([1, 0, 2], np.uint8), width=320, height=240, backend="test",
    )
    text = annotation_lines("a.mp4", track)
    assert text.endswith("\n") and text.count("\n") == n and ": " not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert list(rows[0]) == ["video", "frame", "t_s", "detected", "n_faces", "face_box", "labial_box",
                             "landmarks_px", "landmarks_norm", "pose", "quality"]
    assert rows[0]["face_box"] == [10.0, 20.0, 110.0, 120.0] and rows[0]["landmarks_px"][0] == [1.23, 1.23]
    assert rows[0]["landmarks_norm"][0] == [1.2346, 1.2346] and rows[0]["quality"] == []
    assert rows[1]["landmarks_px"] is None and rows[1]["face_box"] == [10.0, 20.0, 110.0, 120.0]
    assert rows[1]["quality"] == ["NO_FACE"] and rows[1]["detected"] is False and rows[1]["n_faces"] == 0
    assert rows[2]["t_s"] == 0.333333 and rows[2]["quality"] == ["TOO_DARK", "BLURRED"]
    assert annotation_lines("a.mp4", LipTrack.from_dict({**track.to_dict(), **{
        k: v[:0] for k, v in track.to_dict().items() if isinstance(v, list)}})) == ""


def test_annotate_refuses_to_resume_a_batch_file_of_the_old_format(tmp_path: Path) -> None:
    """Batch files written before the workers returned rows (a LipTrack dict per clip) are not mixed in."""
    from lipauth import __version__

    out = tmp_path / "ann.jsonl"
    old = {"task": "annotate", "lipauth": __version__, "backend": "mediapipe"}
    run_batch([("x.mp4", 1)], square, workers=1, out=f"{out}.batch.jsonl", settings=old, progress=False)
    proc = subprocess.run([sys.executable, "-m", "lipauth", "annotate", "x.mp4", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "other settings (changed: result)" in proc.stderr, proc.stderr
