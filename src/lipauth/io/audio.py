"""Decode an audio stream to mono float32 at a fixed rate, placed on the video's time axis."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lipauth.errors import ConfigError, CorruptMediaError, NoAudioStreamError
from lipauth.io._open import MediaSource, check_decodable, ffmpeg_errors, open_container, reopen
from lipauth.types import Audio

__all__ = ["load_audio"]

log = logging.getLogger(__name__)


def _first_video_time(target: str | bytes, name: str) -> float | None:
    """Presentation time of the first decodable video frame (container clock), or None."""
    import av

    container = reopen(target, name)
    try:
        if not container.streams.video or container.streams.video[0].codec_context is None:
            return None
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                if frame.pts is not None:
                    return float(frame.pts * frame.time_base)
                return None
        except (av.error.FFmpegError, EOFError) as exc:
            log.warning("%s: cannot decode the first video frame (%s); audio start taken as 0", name, exc)
            return None
        return None
    finally:
        container.close()


def _mono(frame: Any) -> np.ndarray:
    """Average the planes of a float planar frame [shape=(n_samples,), float32]."""
    planes = frame.to_ndarray()
    return planes[0].copy() if planes.shape[0] == 1 else planes.mean(axis=0, dtype=np.float32)


def load_audio(src: MediaSource, *, sample_rate: int = 16000) -> Audio:
    """Decode the first audio stream of a file or byte string to mono float32.

    Parameters
    ----------
    src : str, PathLike or bytes
        An audio file (wav, mp3, aac/m4a, opus/webm, mp2, ...) or a video with sound.
    sample_rate : int
        Output rate in Hz; FFmpeg's resampler converts and downmixes.

    Returns
    -------
    Audio
        ``samples`` [shape=(n_samples,), dtype=float32] mono in [-1, 1] at
        ``sample_rate``; ``start_s`` = time of the first sample minus the time of the
        first video frame (0 for a file without video). Sample ``k`` sits at
        ``start_s + k / sample_rate`` on the video axis.

    Raises
    ------
    MediaNotFoundError, EmptyMediaError, CorruptMediaError, NoAudioStreamError,
    UnsupportedCodecError
    """
    import av

    if not isinstance(sample_rate, (int, np.integer)) or not 1000 <= int(sample_rate) <= 384000:
        raise ConfigError(f"sample_rate={sample_rate!r}; pass an integer rate in Hz such as 16000")
    container, name, target = open_container(src)
    try:
        if not container.streams.audio:
            raise NoAudioStreamError(f"{name}: no audio stream; record with a microphone or pass audio=...")
        stream = container.streams.audio[0]
        check_decodable(stream, name)
        codec = stream.codec_context.name
        has_video = bool(container.streams.video)
        # keep the channels through the resampler and average them ourselves: FFmpeg's
        # stereo->mono matrix is (L + R) / sqrt(2), which clips loud recordings (GRID)
        resampler = av.AudioResampler(format="fltp", rate=int(sample_rate))
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        n_frames = 0
        with ffmpeg_errors(name, "audio cannot be decoded"):
            it = container.decode(stream)
            while True:
                try:
                    frame = next(it)
                except StopIteration:
                    break
                except (av.error.FFmpegError, EOFError) as exc:
                    if n_frames == 0:
                        raise CorruptMediaError(
                            f"{name}: audio stream cannot be decoded ({exc}); the file is truncated or damaged"
                        ) from exc
                    log.warning("%s: audio decoding stopped after %d frames (%s); keeping those", name, n_frames, exc)
                    break
                if first_t is None and frame.pts is not None and frame.time_base is not None:
                    first_t = float(frame.pts * frame.time_base)
                n_frames += 1
                for out in resampler.resample(frame):
                    chunks.append(_mono(out))
            for out in resampler.resample(None):
                chunks.append(_mono(out))
    finally:
        container.close()
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    np.clip(samples, -1.0, 1.0, out=samples)
    start_s = 0.0
    if has_video:
        t_video = _first_video_time(target, name)
        if t_video is not None and first_t is not None:
            start_s = first_t - t_video
    return Audio(samples=samples, sample_rate=int(sample_rate), start_s=float(start_s), codec=codec, source=name)
