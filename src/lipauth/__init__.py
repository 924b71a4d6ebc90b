"""lipauth: liveness and authentication from lip movement, offline on a CPU.

The public API is small; heavy modules (PyAV, MediaPipe) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "load_video": "lipauth.io",
    "load_audio": "lipauth.io",
    "track_lips": "lipauth.tracking",
    "LipTracker": "lipauth.tracking",
    "Video": "lipauth.types",
    "Audio": "lipauth.types",
    "LipTrack": "lipauth.types",
    "LipAuthError": "lipauth.errors",
    "NoFaceError": "lipauth.errors",
    "Authenticator": "lipauth.auth",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from lipauth.auth import Authenticator
    from lipauth.errors import LipAuthError, NoFaceError
    from lipauth.io import load_audio, load_video
    from lipauth.tracking import LipTracker, track_lips
    from lipauth.types import Audio, LipTrack, Video


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lipauth' has no attribute {name!r}")
