"""Helpers the route modules share: state, form parsing, checks done before any store write, running analyses.

Every route module imports from here (and never from another route module or from the app).
"""

from __future__ import annotations

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
    from lipauth.errors import SensorDataError
    from lipauth.io.jsontext import loads_bounded

    parse_sensor_json(loads_bounded(text, what="sensors form field", error=SensorDataError))
    return text


def parse_oval(text: str | None) -> dict[str, float] | None:
    """Validate the ``oval`` form field (JSON ``{"cx", "cy", "rx", "ry"}``, fractions of the frame):
    422 ``INVALID_REQUEST`` naming ``oval`` when malformed; returns the four numbers or None."""
    if text is None or text == "":
        return None
    from fastapi.exceptions import RequestValidationError

    from lipauth.errors import ConfigError, LipAuthError
    from lipauth.io.jsontext import loads_bounded
    from lipauth.tracking.framing import Oval

    try:
        oval = Oval.from_dict(loads_bounded(text, what="oval form field", error=ConfigError))
    except LipAuthError:
        raise RequestValidationError([{"loc": ("body", "oval"), "msg": "not a valid oval", "type": "value_error"}]) from None
    return {"cx": float(oval.cx), "cy": float(oval.cy), "rx": float(oval.rx), "ry": float(oval.ry)}


def parse_challenge(st: AppState, text: str | None, *, user: str | None) -> dict[str, Any] | None:
    """Check the ``challenge`` form field without consuming its nonce.

    Malformed -> :class:`ChallengeError` (422); signature -> 403; another user -> 403;
    expired -> 410; nonce already used -> 409.
    """
    if text is None or text == "":
        return None
    from lipauth.challenge import Challenge, verify_challenge
    from lipauth.errors import ChallengeTamperedError
    from lipauth.io.jsontext import loads_bounded

    data = loads_bounded(text, what="challenge form field", error=ChallengeError)
    try:
        ch = Challenge.from_dict(data)
    except ChallengeTamperedError as exc:
        raise ChallengeError(f"challenge form field is not valid challenge JSON ({exc}); send the 'challenge' object unchanged") from None
    verify_challenge(ch, key=st.challenge_key, subject=user)
    if st.store.nonce_used(ch.nonce):
        raise ChallengeReusedError(f"challenge {ch.nonce[:8]}... was already answered once; request a new challenge")
    return data


async def single_parts(request: Request, *names: str) -> None:
    """422 ``INVALID_REQUEST`` naming the field when a form field that takes one value was sent more than once
    (two ``clip`` parts would otherwise silently analyse the last)."""
    from fastapi.exceptions import RequestValidationError

    form = await request.form()
    twice = [n for n in names if len(form.getlist(n)) > 1]
    if twice:
        raise RequestValidationError([{"loc": ("body", n), "msg": "sent more than once", "type": "duplicate"} for n in twice])


async def run_analysis(st: AppState, fn: Any, *args: Any) -> Any:
    try:
        return await st.pool.run(fn, *args)
    except OverloadedError:
        st.metrics.rejected.inc()
        raise
