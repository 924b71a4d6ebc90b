"""JSON text from a client (a challenge, device-motion samples), parsed with a nesting limit.

``json.loads`` recurses once per nesting level, so ``[[[[...]]]]`` a thousand levels deep
ends in a ``RecursionError`` (an internal error) instead of a refusal. :func:`loads_bounded`
measures the nesting first (strings removed, brackets counted with numpy: linear and
without recursion) and refuses deeper text with the caller's error class.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from lipauth.errors import InputError, LipAuthError

__all__ = ["MAX_JSON_DEPTH", "json_depth", "loads_bounded"]

#: deepest nesting accepted: a challenge is 3 levels deep, device-motion samples 2 or 3
MAX_JSON_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def json_depth(text: str | bytes) -> int:
    """Deepest bracket nesting of JSON ``text`` (brackets inside strings do not count)."""
    raw = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
    bare = _STRING.sub('""', raw).encode("utf-8", "replace")
    if not bare:
        return 0
    steps = _OPEN[np.frombuffer(bare, dtype=np.uint8)].astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def loads_bounded(
    text: str | bytes, *, what: str = "JSON", max_depth: int = MAX_JSON_DEPTH, error: type[LipAuthError] = InputError
) -> Any:
    """``json.loads(text)`` after checking that it nests at most ``max_depth`` levels.

    Raises
    ------
    error
        (default :class:`InputError`) the text nests deeper than ``max_depth`` or is not JSON;
        the message names ``what``.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise error(f"{what} nests {depth} levels deep; at most {max_depth} are accepted (send the object unchanged)")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not valid JSON ({exc}); send the object unchanged") from None
    except RecursionError:  # cannot happen below max_depth; kept so no RecursionError escapes
        raise error(f"{what} nests too deep; at most {max_depth} levels are accepted") from None
