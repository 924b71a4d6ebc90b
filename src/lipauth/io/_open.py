"""Validate a media source (path or bytes) and open it with PyAV, mapping FFmpeg errors."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

from lipauth.errors import (
    CorruptMediaError,
    EmptyMediaError,
    InputError,
    MediaNotFoundError,
    StillImageError,
    UnsupportedCodecError,
)

#: what ``load_video`` / ``load_audio`` accept
MediaSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

BYTES_NAME = "<bytes>"

#: demuxers that read one picture (or text rendered as a picture), never a clip
_IMAGE_FORMATS = ("image2", "jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "gif_pipe", "tiff_pipe")
#: demuxers FFmpeg falls back to for arbitrary text: not media
_TEXT_FORMATS = ("tty",)

MIN_CLIP_FRAMES = 2


def source_name(src: Any) -> str:
    """How messages name the input: the path, or ``<bytes>``."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return BYTES_NAME
    return os.fspath(src)


def check_source(src: Any) -> tuple[str | bytes, str]:
    """Validate ``src`` before FFmpeg sees it; return (path or bytes, name for messages)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if len(data) == 0:
            raise EmptyMediaError(f"{BYTES_NAME}: media is empty (0 bytes); pass the bytes of a video or audio file")
        return data, BYTES_NAME
    if not isinstance(src, (str, os.PathLike)):
        raise InputError(
            f"media source is a {type(src).__name__}; pass a path (str or pathlib.Path) or the file's bytes"
        )
    path = Path(src)
    name = os.fspath(src)
    if not path.exists():
        raise MediaNotFoundError(f"{name}: no such file; check the path")
    if path.is_dir():
        raise MediaNotFoundError(f"{name}: is a directory, not a media file; pass a video or audio file")
    if path.stat().st_size == 0:
        raise EmptyMediaError(f"{name}: file is empty (0 bytes); record again or pass another file")
    return str(path), name


@contextlib.contextmanager
def ffmpeg_errors(name: str, what: str = "cannot be read") -> Iterator[None]:
    """Turn FFmpeg/PyAV exceptions raised inside the block into :class:`CorruptMediaError`."""
    import av

    try:
        yield
    except av.error.FileNotFoundError as exc:
        raise MediaNotFoundError(f"{name}: no such file; check the path") from exc
    except av.error.PermissionError as exc:
        raise InputError(f"{name}: permission denied; make the file readable") from exc
    except (av.error.FFmpegError, EOFError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        raise CorruptMediaError(
            f"{name}: {what}: not a media file FFmpeg can read, or truncated/damaged ({detail}); "
            "pass a complete video/audio file"
        ) from exc


def open_container(src: Any) -> tuple[Any, str, str | bytes]:
    """Validate and open ``src``; return (container, name, path-or-bytes to reopen it)."""
    import av

    target, name = check_source(src)
    with ffmpeg_errors(name):
        container = av.open(io.BytesIO(target) if isinstance(target, bytes) else target, mode="r")
    fmt = container.format.name
    if fmt in _TEXT_FORMATS or not container.streams:
        container.close()
        raise CorruptMediaError(
            f"{name}: not a media file (FFmpeg reads it as {fmt!r} with no audio/video); pass a video or audio file"
        )
    return container, name, target


def reopen(target: str | bytes, name: str) -> Any:
    import av

    with ffmpeg_errors(name):
        return av.open(io.BytesIO(target) if isinstance(target, bytes) else target, mode="r")


def is_image_format(container: Any) -> bool:
    names = container.format.name.split(",")
    return any(n in _IMAGE_FORMATS for n in names)


def still_image_error(name: str, detail: str) -> StillImageError:
    return StillImageError(
        f"{name}: is a still image ({detail}); lipauth needs a video clip of at least "
        f"{MIN_CLIP_FRAMES} frames (about 1 s or more); record a video instead"
    )


def check_decodable(stream: Any, name: str) -> None:
    """Raise :class:`UnsupportedCodecError` when FFmpeg has no decoder for ``stream``."""
    import av

    ctx = stream.codec_context
    codec_name = ctx.name if ctx is not None else None
    try:
        ok = ctx is not None and ctx.codec is not None and av.Codec(codec_name, "r") is not None
    except (ValueError, av.error.FFmpegError):
        ok = False
    if not ok or codec_name in (None, "none"):
        tag = getattr(ctx, "codec_tag", None) if ctx is not None else None
        raise UnsupportedCodecError(
            f"{name}: {stream.type} stream #{stream.index} uses a codec this FFmpeg build cannot decode "
            f"({codec_name or 'unknown'}{', tag ' + repr(tag) if tag else ''}); re-encode it to H.264, VP8/VP9 or MPEG-4"
        )
