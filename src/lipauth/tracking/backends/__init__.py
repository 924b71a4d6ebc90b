"""Landmark backends. Importing this package imports no model library."""

from __future__ import annotations

__all__ = ["MediaPipeBackend", "FakeBackend", "FakeFace"]


def __getattr__(name: str):  # noqa: ANN202
    if name == "MediaPipeBackend":
        from lipauth.tracking.backends.mediapipe import MediaPipeBackend

        return MediaPipeBackend
    if name in ("FakeBackend", "FakeFace"):
        from lipauth.tracking.backends import fake

        return getattr(fake, name)
    raise AttributeError(f"module 'lipauth.tracking.backends' has no attribute {name!r}")
