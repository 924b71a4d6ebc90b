"""Decode a video stream into RGB frames with their true presentation timestamps."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from lipauth.errors import (
    CorruptMediaError,
    EmptyMediaError,
    FrameTooLargeError,
    InputError,
    MediaNotFoundError,
    NoFramesError,
    NotAnImageError,
    NoVideoStreamError,
)
from lipauth.io._open import (
    MIN_CLIP_FRAMES,
    MediaSource,
    check_decodable,
    ffmpeg_errors,
    is_image_format,
    open_container,
    reopen,
    source_name,
    still_image_error,
)
from lipauth.types import Video

__all__ = ["load_video", "load_image", "MAX_FRAME_SIDE", "MAX_FRAME_PIXELS", "set_frame_limits", "frame_limits"]

log = logging.getLogger(__name__)

#: largest frame decoded by default: 4096 px a side and 12 megapixels (4K UHD is 8.3 MP, a
#: 4000x3000 phone sensor 12 MP); one decoded RGB frame of 12 MP is 36 MB
MAX_FRAME_SIDE = 4096
MAX_FRAME_PIXELS = 12_000_000
_LIMITS = {"side": MAX_FRAME_SIDE, "pixels": MAX_FRAME_PIXELS}


def set_frame_limits(*, max_side: int | None = None, max_pixels: int | None = None) -> None:
    """Set this process's default frame-size limits of :func:`load_video` (None keeps the current one).

    The service's analysis workers call it with ``LIPAUTH_MAX_FRAME_SIDE`` /
    ``LIPAUTH_MAX_FRAME_PIXELS``.
    """
    for key, value in (("side", max_side), ("pixels", max_pixels)):
        if value is not None:
            if int(value) < 16:
                raise ValueError(f"max_{key}={value!r} is too small; pass at least 16")
            _LIMITS[key] = int(value)


def frame_limits() -> tuple[int, int]:
    """This process's default ``(max_side, max_pixels)``."""
    return _LIMITS["side"], _LIMITS["pixels"]


def _check_frame_size(width: int, height: int, name: str, max_side: int, max_pixels: int) -> None:
    """:class:`FrameTooLargeError` when a ``width`` x ``height`` frame passes a limit (0 = size unknown: not checked)."""
    if width <= 0 or height <= 0:
        return
    if max(width, height) > max_side or width * height > max_pixels:
        raise FrameTooLargeError(
            f"{name}: frames are {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {max_side} px a side "
            f"and {max_pixels / 1e6:g} MP; record at a lower resolution (e.g. 1280x720)"
        )


def _video_stream(container: Any, name: str) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        raise NoVideoStreamError(
            f"{name}: no video stream (the file holds {' and '.join(kinds)} streams only); pass a video clip"
        )
    stream = container.streams.video[0]
    check_decodable(stream, name)
    return stream


def _nominal_fps(stream: Any) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return float("nan")


def _rotate(arr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, as ``VideoFrame.rotation``)."""
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(arr, k=k)) if k else arr


def _frame_time(frame: Any, index: int) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base)


def _decode_frames(
    container: Any, stream: Any, name: str, *, to_rgb: bool, limits: tuple[int, int] | None = None
) -> Iterator[tuple[float | None, Any]]:
    """Yield ``(time or None, frame)``; a stream that breaks after some frames ends with a warning.

    Every frame is checked against ``limits`` (default :func:`frame_limits`), for streams whose
    header did not tell their size and for a size that changes mid-stream.
    """
    import av

    max_side, max_pixels = limits or frame_limits()
    n = 0
    it = container.decode(stream)
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except (av.error.FFmpegError, EOFError) as exc:
            if n == 0:
                raise CorruptMediaError(
                    f"{name}: video stream cannot be decoded ({exc}); the file is truncated or damaged, pass a complete file"
                ) from exc
            log.warning("%s: decoding stopped after %d frames (%s); keeping those frames", name, n, exc)
            return
        _check_frame_size(int(frame.width), int(frame.height), name, max_side, max_pixels)
        n += 1
        yield _frame_time(frame, n - 1), frame


def _finish_timestamps(raw: list[float | None], fps: float, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sort frame times and drop duplicates; return (timestamps of kept frames, kept indices)."""
    if any(t is None for t in raw):
        if not (fps > 0):
            raise CorruptMediaError(
                f"{name}: frames carry no timestamps and the stream declares no frame rate; re-encode the file"
            )
        log.warning("%s: frames carry no timestamps; using the declared %.3f fps", name, fps)
        times = np.arange(len(raw), dtype=np.float64) / fps
    else:
        times = np.asarray(raw, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    keep = np.ones(times.shape[0], dtype=bool)
    if times.shape[0] > 1:
        keep[1:] = np.diff(times) > 0
    if not keep.all():
        log.warning("%s: dropped %d frames with duplicate timestamps", name, int((~keep).sum()))
    return times[keep], order[keep]


def _declared_duration_s(stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # matroska/webm per-track tag, "HH:MM:SS.fffffffff"
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            return None
    return None


def _warn_if_truncated(stream: Any, times: np.ndarray, fps: float, name: str) -> None:
    """Log a warning when far fewer frames/seconds came out than the header declares."""
    declared = int(stream.frames or 0)
    n = int(times.shape[0])
    if declared > 0 and n < 0.9 * declared - 1:
        log.warning("%s: got %d of the %d frames the header declares; the file looks truncated", name, n, declared)
        return
    duration = _declared_duration_s(stream)
    frame_s = 1.0 / fps if fps > 0 else 0.0
    covered = float(times[-1] - times[0]) + frame_s
    if declared <= 0 and duration is not None and covered < 0.9 * duration - 0.1:
        log.warning(
            "%s: frames cover %.2f s of the %.2f s the header declares; the file looks truncated",
            name,
            covered,
            duration,
        )


def _measured_fps(ts: np.ndarray) -> float:
    if ts.shape[0] < 2 or ts[-1] <= ts[0]:
        return float("nan")
    return float((ts.shape[0] - 1) / (ts[-1] - ts[0]))


def _check_count(n: int, name: str, container: Any, stream: Any = None) -> None:
    declared = 0 if stream is None else max(int(stream.frames or 0), 2 if (_declared_duration_s(stream) or 0) > 0.1 else 0)
    if n < MIN_CLIP_FRAMES and declared >= max(n + 1, MIN_CLIP_FRAMES):
        raise CorruptMediaError(
            f"{name}: the header declares a video but {n} frame(s) could be read; the file is truncated "
            "or damaged, pass a complete file"
        )
    if n == 0:
        raise NoFramesError(f"{name}: the video stream holds no decodable frame; record again or pass another file")
    if n < MIN_CLIP_FRAMES:
        raise still_image_error(name, f"a {container.format.name} file with a single frame")


def _packet_times(container: Any, stream: Any, name: str) -> list[float | None]:
    """Presentation times of the video packets (demux only, no decoding)."""
    import av

    times: list[float | None] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet
                continue
            if packet.pts is None:
                times.append(None)
            else:
                times.append(float(packet.pts * packet.time_base))
    except (av.error.FFmpegError, EOFError) as exc:
        if not times:
            raise CorruptMediaError(f"{name}: video stream cannot be read ({exc}); pass a complete file") from exc
        log.warning("%s: reading stopped after %d packets (%s); keeping those", name, len(times), exc)
    return times


def load_video(
    src: MediaSource, *, lazy: bool = False, max_frame_side: int | None = None, max_frame_pixels: int | None = None
) -> Video:
    """Decode the first video stream of a file or byte string.

    Parameters
    ----------
    src : str, PathLike or bytes
        A media file (mp4, mov, webm, mkv, avi, mpg, ...) or its bytes.
    lazy : bool
        When True, frames are not kept: timestamps come from one demux pass (no
        decoding) and :meth:`Video.iter_frames` decodes on the fly, reopening ``src``.
    max_frame_side, max_frame_pixels : int, optional
        Largest frame accepted (default :func:`frame_limits`: 4096 px a side, 12 MP). The
        size in the stream's header is checked before any frame is decoded, and every
        decoded frame again.

    Returns
    -------
    Video
        ``frames`` [shape=(n, height, width, 3), dtype=uint8] RGB (``None`` when lazy);
        ``timestamps_s`` [shape=(n,), float64] presentation times, 0 = first frame,
        strictly increasing (B-frame order sorted, duplicate times dropped with a
        warning); ``start_time_s`` the first frame's time in the container clock.

    Notes
    -----
    A display rotation (phone clips) is applied: frames, width and height are those of
    the upright picture. Flips in the display matrix are not applied. A stream that
    breaks after some frames (a cut webm or mpg) keeps the frames decoded so far and
    logs a warning.

    Raises
    ------
    MediaNotFoundError, EmptyMediaError, CorruptMediaError, NoVideoStreamError,
    UnsupportedCodecError, NoFramesError, StillImageError, FrameTooLargeError
    """
    default_side, default_pixels = frame_limits()
    limits = (int(max_frame_side or default_side), int(max_frame_pixels or default_pixels))
    container, name, target = open_container(src)
    try:
        stream = _video_stream(container, name)
        ctx = stream.codec_context
        _check_frame_size(int(ctx.width or 0), int(ctx.height or 0), name, *limits)  # before any frame is decoded
        if is_image_format(container):
            raise still_image_error(name, f"{container.format.name.split(',')[0]} {stream.codec_context.name}")
        fps = _nominal_fps(stream)
        codec = stream.codec_context.name
        if lazy:
            return _load_lazy(container, stream, name, target, fps, codec, limits)
        return _load_eager(container, stream, name, fps, codec, limits)
    finally:
        container.close()


def _load_eager(container: Any, stream: Any, name: str, fps: float, codec: str, limits: tuple[int, int]) -> Video:
    stream.thread_type = "AUTO"
    n_hint = int(stream.frames or 0)
    if n_hint <= 0 and stream.duration and stream.time_base and fps > 0:
        n_hint = int(math.ceil(float(stream.duration * stream.time_base) * fps)) + 1
    buf: np.ndarray | None = None
    raw: list[float | None] = []
    rotation = 0
    with ffmpeg_errors(name, "video cannot be decoded"):
        for t, frame in _decode_frames(container, stream, name, to_rgb=True, limits=limits):
            arr = frame.to_ndarray(format="rgb24")
            if not raw:
                rotation = int(getattr(frame, "rotation", 0) or 0)
            if rotation:
                arr = _rotate(arr, rotation)
            i = len(raw)
            if buf is None:
                buf = np.empty((max(n_hint, 16), *arr.shape), dtype=np.uint8)
            elif i >= buf.shape[0]:
                grown = np.empty((buf.shape[0] * 2, *buf.shape[1:]), dtype=np.uint8)
                grown[:i] = buf[:i]
                buf = grown
            if arr.shape != buf.shape[1:]:
                raise CorruptMediaError(
                    f"{name}: frame {i} is {arr.shape[1]}x{arr.shape[0]} but earlier frames are "
                    f"{buf.shape[2]}x{buf.shape[1]}; lipauth needs one frame size per clip"
                )
            buf[i] = arr
            raw.append(t)
    _check_count(len(raw), name, container, stream)
    assert buf is not None
    times, order = _finish_timestamps(raw, fps, name)
    if order.shape[0] == len(raw) and np.all(order == np.arange(len(raw))):
        frames = buf[: len(raw)]
        if buf.shape[0] > 1.25 * len(raw):
            frames = frames.copy()
    else:
        frames = buf[order]
    _check_count(times.shape[0], name, container)
    _warn_if_truncated(stream, times, fps, name)
    if rotation:
        log.debug("%s: applied display rotation of %d degrees", name, rotation)
    return Video(
        frames=frames,
        timestamps_s=times - times[0],
        width=int(frames.shape[2]),
        height=int(frames.shape[1]),
        nominal_fps=fps,
        measured_fps=_measured_fps(times),
        codec=codec,
        source=name,
        start_time_s=float(times[0]),
    )


def _load_lazy(
    container: Any, stream: Any, name: str, target: str | bytes, fps: float, codec: str, limits: tuple[int, int]
) -> Video:
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    raw = _packet_times(container, stream, name)
    rotation = 0
    if any(t is None for t in raw) or not raw:
        # no packet timestamps (some avi/raw streams): a decode pass without conversion
        again = reopen(target, name)
        try:
            with ffmpeg_errors(name, "video cannot be decoded"):
                raw = [t for t, _ in _decode_frames(again, again.streams.video[0], name, to_rgb=False, limits=limits)]
        finally:
            again.close()
    _check_count(len(raw), name, container, stream)
    times, _ = _finish_timestamps(raw, fps, name)
    _check_count(times.shape[0], name, container)
    _warn_if_truncated(stream, times, fps, name)
    # rotation and true size come from the first decoded frame
    first = reopen(target, name)
    try:
        with ffmpeg_errors(name, "video cannot be decoded"):
            for _, frame in _decode_frames(first, first.streams.video[0], name, to_rgb=False, limits=limits):
                rotation = int(getattr(frame, "rotation", 0) or 0)
                width, height = int(frame.width), int(frame.height)
                break
    finally:
        first.close()
    if int(round(rotation / 90.0)) % 2:
        width, height = height, width
    t0 = float(times[0])

    def frame_iter() -> Iterator[tuple[float, np.ndarray]]:
        c = reopen(target, name)
        try:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            last = -math.inf
            with ffmpeg_errors(name, "video cannot be decoded"):
                for i, (t, frame) in enumerate(_decode_frames(c, s, name, to_rgb=True, limits=limits)):
                    t_rel = (t if t is not None else i / fps) - t0
                    if t_rel <= last:
                        continue
                    last = t_rel
                    arr = frame.to_ndarray(format="rgb24")
                    yield t_rel, (_rotate(arr, rotation) if rotation else arr)
        finally:
            c.close()

    return Video(
        frames=None,
        timestamps_s=times - t0,
        width=width,
        height=height,
        nominal_fps=fps,
        measured_fps=_measured_fps(times),
        codec=codec,
        source=name,
        start_time_s=t0,
        _frame_iter=frame_iter,
    )


def load_image(src: MediaSource, *, max_frame_side: int | None = None, max_frame_pixels: int | None = None) -> Video:
    """Decode one picture (JPEG, PNG, WebP, BMP) as a one-frame :class:`Video`.

    For what needs a single frame, such as the page's live framing hint
    (:func:`lipauth.tracking.framing.preview_framing`); clips go through :func:`load_video`.

    Parameters
    ----------
    src : str, PathLike or bytes
        The picture file or its bytes.
    max_frame_side, max_frame_pixels : int, optional
        Largest picture accepted (default :func:`frame_limits`).

    Returns
    -------
    Video
        ``frames`` [shape=(1, height, width, 3), dtype=uint8] RGB, ``timestamps_s`` ``[0.0]``.

    Raises
    ------
    MediaNotFoundError, EmptyMediaError, FrameTooLargeError
    NotAnImageError
        A video clip, a file that is not media, or a damaged picture.
    """
    default_side, default_pixels = frame_limits()
    limits = (int(max_frame_side or default_side), int(max_frame_pixels or default_pixels))
    try:
        container, name, _ = open_container(src)
    except (EmptyMediaError, FrameTooLargeError, MediaNotFoundError):
        raise
    except InputError as exc:
        raise NotAnImageError(f"{source_name(src)}: is not a picture FFmpeg can read; pass a JPEG or PNG picture") from exc
    try:
        if not container.streams.video or not is_image_format(container):
            raise NotAnImageError(
                f"{name}: is not a picture (FFmpeg reads it as {container.format.name.split(',')[0]!r}); "
                "pass a JPEG or PNG picture (a video clip goes to load_video)"
            )
        stream = container.streams.video[0]
        ctx = stream.codec_context
        _check_frame_size(int(ctx.width or 0), int(ctx.height or 0), name, *limits)
        try:
            _, frame = next(_decode_frames(container, stream, name, to_rgb=True, limits=limits))
        except StopIteration:
            raise NotAnImageError(f"{name}: the picture holds no decodable image; pass a complete JPEG or PNG") from None
        except CorruptMediaError as exc:
            raise NotAnImageError(f"{exc}; pass a complete JPEG or PNG picture") from exc
        rgb = _rotate(frame.to_ndarray(format="rgb24"), int(getattr(frame, "rotation", 0) or 0))
    finally:
        container.close()
    h, w = rgb.shape[:2]
    return Video(frames=rgb[None], timestamps_s=np.zeros(1), width=int(w), height=int(h), nominal_fps=float("nan"),
                 measured_fps=float("nan"), codec=str(ctx.name), source=name, start_time_s=0.0)
