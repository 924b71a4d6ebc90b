"""lipauth.io: round trips through write_video -> load_video / load_audio, and bad input."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from lipauth.errors import (
    ConfigError,
    CorruptMediaError,
    EmptyMediaError,
    InputError,
    MediaNotFoundError,
    NoAudioStreamError,
    NoFramesError,
    NoVideoStreamError,
    StillImageError,
    UnsupportedCodecError,
)
from lipauth.io import load_audio, load_video, write_audio, write_video
from lipauth.types import Audio

FPS = 25.0
N = 25
H, W = 96, 128
SR = 16000


def _frames(n: int = N, h: int = H, w: int = W) -> np.ndarray:
    """Smooth moving pattern (codec friendly) with a per-frame brightness ramp."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        out[i, ..., 0] = (xx * 2 + i * 6) % 256
        out[i, ..., 1] = (yy * 2) % 256
        out[i, ..., 2] = (40 + 6 * i) % 256
    return out


def _burst_audio(duration_s: float = 2.0, burst_at_s: float = 1.0) -> np.ndarray:
    """Silence with a 50 ms 1 kHz burst at ``burst_at_s`` (audio time)."""
    a = np.zeros(int(duration_s * SR), np.float32)
    i0 = int(burst_at_s * SR)
    a[i0 : i0 + 800] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(800) / SR)
    return a


def _burst_time(audio: Audio) -> float:
    """Time of the burst onset on the video axis."""
    k = int(np.argmax(np.abs(audio.samples) > 0.1))
    return audio.start_s + k / audio.sample_rate


CASES = [
    (".mp4", None, "h264"),
    (".mov", None, "h264"),
    (".webm", None, "vp8"),
    (".webm", "vp9", "vp9"),
    (".avi", None, "mpeg4"),
    (".mpg", None, "mpeg1video"),
]


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return _frames()


@pytest.mark.parametrize(("suffix", "vcodec", "codec"), CASES)
def test_round_trip(tmp_path: Path, frames: np.ndarray, suffix: str, vcodec: str | None, codec: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", frames, fps=FPS, audio=_burst_audio(), video_codec=vcodec)
    video = load_video(path)
    assert video.n_frames == N
    assert (video.width, video.height) == (W, H)
    assert video.frames is not None and video.frames.shape == (N, H, W, 3) and video.frames.dtype == np.uint8
    assert video.codec == codec
    assert video.nominal_fps == pytest.approx(FPS)
    assert video.measured_fps == pytest.approx(FPS, rel=1e-3)
    np.testing.assert_allclose(video.timestamps_s, np.arange(N) / FPS, atol=1e-3)
    assert np.all(np.diff(video.timestamps_s) > 0)
    assert np.abs(video.frames.astype(np.int16) - frames).mean() < 4.0
    assert video.source == str(path)

    audio = load_audio(path)
    assert audio.sample_rate == SR and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    assert np.abs(audio.samples).max() <= 1.0
    # every sample sits at its true time on the video axis (burst written at 1.0 s)
    assert _burst_time(audio) == pytest.approx(1.0, abs=0.01)


def test_wav_round_trip(tmp_path: Path) -> None:
    a = _burst_audio()
    path = write_audio(tmp_path / "a.wav", a)
    audio = load_audio(path)
    assert audio.codec == "pcm_s16le" and audio.start_s == 0.0
    np.testing.assert_allclose(audio.samples, a, atol=1e-4)
    with pytest.raises(NoVideoStreamError, match=r"a\.wav: no video stream"):
        load_video(path)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".opus", ".mp2"])
def test_audio_formats_resampled_from_44k(tmp_path: Path, suffix: str) -> None:
    """44.1 kHz sources of every common codec come out as 16 kHz mono on time."""
    t = np.arange(2 * 44100) / 44100
    a = np.where((t >= 1.0) & (t < 1.05), 0.5 * np.sin(2 * np.pi * 1000 * t), 0).astype(np.float32)
    path = write_audio(tmp_path / f"a{suffix}", a, sample_rate=44100)
    audio = load_audio(path)
    assert audio.sample_rate == SR
    assert audio.duration_s == pytest.approx(2.0, abs=0.15)
    # the encoders' priming delay (MP3, MP2 in raw streams) is at most ~70 ms
    assert _burst_time(audio) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mov"])
def test_variable_frame_rate(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(3)
    ts = np.concatenate([[0.0], np.cumsum(rng.uniform(0.0205, 0.0905, N - 1))])
    path = write_video(tmp_path / f"vfr{suffix}", _frames(), timestamps_s=ts)
    video = load_video(path)
    assert video.n_frames == N
    np.testing.assert_allclose(video.timestamps_s, ts, atol=1e-3)
    assert video.measured_fps == pytest.approx((N - 1) / ts[-1], rel=1e-3)
    lazy = load_video(path, lazy=True)
    np.testing.assert_allclose(lazy.timestamps_s, ts, atol=1e-3)


def test_frame_grid_timestamps_with_gaps_in_mpg(tmp_path: Path) -> None:
    """mpg/avi store frames on the 1/fps grid; dropped frames keep their true times."""
    idx = np.array([0, 1, 2, 4, 5, 8, 9, 10, 11, 12])
    path = write_video(tmp_path / "gaps.mpg", _frames(len(idx)), timestamps_s=idx / FPS, fps=FPS)
    video = load_video(path)
    np.testing.assert_allclose(video.timestamps_s, idx / FPS, atol=1e-3)


@pytest.mark.parametrize("offset_s", [0.5, -0.3])
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
def test_audio_offset_recovered(tmp_path: Path, frames: np.ndarray, suffix: str, offset_s: float) -> None:
    path = write_video(tmp_path / f"off{suffix}", frames, fps=FPS, audio=_burst_audio(), audio_start_s=offset_s)
    audio = load_audio(path)
    assert audio.start_s == pytest.approx(offset_s, abs=0.025)
    assert _burst_time(audio) == pytest.approx(1.0 + offset_s, abs=0.025)
    video = load_video(path)
    assert video.timestamps_s[0] == 0.0
    assert video.start_time_s == pytest.approx(max(0.0, -offset_s), abs=1e-3)


@pytest.mark.parametrize("offset_s", [0.5, -0.3])
def test_audio_offset_mpg_sample_times(tmp_path: Path, frames: np.ndarray, offset_s: float) -> None:
    """MPEG-PS keeps stream start times; MP2's 481 priming samples (30 ms) stay in the
    stream, so ``start_s`` is that much early while every sample keeps its true time."""
    path = write_video(tmp_path / "off.mpg", frames, fps=FPS, audio=_burst_audio(), audio_start_s=offset_s)
    audio = load_audio(path)
    assert audio.start_s == pytest.approx(offset_s - 481 / SR, abs=0.005)
    assert _burst_time(audio) == pytest.approx(1.0 + offset_s, abs=0.025)


def test_audio_offset_avi(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "off.avi", frames, fps=FPS, audio=_burst_audio(), audio_start_s=0.5)
    assert _burst_time(load_audio(path)) == pytest.approx(1.5, abs=0.005)
    with pytest.raises(ConfigError, match=r"avi cannot start audio before video"):
        write_video(tmp_path / "neg.avi", frames, fps=FPS, audio=_burst_audio(), audio_start_s=-0.3)


def test_audio_object_and_generator_frames(tmp_path: Path, frames: np.ndarray) -> None:
    a = Audio(samples=_burst_audio(), sample_rate=SR)
    path = write_video(tmp_path / "gen.mp4", (f for f in frames), fps=30.0, audio=a)
    video = load_video(path)
    assert video.n_frames == N and video.nominal_fps == pytest.approx(30.0)
    assert _burst_time(load_audio(path)) == pytest.approx(1.0, abs=0.01)


def test_audio_object_start_is_kept(tmp_path: Path, frames: np.ndarray) -> None:
    a = Audio(samples=_burst_audio(), sample_rate=SR, start_s=0.2)
    path = write_video(tmp_path / "keep.mp4", frames, fps=FPS, audio=a, audio_start_s=0.3)
    assert load_audio(path).start_s == pytest.approx(0.5, abs=0.005)


def test_bytes_equals_path(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "b.webm", frames, fps=FPS, audio=_burst_audio(), audio_start_s=0.2)
    data = path.read_bytes()
    v_path, v_bytes = load_video(path), load_video(data)
    assert v_bytes.source == "<bytes>"
    np.testing.assert_array_equal(v_path.timestamps_s, v_bytes.timestamps_s)
    np.testing.assert_array_equal(v_path.frames, v_bytes.frames)
    a_path, a_bytes = load_audio(path), load_audio(bytearray(data))
    np.testing.assert_array_equal(a_path.samples, a_bytes.samples)
    assert a_path.start_s == a_bytes.start_s


@pytest.mark.parametrize("source", ["path", "bytes"])
def test_lazy_equals_eager(tmp_path: Path, frames: np.ndarray, source: str) -> None:
    path = write_video(tmp_path / "lazy.mp4", frames, fps=FPS)  # libx264 veryfast: B-frames
    src = path if source == "path" else path.read_bytes()
    eager, lazy = load_video(src), load_video(src, lazy=True)
    assert lazy.is_lazy and lazy.frames is None
    np.testing.assert_array_equal(eager.timestamps_s, lazy.timestamps_s)
    assert (lazy.width, lazy.height, lazy.codec) == (eager.width, eager.height, eager.codec)
    assert lazy.nominal_fps == eager.nominal_fps and lazy.start_time_s == eager.start_time_s
    pairs = list(lazy.iter_frames())
    assert [t for t, _ in pairs] == pytest.approx(list(eager.timestamps_s))
    np.testing.assert_array_equal(np.stack([f for _, f in pairs]), eager.frames)
    assert len(list(lazy.iter_frames())) == N  # reopens the source each time


def test_display_rotation_applied(tmp_path: Path) -> None:
    """A phone-style display matrix (90 deg counter-clockwise) gives upright frames."""
    import av

    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(5):
            arr = np.zeros((32, 64, 3), np.uint8)
            arr[:8, :8] = 255  # top-left corner marker
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    for video in (load_video(path), load_video(path, lazy=True)):
        assert (video.width, video.height) == (32, 64)
        first = next(video.iter_frames())[1]
        assert first.shape == (64, 32, 3)
        # rotating 90 deg counter-clockwise moves the top-left corner to the bottom-left
        assert first[-8:, :8].mean() > 200 and first[:8, :8].mean() < 50


# ------------------------------------------------------------------------------ bad input


def test_missing_file(tmp_path: Path) -> None:
    for fn in (load_video, load_audio):
        with pytest.raises(MediaNotFoundError, match=r"nope\.mp4: no such file"):
            fn(tmp_path / "nope.mp4")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match=r"is a directory"):
        load_video(tmp_path)


def test_empty_file_and_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(EmptyMediaError, match=r"empty\.mp4: file is empty \(0 bytes\)"):
        load_video(empty)
    with pytest.raises(EmptyMediaError, match=r"<bytes>: media is empty"):
        load_audio(b"")


def test_wrong_source_type() -> None:
    with pytest.raises(InputError, match=r"media source is a int; pass a path"):
        load_video(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt"])  # .txt: FFmpeg's 'tty' text demuxer
def test_text_file(tmp_path: Path, name: str) -> None:
    text = tmp_path / name
    text.write_text("hello, this is not a video\n" * 40)
    for fn in (load_video, load_audio):
        with pytest.raises(CorruptMediaError, match=rf"{name}: .*not a media file"):
            fn(text)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(seed: int) -> None:
    data = np.random.default_rng(seed).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for fn in (load_video, load_audio):
        with pytest.raises(CorruptMediaError, match=r"<bytes>: cannot be read: not a media file"):
            fn(data)


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_truncated_mp4_moov_at_end(tmp_path: Path, frames: np.ndarray, suffix: str) -> None:
    path = write_video(tmp_path / f"full{suffix}", frames, fps=FPS, audio=_burst_audio())
    data = path.read_bytes()
    assert data.rfind(b"moov") > data.find(b"mdat")  # index written after the media
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(0.3 * len(data))])
    for fn in (load_video, load_audio):
        with pytest.raises(CorruptMediaError, match=r"cut\.mo?[pv]4?: cannot be read.*truncated"):
            fn(cut)
    with pytest.raises(CorruptMediaError, match=r"truncated"):
        load_video(cut, lazy=True)


@pytest.mark.parametrize(("suffix", "warns"), [(".webm", True), (".avi", True), (".mpg", False)])
def test_truncated_stream_keeps_decoded_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, suffix: str, warns: bool
) -> None:
    frames = _frames(50)
    path = write_video(tmp_path / f"full{suffix}", frames, fps=FPS)
    data = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="lipauth.io"):
        video = load_video(data[: len(data) // 2])
    assert 10 <= video.n_frames < 50
    np.testing.assert_allclose(video.timestamps_s, np.arange(video.n_frames) / FPS, atol=1e-3)
    # mpg (MPEG-PS) declares no length, so a cut there cannot be told from a short clip
    assert ("looks truncated" in caplog.text) is warns


def test_truncated_webm_without_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "full.webm", _frames(50), fps=FPS)
    data = path.read_bytes()
    with pytest.raises(CorruptMediaError, match=r"<bytes>: the header declares a video but 0 frame\(s\)"):
        load_video(data[: data.find(b"\x1f\x43\xb6\x75") + 8])  # header and the first Cluster id only


def test_audio_only_as_video(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "voice.m4a", _burst_audio())
    with pytest.raises(NoVideoStreamError, match=r"voice\.m4a: no video stream \(the file holds audio streams only\)"):
        load_video(path)
    assert load_audio(path).start_s == 0.0


def test_video_without_audio(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "silent.mp4", frames, fps=FPS)
    with pytest.raises(NoAudioStreamError, match=r"silent\.mp4: no audio stream; record with a microphone or pass audio="):
        load_audio(path)


def test_zero_frame_video(tmp_path: Path) -> None:
    import av

    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    for lazy in (False, True):
        with pytest.raises(NoFramesError, match=r"zero\.avi: the video stream holds no decodable frame"):
            load_video(path, lazy=lazy)


def test_still_image_png(tmp_path: Path) -> None:
    import av

    path = tmp_path / "face.png"
    with av.open(str(path), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
            container.mux(packet)
    for lazy in (False, True):
        with pytest.raises(StillImageError, match=r"face\.png: is a still image .*at least 2 frames"):
            load_video(path, lazy=lazy)


def test_single_frame_video_is_still(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "one.mp4", frames[:1], fps=FPS)
    for lazy in (False, True):
        with pytest.raises(StillImageError, match=r"one\.mp4: is a still image \(a .* with a single frame\)"):
            load_video(path, lazy=lazy)


def test_unsupported_codec(tmp_path: Path, frames: np.ndarray) -> None:
    """An avi whose fourcc names no codec FFmpeg knows (FMP4 patched to QQQQ): the
    container reads fine but there is no decoder for the stream."""
    path = write_video(tmp_path / "ok.avi", frames, fps=FPS)
    data = path.read_bytes()
    assert data.count(b"FMP4") == 2
    bad = tmp_path / "alien.avi"
    bad.write_bytes(data.replace(b"FMP4", b"QQQQ"))
    for lazy in (False, True):
        with pytest.raises(UnsupportedCodecError, match=r"alien\.avi: video stream #0 uses a codec this FFmpeg build cannot decode"):
            load_video(bad, lazy=lazy)


# ------------------------------------------------------------------------------ writer checks


def test_write_video_rejects_bad_arguments(tmp_path: Path, frames: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=r"needs fps= .* or timestamps_s="):
        write_video(tmp_path / "a.mp4", frames)
    with pytest.raises(ConfigError, match=r"unknown output suffix '.xyz'"):
        write_video(tmp_path / "a.xyz", frames, fps=FPS)
    with pytest.raises(InputError, match=r"frames are 127x96; yuv420p video needs even"):
        write_video(tmp_path / "a.mp4", frames[:, :, :127], fps=FPS)
    with pytest.raises(InputError, match=r"timestamps_s is not strictly increasing"):
        write_video(tmp_path / "a.mp4", frames[:3], timestamps_s=[0.0, 0.1, 0.1])
    with pytest.raises(InputError, match=r"timestamps_s has 2 values for 3 frames"):
        write_video(tmp_path / "a.mp4", frames[:3], timestamps_s=[0.0, 0.1])
    with pytest.raises(InputError, match=r"frames have shape \(3, 96, 128\)"):
        write_video(tmp_path / "a.mp4", frames[:3, ..., 0], fps=FPS)
    with pytest.raises(ConfigError, match=r"fps=12 is not an MPEG-1 frame rate"):
        write_video(tmp_path / "a.mpg", frames, fps=12)
    with pytest.raises(ConfigError, match=r"\.wav holds audio only"):
        write_video(tmp_path / "a.wav", frames, fps=FPS)
    with pytest.raises(InputError, match=r"audio has shape \(2, 10\)"):
        write_video(tmp_path / "a.mp4", frames, fps=FPS, audio=np.zeros((2, 10), np.float32))


def test_load_audio_rejects_bad_rate(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.wav", _burst_audio())
    with pytest.raises(ConfigError, match=r"sample_rate=0"):
        load_audio(path, sample_rate=0)
    assert load_audio(path, sample_rate=8000).n_samples == pytest.approx(16000, abs=32)


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, lipauth.io; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fraction_rates(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "ntsc.mp4", frames, fps=30000 / 1001)
    video = load_video(path)
    assert video.nominal_fps == pytest.approx(float(Fraction(30000, 1001)), rel=1e-6)
    np.testing.assert_allclose(video.timestamps_s, np.arange(N) * 1001 / 30000, atol=1e-4)


# --------------------------------------------------------------------------------------
# issue 18 row 8: frame size is capped before decoding


def make_huge_clip(path: Path, width: int = 8000, height: int = 6000) -> Path:
    """Two black H.264 frames of ``width`` x ``height`` (tiny on disk)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "tune": "zerolatency"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for i in range(2):
            frame.pts = i
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_frames_above_the_limit_are_refused_before_decoding(tmp_path: Path) -> None:
    """An 8000x6000 clip is refused from its header: < 0.5 s and < 300 MB (was 8-13 s and 2.8 GB a worker).

    Measured in a fresh process: its peak RSS after ``load_video`` minus its RSS just before (opening the
    container costs ~120 MB: FFmpeg probes the stream; no frame of the clip is converted or kept).
    """
    import json
    import subprocess
    import sys

    huge = make_huge_clip(tmp_path / "huge.mp4", 8000, 6000)
    code = f"""
import json, time
import av, numpy  # imported before the measurement
from lipauth.io import load_video
from lipauth.errors import FrameTooLargeError
def rss_mb(field):  # VmHWM: peak RSS of this process image (ru_maxrss would count the forking parent's)
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
before = rss_mb('VmRSS')
out = {{}}
for lazy in (False, True):
    t0 = time.perf_counter()
    try:
        load_video({str(huge)!r}, lazy=lazy)
        out[str(lazy)] = None
    except FrameTooLargeError as exc:
        out[str(lazy)] = [time.perf_counter() - t0, str(exc)]
peak = rss_mb('VmHWM')
print(json.dumps({{"out": out, "extra_mb": peak - before}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"8000x6000: refused in {res['out']['False'][0]:.3f} s (eager), {res['out']['True'][0]:.3f} s (lazy), "
          f"{res['extra_mb']:.0f} MB extra peak memory")
    for lazy in ("False", "True"):
        took, message = res["out"][lazy]
        assert took < 0.5 and "frames are 8000x6000 (48.0 MP); the limit is 4096 px a side and 12 MP" in message
    assert res["extra_mb"] < 300


def test_frame_limits_are_settable(tmp_path: Path) -> None:
    from lipauth.errors import FrameTooLargeError
    from lipauth.io.video import frame_limits, set_frame_limits

    clip = make_huge_clip(tmp_path / "hd.mp4", 1280, 720)
    assert load_video(clip).width == 1280  # under the default limits
    with pytest.raises(FrameTooLargeError, match="frames are 1280x720"):
        load_video(clip, max_frame_pixels=640 * 480)
    with pytest.raises(FrameTooLargeError, match="limit is 1000 px a side"):
        load_video(clip, lazy=True, max_frame_side=1000)
    default = frame_limits()
    try:
        set_frame_limits(max_side=1024)
        with pytest.raises(FrameTooLargeError):
            load_video(clip)
    finally:
        set_frame_limits(max_side=default[0], max_pixels=default[1])
    assert frame_limits() == (4096, 12_000_000)
