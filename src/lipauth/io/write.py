"""Encode frames and audio into a media file (mp4, mov, webm, avi, mpg, wav).

Container and default codecs follow the file suffix:

======== ============== ========================== ============================
suffix   container      video codec (default)      audio codec (default)
======== ============== ========================== ============================
``.mp4`` mp4            H.264 (libx264, yuv420p)   AAC
``.mov`` mov            H.264 (libx264, yuv420p)   AAC
``.webm``webm           VP8 (``video_codec="vp9"``) Opus (libopus)
``.avi`` avi            MPEG-4 part 2              PCM s16le (``"mp3"`` too)
``.mpg`` MPEG-1 system  MPEG-1 video               MP2
``.wav`` wav            (audio only)               PCM s16le
``.mp3`` ``.m4a`` ``.opus``/``.ogg`` ``.mp2``: audio only (MP3, AAC, Opus, MP2)
======== ============== ========================== ============================

Timing: mp4/mov use a 1/90000 s and webm a 1/1000 s stream time base, so frames carry
their exact presentation times (variable frame rate is kept). avi and mpg store frames
on a ``1/fps`` grid; their ``timestamps_s`` must lie on that grid (gaps are allowed).

Audio offsets (``audio_start_s``): mp4, mov, webm and mpg store stream start times, so
the later stream simply starts later. avi stores none: a positive offset is written as
leading silence (``load_audio`` then reads ``start_s == 0`` and the sound sits at the
right time) and a negative one raises :class:`~lipauth.errors.ConfigError`. PCM is the
default avi audio because MP3 adds 1105 priming samples that avi cannot signal.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from lipauth.errors import ConfigError, InputError
from lipauth.types import Audio

__all__ = ["write_video", "write_audio", "check_video_path"]

log = logging.getLogger(__name__)

#: suffix -> (container format, default video codec, default audio codec, fine time base)
_CONTAINERS: dict[str, tuple[str, str | None, str, Fraction | None]] = {
    ".mp4": ("mp4", "libx264", "aac", Fraction(1, 90000)),
    ".m4v": ("mp4", "libx264", "aac", Fraction(1, 90000)),
    ".mov": ("mov", "libx264", "aac", Fraction(1, 90000)),
    ".webm": ("webm", "libvpx", "libopus", Fraction(1, 1000)),
    ".mkv": ("matroska", "libx264", "aac", Fraction(1, 1000)),
    ".avi": ("avi", "mpeg4", "pcm_s16le", None),
    ".mpg": ("mpeg", "mpeg1video", "mp2", None),
    ".mpeg": ("mpeg", "mpeg1video", "mp2", None),
    ".wav": ("wav", None, "pcm_s16le", None),
    ".mp3": ("mp3", None, "libmp3lame", None),
    ".m4a": ("mp4", None, "aac", None),
    ".opus": ("ogg", None, "libopus", None),
    ".ogg": ("ogg", None, "libopus", None),
    ".mp2": ("mp2", None, "mp2", None),
}

#: friendly codec names -> FFmpeg encoder names
_ENCODER_ALIASES = {
    "h264": "libx264",
    "x264": "libx264",
    "avc": "libx264",
    "vp8": "libvpx",
    "vp9": "libvpx-vp9",
    "mpeg1": "mpeg1video",
    "mpeg2": "mpeg2video",
    "mp3": "libmp3lame",
    "opus": "libopus",
    "pcm": "pcm_s16le",
}

#: MPEG-1/2 video only allows these frame rates
_MPEG12_RATES = [
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
]


def _container_for(path: Path) -> tuple[str, str | None, str, Fraction | None]:
    suffix = path.suffix.lower()
    if suffix not in _CONTAINERS:
        raise ConfigError(
            f"{path}: unknown output suffix {suffix!r}; use one of {', '.join(sorted(_CONTAINERS))}"
        )
    return _CONTAINERS[suffix]


def check_video_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, or :class:`ConfigError` when its suffix is not a video container
    :func:`write_video` can write (unknown, or audio only like ``.wav``): the CLI checks its video
    outputs with it before seconds of tracking."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in _CONTAINERS:
        video = sorted(k for k, v in _CONTAINERS.items() if v[1] is not None)
        raise ConfigError(f"{out}: unknown output suffix {suffix!r}; use one of {', '.join(video)} (a video)")
    if _CONTAINERS[suffix][1] is None:
        raise ConfigError(f"{out}: {out.suffix} holds audio only; use a video suffix (.mp4, .webm, ...)")
    return out


def _rate_fraction(fps: float, *, mpeg12: bool) -> Fraction:
    """A rational frame rate close to ``fps`` (NTSC rates become x000/1001)."""
    if mpeg12:
        best = min(_MPEG12_RATES, key=lambda r: abs(float(r) - fps))
        if abs(float(best) - fps) > 0.01 * fps:
            raise ConfigError(
                f"fps={fps:g} is not an MPEG-1 frame rate; use one of "
                f"{', '.join(f'{float(r):.3f}' for r in _MPEG12_RATES)} or write .mp4/.webm"
            )
        return best
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(fps - float(ntsc)) < 1e-3:
            return ntsc
    return Fraction(fps).limit_denominator(1000)


def _as_audio(audio: Audio | np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    if isinstance(audio, Audio):
        samples, rate = audio.samples, int(audio.sample_rate)
    else:
        samples, rate = np.asarray(audio), int(sample_rate)
    if samples.ndim != 1:
        raise InputError(
            f"audio has shape {samples.shape}; pass mono samples of shape (n_samples,) or an Audio"
        )
    if samples.dtype.kind != "f":
        raise InputError(f"audio has dtype {samples.dtype}; pass float32 samples in [-1, 1]")
    if rate <= 0:
        raise ConfigError(f"sample_rate={rate}; pass a positive rate in Hz, e.g. 16000")
    samples = np.clip(np.nan_to_num(samples.astype(np.float32, copy=False)), -1.0, 1.0)
    return samples, rate


def _encoder_rate(codec_name: str, rate: int) -> int:
    import av

    rates = av.Codec(codec_name, "w").audio_rates
    if not rates or rate in rates:
        return rate
    higher = sorted(r for r in rates if r >= rate)
    return higher[0] if higher else max(rates)


def _resample_mono(samples: np.ndarray, rate: int, out_rate: int, out_format: str) -> Iterator[Any]:
    """Yield av.AudioFrame s of ``samples`` (mono float32 at ``rate``) as ``out_format`` at ``out_rate``."""
    import av

    frame = av.AudioFrame.from_ndarray(samples[np.newaxis, :], format="flt", layout="mono")
    frame.sample_rate = rate
    frame.pts = None
    resampler = av.AudioResampler(format=out_format, layout="mono", rate=out_rate)
    yield from resampler.resample(frame)
    yield from resampler.resample(None)


def _mux_audio(container: Any, stream: Any, samples: np.ndarray, rate: int, start_s: float) -> None:
    """Encode mono ``samples`` into ``stream`` with the first sample at ``start_s`` seconds.

    Encoders such as AAC emit ``initial_padding`` priming samples first: their packets
    start that many samples before the first input sample. In mp4/mov we keep ``dts`` and
    move ``pts`` by the padding, which makes the muxer write an edit list that skips the
    priming (what FFmpeg does for a stream starting at 0); the decoder then drops it and
    the first decoded sample sits at ``start_s``. Other containers have no such field:
    the priming stays in the stream and the first decoded sample is ``padding`` samples
    early (MP2 in .mpg: 481 samples), while every later sample keeps its exact time.
    """
    import av

    ctx = stream.codec_context
    out_rate = ctx.sample_rate
    fmt = ctx.format.name
    if out_rate != rate:
        chunks = [f.to_ndarray().reshape(-1) for f in _resample_mono(samples, rate, out_rate, "flt")]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    frame_size = ctx.frame_size or 1024
    pts = int(round(start_s * out_rate))
    edit_list = container.format.name in ("mp4", "mov")
    padding: int | None = None
    if fmt.startswith("s16"):
        data = np.round(samples * 32767.0).astype(np.int16)
    elif fmt.startswith("s32"):
        data = np.round(samples.astype(np.float64) * 2147483647.0).astype(np.int32)
    else:
        data = samples.astype(np.float32)
    packed = fmt.rstrip("p")
    for i in range(0, data.shape[0], frame_size):
        chunk = data[i : i + frame_size]
        if chunk.shape[0] < frame_size and ctx.frame_size:
            pad = np.zeros(frame_size - chunk.shape[0], dtype=chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        frame = av.AudioFrame.from_ndarray(chunk[np.newaxis, :], format=packed, layout="mono")
        frame.sample_rate = out_rate
        frame.pts = pts + i
        frame.time_base = Fraction(1, out_rate)
        for packet in stream.encode(frame):
            if padding is None:
                padding = max(0, pts - int(packet.pts)) if packet.pts is not None else 0
            if edit_list and padding and packet.pts is not None:
                packet.pts = packet.pts + padding
            container.mux(packet)
    for packet in stream.encode(None):
        if edit_list and padding and packet.pts is not None:
            packet.pts = packet.pts + padding
        container.mux(packet)


def _open_output(out: Path, fmt: str) -> Any:
    """Create ``out`` (and its directory) as an FFmpeg output container of format ``fmt``."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        return av.open(str(out), mode="w", format=fmt)
    except (OSError, av.error.FFmpegError) as exc:
        raise InputError(f"{out}: cannot create the file ({exc}); check the directory and permissions") from exc


def _add_audio_stream(container: Any, codec: str, rate: int, path: Path) -> Any:
    import av

    try:
        stream = container.add_stream(codec, rate=_encoder_rate(codec, rate))
    except (ValueError, av.error.FFmpegError) as exc:
        raise ConfigError(f"{path}: cannot add audio codec {codec!r} ({exc}); pass another audio_codec") from exc
    stream.layout = "mono"
    stream.time_base = Fraction(1, stream.codec_context.sample_rate)
    if codec in ("aac", "libopus", "libmp3lame", "mp2"):
        stream.bit_rate = 96000 if codec != "mp2" else 128000
    return stream


def _frame_source(
    frames: np.ndarray | Iterable[np.ndarray],
) -> tuple[np.ndarray, Iterator[np.ndarray], int | None]:
    """(first frame, iterator over all frames including the first, count if known)."""
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"frames have shape {frames.shape}; pass RGB frames of shape (n, h, w, 3)")
        if frames.shape[0] == 0:
            raise InputError("frames are empty (0 frames); pass at least one frame")
        return frames[0], iter(frames), int(frames.shape[0])
    it = iter(frames)
    try:
        first = np.asarray(next(it))
    except StopIteration:
        raise InputError("frames are empty (the iterable yielded nothing); pass at least one frame") from None

    def chain() -> Iterator[np.ndarray]:
        yield first
        for f in it:
            yield np.asarray(f)

    return first, chain(), None


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    *,
    fps: float | None = None,
    timestamps_s: np.ndarray | None = None,
    audio: Audio | np.ndarray | None = None,
    audio_start_s: float = 0.0,
    sample_rate: int = 16000,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    crf: int | None = None,
) -> Path:
    """Encode RGB frames (and optional mono audio) into a video file.

    Parameters
    ----------
    path : str or PathLike
        Output file; its suffix picks the container and default codecs (see module doc).
    frames : np.ndarray [shape=(n, height, width, 3), dtype=uint8] or iterable of such frames
        RGB frames; width and height must be even (yuv420p).
    fps : float, optional
        Nominal frame rate. Frames sit at ``i / fps`` unless ``timestamps_s`` is given.
    timestamps_s : np.ndarray [shape=(n,), dtype=float64], optional
        Presentation time of each frame in seconds (strictly increasing; the first frame
        is written at ``timestamps_s[0] - timestamps_s[0] = 0``). Gives a variable frame
        rate. One of ``fps`` / ``timestamps_s`` is required.
    audio : Audio or np.ndarray [shape=(n_samples,), dtype=float32], optional
        Mono audio in [-1, 1]; an array is taken at ``sample_rate`` Hz.
    audio_start_s : float
        Start of the audio relative to the first video frame in seconds (positive: audio
        starts later, negative: earlier). ``load_audio`` reports it as ``Audio.start_s``.
        An ``Audio``'s own ``start_s`` is added, so a loaded clip writes back aligned.
    sample_rate : int
        Rate of ``audio`` when it is a bare array (ignored for an ``Audio``).
    video_codec, audio_codec : str, optional
        FFmpeg encoder names (or ``"h264"``, ``"vp8"``, ``"vp9"``, ``"mp3"``, ``"opus"``).
    crf : int, optional
        Constant rate factor for libx264 (default 18) and libvpx (default 10); lower is
        better quality.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import av

    out = check_video_path(path)
    fmt, default_vcodec, default_acodec, fine_tb = _container_for(out)
    vcodec = _ENCODER_ALIASES.get(video_codec, video_codec) if video_codec else default_vcodec
    acodec = _ENCODER_ALIASES.get(audio_codec, audio_codec) if audio_codec else default_acodec
    mpeg12 = vcodec in ("mpeg1video", "mpeg2video")

    first, frame_iter, n_known = _frame_source(frames)
    if first.ndim != 3 or first.shape[-1] != 3 or first.dtype != np.uint8:
        raise InputError(
            f"frame has shape {first.shape} dtype {first.dtype}; pass uint8 RGB frames of shape (h, w, 3)"
        )
    height, width = int(first.shape[0]), int(first.shape[1])
    if height % 2 or width % 2:
        raise InputError(
            f"frames are {width}x{height}; yuv420p video needs even width and height; crop or pad the frames"
        )

    ts: np.ndarray | None = None
    if timestamps_s is not None:
        ts = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
        if ts.size == 0 or not np.all(np.isfinite(ts)):
            raise InputError("timestamps_s is empty or holds NaN/inf; pass finite times in seconds")
        if np.any(np.diff(ts) <= 0):
            raise InputError("timestamps_s is not strictly increasing; pass one increasing time per frame")
        if n_known is not None and ts.size != n_known:
            raise InputError(f"timestamps_s has {ts.size} values for {n_known} frames; pass one per frame")
        ts = ts - ts[0]
        if fps is None:
            if fine_tb is None:
                raise ConfigError(f"{out}: {fmt} stores frames on a 1/fps grid; pass fps= with timestamps_s=")
            fps = (ts.size - 1) / ts[-1] if ts.size > 1 else 25.0
    if fps is None:
        raise ConfigError("write_video needs fps= (constant rate) or timestamps_s= (exact frame times)")
    if not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps={fps}; pass a positive frame rate")
    rate = _rate_fraction(float(fps), mpeg12=mpeg12)

    audio_data: tuple[np.ndarray, int] | None = None
    if audio is not None:
        audio_data = _as_audio(audio, sample_rate)
        if isinstance(audio, Audio):
            audio_start_s = float(audio_start_s) + float(audio.start_s)
    time_base = fine_tb if fine_tb is not None else 1 / rate
    # shift whichever stream starts later so that no pts is negative
    video_offset_s = max(0.0, -float(audio_start_s))
    video_offset_s = math.ceil(video_offset_s / time_base - 1e-6) * float(time_base)
    audio_offset_s = video_offset_s + float(audio_start_s)
    if audio_data is not None and fmt == "avi":
        if audio_start_s < 0:
            raise ConfigError(
                f"{out}: avi cannot start audio before video (audio_start_s={audio_start_s}); use .mp4, .mov, .webm or .mpg"
            )
        lead = np.zeros(int(round(audio_start_s * audio_data[1])), np.float32)
        audio_data = (np.concatenate([lead, audio_data[0]]), audio_data[1])
        video_offset_s = audio_offset_s = 0.0

    def pts_of(i: int) -> int:
        t = (ts[i] if ts is not None else i / float(rate)) + video_offset_s
        return int(round(t / time_base))

    container = _open_output(out, fmt)
    try:
        try:
            vstream = container.add_stream(vcodec, rate=rate)
        except (ValueError, av.error.FFmpegError) as exc:
            raise ConfigError(f"{out}: cannot use video codec {vcodec!r} ({exc}); pass another video_codec") from exc
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.time_base = time_base
        vstream.time_base = time_base
        options: dict[str, str] = {}
        if vcodec == "libx264":
            options = {"crf": str(18 if crf is None else crf), "preset": "veryfast"}
        elif vcodec in ("libvpx", "libvpx-vp9"):
            options = {"crf": str(10 if crf is None else crf), "b": "8M", "deadline": "realtime", "cpu-used": "8"}
            if vcodec == "libvpx-vp9":
                options["row-mt"] = "1"
        elif vcodec in ("mpeg4", "mpeg1video", "mpeg2video"):
            vstream.codec_context.bit_rate = 8_000_000
            options = {"qmin": "2", "qmax": "6"}
        vstream.options = options

        astream = None
        if audio_data is not None:
            astream = _add_audio_stream(container, acodec, audio_data[1], out)

        n_written = 0
        last_pts = -1
        for i, arr in enumerate(frame_iter):
            if ts is not None and i >= ts.size:
                raise InputError(f"frames yielded more than the {ts.size} timestamps_s; pass one time per frame")
            if arr.shape != first.shape or arr.dtype != np.uint8:
                raise InputError(
                    f"frame {i} has shape {arr.shape} dtype {arr.dtype}; every frame must be uint8 {first.shape}"
                )
            pts = pts_of(i)
            if pts <= last_pts:
                raise InputError(
                    f"{out}: frames {i - 1} and {i} fall on the same 1/{float(rate):g} s tick; "
                    "use .mp4/.webm for timestamps finer than the frame grid"
                )
            last_pts = pts
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            frame.pts = pts
            frame.time_base = time_base
            for packet in vstream.encode(frame):
                container.mux(packet)
            n_written += 1
        if ts is not None and n_written != ts.size:
            raise InputError(f"got {n_written} frames for {ts.size} timestamps_s; pass one time per frame")
        for packet in vstream.encode(None):
            container.mux(packet)

        if astream is not None and audio_data is not None:
            _mux_audio(container, astream, audio_data[0], audio_data[1], audio_offset_s)
    finally:
        container.close()
    log.debug("wrote %s: %d frames %dx%d, codec %s", out, n_written, width, height, vcodec)
    return out


def write_audio(
    path: str | os.PathLike[str],
    audio: Audio | np.ndarray,
    *,
    sample_rate: int = 16000,
    audio_codec: str | None = None,
) -> Path:
    """Encode mono audio into an audio file (``.wav`` PCM by default; also .mp4/.webm/...).

    Parameters
    ----------
    path : str or PathLike
        Output file; ``.wav`` gives 16-bit PCM, other suffixes their default audio codec.
    audio : Audio or np.ndarray [shape=(n_samples,), dtype=float32]
        Mono samples in [-1, 1].
    sample_rate : int
        Rate of ``audio`` when it is a bare array, in Hz.
    audio_codec : str, optional
        FFmpeg encoder name to override the suffix default.

    Returns
    -------
    pathlib.Path
    """
    import av

    out = Path(path)
    fmt, _, default_acodec, _ = _container_for(out)
    acodec = _ENCODER_ALIASES.get(audio_codec, audio_codec) if audio_codec else default_acodec
    samples, rate = _as_audio(audio, sample_rate)
    container = _open_output(out, fmt)
    try:
        stream = _add_audio_stream(container, acodec, rate, out)
        _mux_audio(container, stream, samples, rate, 0.0)
    finally:
        container.close()
    return out
