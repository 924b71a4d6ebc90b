"""Evaluation: attack generators (:mod:`lipauth.eval.attacks`) for liveness checks."""

from __future__ import annotations

from lipauth.eval.attacks import (
    loop_track,
    loop_video,
    shift_audio,
    silence_audio,
    still_video,
    swap_audio,
)

__all__ = ["loop_track", "loop_video", "shift_audio", "silence_audio", "still_video", "swap_audio"]
