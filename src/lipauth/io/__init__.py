"""Decode and encode media; validate inputs.

PyAV (FFmpeg) is imported inside the functions, so importing this package is cheap.
"""

from __future__ import annotations

from lipauth.io.write import write_audio, write_video

__all__ = ["write_video", "write_audio"]
