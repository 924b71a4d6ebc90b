"""Helpers the route modules share: state, form parsing, checks done before any store write, running analyses.

Every route module imports from here (and never from another route module or from the app).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from lipauth.errors import ChallengeError, ChallengeReusedError, OverloadedError
from lipauth.service.state import AppState

TEST_HOOK_HEADER = "X-LipAuth-Test-Hook"
#: error statuses of the routes that run an analysis (OpenAPI ``responses``)
ANALYSIS_ERRORS = (400, 401, 403, 409, 410, 413, 415, 422, 429, 500, 503, 504)
#: takes one enrolment needs and the suggested length of one take
ENROL_TAKES = 3
TAKE_S = 3.0


def form_true(value: str | None) -> bool:
    """A form flag such as ``plot``: true for 1/true/yes/on (any case)."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def state_of(request: Request) -> AppState:
    return request.app.state.lipauth


def test_hook(request: Request) -> str:
    """The test hook header, honoured only when the settings enable test hooks."""
    st = state_of(request)
    return request.headers.get(TEST_HOOK_HEADER, "") if st.settings.test_hooks else ""


def parse_sensors(text: str | None) -> str | None:
    """Validate the ``sensors`` form field (:class:`SensorDataError` when malformed); returns it unchanged."""
    if text is None or text == "":
        return None
    from lipauth.checks.sensors import parse_sensor_json

    parse_sensor_json(text)
    return text


def parse_challenge(st: AppState, text: str | None, *, user: str | None) -> dict[str, Any] | None:
    """Check the ``challenge`` form field without consuming its nonce.

    Malformed -> :class:`ChallengeError` (422); signature -> 403; another user -> 403;
    expired -> 410; nonce already used -> 409.
    """
    if text is None or text == "":
        return None
    from lipauth.challenge import Challenge, verify_challenge
    from lipauth.errors import ChallengeTamperedError

    try:
        data = json.loads(text)
        ch = Challenge.from_dict(data)
    except (json.JSONDecodeError, ChallengeTamperedError) as exc:
        raise ChallengeError(f"challenge form field is not valid challenge JSON ({exc}); send the 'challenge' object unchanged") from None
    verify_challenge(ch, key=st.challenge_key, subject=user)
    if st.store.nonce_used(ch.nonce):
        raise ChallengeReusedError(f"challenge {ch.nonce[:8]}... was already answered once; request a new challenge")
    return data


async def run_analysis(st: AppState, fn: Any, *args: Any) -> Any:
    try:
        return await st.pool.run(fn, *args)
    except OverloadedError:
        st.metrics.rejected.inc()
        raise
