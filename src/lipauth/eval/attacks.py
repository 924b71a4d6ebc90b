"""Attack generators for evaluating liveness checks (no re-encoding where possible).

Each function takes the decoded objects of a genuine clip and returns the attacked
version of one of them; the others are reused unchanged:

===================  ===================================  ==========================
attack               function                             what to run again
===================  ===================================  ==========================
shifted audio        :func:`shift_audio`                  the check only
swapped audio        :func:`swap_audio`                   the check only
silence              :func:`silence_audio`                the check only
still frame (photo)  :func:`still_video`                  tracking + features
frozen / looped      :func:`loop_track` / :func:`loop_video`  features (track) / tracking
===================  ===================================  ==========================

A still frame needs re-tracking (:func:`still_video` repeats frame 0, like a photo held to
the camera), so the tracker's own behaviour on a static image is part of the test.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from lipauth.errors import ConfigError, InputError
from lipauth.types import Audio, LipTrack, Video

__all__ = ["loop_track", "loop_video", "shift_audio", "silence_audio", "still_video", "swap_audio"]


def _check_audio(audio: object, name: str = "audio") -> Audio:
    if not isinstance(audio, Audio):
        raise InputError(f"{name} is a {type(audio).__name__}; pass a lipauth.types.Audio")
    if audio.n_samples == 0:
        raise InputError(f"{name} has no samples; pass a clip's decoded audio")
    return audio


def shift_audio(audio: Audio, offset_ms: float, *, mode: Literal["roll", "delay"] = "roll") -> Audio:
    """Audio whose content comes ``offset_ms`` late relative to the video (early if < 0).

    Parameters
    ----------
    audio : Audio
    offset_ms : float
        Delay of the sound behind the picture, milliseconds.
    mode : {"roll", "delay"}
        ``"roll"``: the samples are rotated inside the same time span (the clip keeps its
        full length of sound, like a re-muxed dub); ``"delay"``: the whole stream moves on
        the video axis (``start_s += offset``), as a container offset would.

    Returns
    -------
    Audio
    """
    audio = _check_audio(audio)
    if not np.isfinite(offset_ms):
        raise ConfigError(f"offset_ms={offset_ms!r}; pass a finite number of milliseconds")
    if mode == "roll":
        n = int(round(offset_ms / 1000.0 * audio.sample_rate))
        return dataclasses.replace(audio, samples=np.roll(audio.samples, n), source=f"{audio.source}+shift{offset_ms:g}ms")
    if mode == "delay":
        return dataclasses.replace(audio, start_s=audio.start_s + offset_ms / 1000.0, source=f"{audio.source}+delay{offset_ms:g}ms")
    raise ConfigError(f"mode={mode!r}; pass 'roll' or 'delay'")


def swap_audio(audio: Audio, donor: Audio) -> Audio:
    """The donor clip's sound placed where ``audio`` was (same start and length).

    The donor is resampled by index if its rate differs, cut to length, or repeated
    (looped) when shorter.
    """
    audio = _check_audio(audio)
    donor = _check_audio(donor, "donor")
    x = donor.samples
    if donor.sample_rate != audio.sample_rate:
        n_new = int(round(x.size * audio.sample_rate / donor.sample_rate))
        x = np.interp(np.arange(n_new) * donor.sample_rate / audio.sample_rate, np.arange(x.size), x).astype(np.float32)
    reps = int(np.ceil(audio.n_samples / x.size))
    x = np.tile(x, reps)[: audio.n_samples]
    return dataclasses.replace(audio, samples=x.astype(np.float32), source=f"{donor.source} (swapped)")


def silence_audio(audio: Audio, *, level_dbfs: float | None = None, seed: int = 0) -> Audio:
    """Silence of the same length: zeros, or white noise at ``level_dbfs`` RMS."""
    audio = _check_audio(audio)
    if level_dbfs is None:
        x = np.zeros(audio.n_samples, np.float32)
    else:
        rms = 10.0 ** (level_dbfs / 20.0)
        x = (np.random.default_rng(seed).standard_normal(audio.n_samples) * rms).astype(np.float32)
    return dataclasses.replace(audio, samples=x, source=f"{audio.source} (silenced)")


def still_video(video: Video, *, frame_index: int = 0) -> Video:
    """Every frame replaced by frame ``frame_index`` (a photo shown to the camera).

    Timestamps are kept, so the original audio stays aligned. Decodes a lazy video.
    """
    if not isinstance(video, Video):
        raise InputError(f"video is a {type(video).__name__}; pass a lipauth.types.Video")
    if not 0 <= frame_index < video.n_frames:
        raise ConfigError(f"frame_index={frame_index}; pass an index in [0, {video.n_frames - 1}]")
    frame = None
    for i, (_t, f) in enumerate(video.iter_frames()):
        if i == frame_index:
            frame = f
            break
    if frame is None:
        raise InputError(f"{video.source}: frame {frame_index} cannot be decoded; pass another frame_index")
    frames = np.broadcast_to(frame, (video.n_frames, *frame.shape))
    return dataclasses.replace(video, frames=frames, _frame_iter=None, source=f"{video.source} (still)")


def _loop_index(timestamps_s: np.ndarray, period_s: float, start_s: float) -> np.ndarray:
    if not period_s > 0:
        raise ConfigError(f"period_s={period_s!r}; pass a positive loop length in seconds")
    t = timestamps_s - timestamps_s[0]
    if not 0 <= start_s < t[-1]:
        raise ConfigError(f"start_s={start_s!r}; pass a loop start in [0, {t[-1]:.2f}) s from the first frame")
    first = int(np.searchsorted(t, start_s, side="left"))
    n_loop = max(1, int(np.searchsorted(t, start_s + period_s, side="left")) - first)
    return first + np.arange(t.size) % n_loop


def loop_track(track: LipTrack, *, period_s: float = 0.5, start_s: float = 0.0) -> LipTrack:
    """``period_s`` of a track from ``start_s`` repeated over the whole clip (a looped or,
    with a period below one frame interval, frozen video). Timestamps are kept.
    """
    if not isinstance(track, LipTrack):
        raise InputError(f"track is a {type(track).__name__}; pass a LipTrack")
    idx = _loop_index(track.timestamps_s, period_s, start_s)
    kw = {}
    for f in dataclasses.fields(track):
        v = getattr(track, f.name)
        if f.name != "timestamps_s" and isinstance(v, np.ndarray) and v.shape[:1] == (track.n_frames,):
            kw[f.name] = v[idx]
    return dataclasses.replace(track, **kw)


def loop_video(video: Video, *, period_s: float = 0.5, start_s: float = 0.0) -> Video:
    """``period_s`` of a video from ``start_s`` repeated over the clip (decodes a lazy video)."""
    if not isinstance(video, Video):
        raise InputError(f"video is a {type(video).__name__}; pass a lipauth.types.Video")
    idx = _loop_index(video.timestamps_s, period_s, start_s)
    lo, hi = int(idx.min()), int(idx.max()) + 1
    kept = []
    for i, (_t, f) in enumerate(video.iter_frames()):
        if i >= hi:
            break
        if i >= lo:
            kept.append(f)
    frames = np.stack(kept)[idx - lo]
    return dataclasses.replace(video, frames=frames, _frame_iter=None, source=f"{video.source} (looped)")
