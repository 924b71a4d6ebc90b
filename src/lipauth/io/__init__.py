"""Decode and encode media; validate inputs.

``load_video`` / ``load_audio`` read a path or bytes with PyAV (FFmpeg) and raise a
specific :mod:`lipauth.errors` subclass for every bad input; FFmpeg's own exceptions
never escape. ``write_video`` / ``write_audio`` encode with the codecs the file suffix
implies. PyAV is imported inside the functions, so importing this package is cheap.
"""

from __future__ import annotations

from lipauth.io.align import WordAlignment, load_align
from lipauth.io.audio import load_audio
from lipauth.io.video import load_image, load_video
from lipauth.io.write import write_audio, write_video

__all__ = ["load_video", "load_image", "load_audio", "write_video", "write_audio", "load_align", "WordAlignment"]
