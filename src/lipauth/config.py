"""Process-wide settings read from the environment, and config validation helpers.

``LIPAUTH_DATA_DIR``: where lipauth keeps everything it stores (default
``~/.local/share/lipauth``).
"""

from __future__ import annotations

import os
from pathlib import Path

from lipauth.errors import ConfigError

__all__ = ["data_dir", "check_range"]

DEFAULT_DATA_DIR = Path("~/.local/share/lipauth")


def data_dir(*, create: bool = False) -> Path:
    """The directory for everything lipauth keeps (``$LIPAUTH_DATA_DIR`` or the default; created 0700)."""
    raw = os.environ.get("LIPAUTH_DATA_DIR", "").strip()
    path = Path(raw).expanduser() if raw else DEFAULT_DATA_DIR.expanduser()
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: keys, templates, audit
        except OSError as exc:
            raise ConfigError(
                f"LIPAUTH_DATA_DIR={str(path)!r} cannot be created ({exc.strerror}); "
                "set LIPAUTH_DATA_DIR to a writable directory"
            ) from None
    return path


def check_range(owner: str, name: str, value: float, low: float, high: float) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high`` (one message format)."""
    if not (low <= value <= high):  # also False for NaN
        raise ConfigError(f"{owner}.{name}={value!r} is out of range; allowed {low} to {high}")
