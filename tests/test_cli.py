"""The ``lipauth`` command line, run as a user would (a subprocess per call)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="the CLI tests track real faces with MediaPipe")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lipauth.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    from lipauth.synth import make_talking_clip

    path = tmp_path_factory.mktemp("cli") / "talk.mp4"
    made = make_talking_clip(path, duration_s=2.0, fps=25.0, size=(320, 240), face_width_px=150, seed=3)
    return path, made.opening


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *, contains: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lipauth: error: ")
    assert contains in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == "lipauth, version 0.1.0"


@pytest.mark.parametrize(
    ("content", "name", "contains"),
    [
        (None, "missing.mp4", "missing.mp4"),
        (b"", "empty.mp4", "empty"),
        (b"this is not a video, just some text\n" * 20, "text.mp4", "text.mp4"),
    ],
    ids=["missing", "empty", "text"],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, content: bytes | None, name: str, contains: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert_one_error_line(run_cli("track", str(path)), contains=contains)


def test_no_face_is_one_line_exit_2(tmp_path: Path) -> None:
    from lipauth.synth import make_no_face_clip

    path = tmp_path / "empty_room.mp4"
    make_no_face_clip(path, duration_s=1.0, fps=10.0, size=(160, 120))
    assert_one_error_line(run_cli("track", str(path)), contains="no face")


def test_track_summary_json_plot_overlay(tmp_path: Path, clip: tuple[Path, np.ndarray]) -> None:
    path, truth = clip
    out, plot, overlay = tmp_path / "t.json", tmp_path / "m.png", tmp_path / "o.mp4"
    proc = run_cli("track", str(path), "--out", str(out), "--plot", str(plot), "--overlay", str(overlay))
    assert proc.returncode == 0, proc.stderr
    assert "face found in 50/50 frames" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from lipauth.io import load_video
    from lipauth.types import LipTrack

    assert load_video(overlay).n_frames == 50
    track = LipTrack.from_dict(json.loads(out.read_text()))
    assert track.n_frames == 50 and track.detected.all()
    r = np.corrcoef(track.inner_opening(), truth)[0, 1]
    assert r > 0.9, r

    proc = run_cli("track", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["type"] == "LipTrack"
    assert np.allclose(np.array(data["landmarks_px"], dtype=float), track.landmarks_px, atol=1e-3)


def test_annotate_records_failures_and_goes_on(tmp_path: Path, clip: tuple[Path, np.ndarray]) -> None:
    path, _ = clip
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out = tmp_path / "ann.jsonl"
    proc = run_cli("annotate", str(path), str(bad), "--out", str(out))
    assert proc.returncode == 2
    assert "random.mp4" in proc.stderr and "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    frames = [r for r in rows if r["video"] == str(path)]
    assert len(frames) == 50
    assert [r["frame"] for r in frames] == list(range(50))
    first = frames[0]
    assert first["detected"] and len(first["landmarks_px"]) == 40 and len(first["face_box"]) == 4
    assert len(first["pose"]) == 3 and isinstance(first["quality"], list)
    errors = [r for r in rows if r["video"] == str(bad)]
    assert len(errors) == 1 and errors[0]["error"] == "corrupt_media"


def test_synth_writes_clip_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "s.webm", tmp_path / "truth.json"
    proc = run_cli("synth", str(out), "--duration-s", "1", "--fps", "20", "--size", "320x240", "--truth", str(truth))
    assert proc.returncode == 0, proc.stderr
    from lipauth.io import load_video

    video = load_video(out)
    assert (video.width, video.height, video.n_frames) == (320, 240, 20)
    data = json.loads(truth.read_text())
    assert len(data["opening"]) == 20

    proc = run_cli("synth", str(out), "--size", "big")
    assert proc.returncode == 2 and "WIDTHxHEIGHT" in proc.stderr


def test_demo_writes_plot_and_overlay(tmp_path: Path) -> None:
    proc = run_cli("demo", "--out-dir", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["detection_rate"] == 1.0
    assert summary["opening_vs_truth_r"] > 0.9
    assert Path(summary["plot"]).exists() and Path(summary["overlay"]).exists()


def test_data_dir_from_environment(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "LIPAUTH_DATA_DIR": str(tmp_path / "store")}
    proc = run_cli("demo", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["plot"]).parent == tmp_path / "store" / "demo"


@pytest.mark.realdata
def test_multi_face_stage_clip_tracks_quietly() -> None:
    """Faces appear late and several at once: no native MediaPipe log line leaks to stderr."""
    from conftest import shared_path

    proc = run_cli("track", str(shared_path("misc", "stage_singing_multi_face.mp4")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    assert "other faces present in" in proc.stdout


def test_inspect_prints_segments_and_writes_plot(tmp_path: Path, clip: tuple[Path, np.ndarray]) -> None:
    path, _ = clip
    plot, out = tmp_path / "f.png", tmp_path / "f.json"
    proc = run_cli("inspect", str(path), "--plot", str(plot), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "micro-movement index" in proc.stdout and "normal" in proc.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"
    from lipauth.types import LipFeatures

    features = LipFeatures.from_dict(json.loads(out.read_text()))
    assert features.n_frames == 50 and features.has_appearance and len(features.segments) >= 1


def test_magnify_writes_a_video_with_its_audio(tmp_path: Path, clip: tuple[Path, np.ndarray]) -> None:
    path, _ = clip
    out = tmp_path / "mag.mp4"
    proc = run_cli("magnify", str(path), "--factor", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    from lipauth.io import load_audio, load_video

    assert load_video(out).n_frames == 50
    assert load_audio(out).duration_s > 1.5
    proc = run_cli("magnify", str(path), "--factor", "0", "--out", str(out))
    assert proc.returncode == 2 and "factor" in proc.stderr
