"""``/v1/users/{user}``: enrolments, verifications, delete."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from lipauth.errors import TooFewTakesError, TooManyTakesError
from lipauth.service import work
from lipauth.service.errors import error_responses
from lipauth.service.models import EnrolmentOut, VerificationOut
from lipauth.service.routes._common import (
    ANALYSIS_ERRORS,
    ENROL_TAKES,
    form_true,
    parse_challenge,
    parse_oval,
    parse_sensors,
    run_analysis,
    single_parts,
    state_of,
    test_hook,
)
from lipauth.service.security import check_label, check_user_name, require_key
from lipauth.service.uploads import MAX_ENROL_CLIPS, save_upload, temp_dir

router = APIRouter(tags=["users"])


@router.post("/v1/users/{user}/enrolments", status_code=201, response_model=EnrolmentOut, summary="Enrol a lip password",
             responses=error_responses(*ANALYSIS_ERRORS))
async def enrol(
    user: str,
    request: Request,
    clips: Annotated[list[UploadFile], File(description="3 or more takes of the same lip movement (webm, mp4, ...).")],
    label: Annotated[str, Form(max_length=200, description="Password label (a user may have several): 1 to 64 of A-Z a-z 0-9 . _ @ -.")] = "default",
    oval: Annotated[str | None, Form(description="JSON {cx, cy, rx, ry}: the guide oval in fractions of the frame; adds 'framing'.")] = None,
    _key: str = Depends(require_key),
) -> JSONResponse:
    """Enrol ``user`` (or add a password ``label``) from 3 or more takes; with ``oval``, each take's framing."""
    st = state_of(request)
    check_user_name(user)
    await single_parts(request, "label", "oval")
    label = check_label(label or "default")
    st.user_rate.hit("user:" + user)
    if len(clips) < ENROL_TAKES:
        raise TooFewTakesError(f"{len(clips)} clips; enrolment needs at least {ENROL_TAKES}")
    if len(clips) > MAX_ENROL_CLIPS:
        raise TooManyTakesError(f"{len(clips)} clips; one enrolment takes at most {MAX_ENROL_CLIPS}")
    with temp_dir() as tmp:
        paths = [save_upload(c, tmp, max_bytes=st.settings.max_upload_bytes, index=i) for i, c in enumerate(clips)]
        guide = parse_oval(oval)
        out = await run_analysis(st, work.enrol, user, paths, label, test_hook(request), guide)
    return JSONResponse(out, status_code=201)


@router.post("/v1/users/{user}/verifications", response_model=VerificationOut, summary="Verify a lip password",
             responses=error_responses(*ANALYSIS_ERRORS))
async def verify(
    user: str,
    request: Request,
    clip: Annotated[UploadFile, File(description="The recorded attempt (webm, mp4, ...).")],
    challenge: Annotated[str | None, Form(description="JSON text of the challenge object from POST /v1/challenges.")] = None,
    sensors: Annotated[str | None, Form(description="JSON list of DeviceMotion samples {t_ms, ax, ay, az, alpha, beta, gamma}.")] = None,
    plot: Annotated[str | None, Form(description="'true' adds timeline_png (base64 PNG).")] = None,
    oval: Annotated[str | None, Form(description="JSON {cx, cy, rx, ry}: the guide oval in fractions of the frame; adds 'framing'.")] = None,
    label: Annotated[str | None, Form(max_length=200, description="Only this password label (default: any of the user's passwords).")] = None,
    _key: str = Depends(require_key),
) -> JSONResponse:
    """Verify ``clip`` as ``user``'s lip password (and the challenge's check when one is sent).

    An unknown user gets the same answer as a wrong password. A lock-out is a 200 answer
    with reasons ``["LOCKOUT:LOCKED"]``, ``retry_after_s`` and a ``Retry-After`` header.
    """
    st = state_of(request)
    check_user_name(user)
    await single_parts(request, "clip", "challenge", "sensors", "plot", "oval", "label")
    wanted = check_label(label) if label else None
    st.user_rate.hit("user:" + user)
    with temp_dir() as tmp:
        path = save_upload(clip, tmp, max_bytes=st.settings.max_upload_bytes)
        guide = parse_oval(oval)
        sensor_text = parse_sensors(sensors)
        ch = parse_challenge(st, challenge, user=user)
        out = await run_analysis(st, work.verify, user, path, ch, sensor_text, form_true(plot), test_hook(request), guide, wanted)
    headers = {"Retry-After": str(max(1, math.ceil(out["retry_after_s"])))} if out.get("retry_after_s") else None
    return JSONResponse(out, headers=headers)


@router.delete("/v1/users/{user}", status_code=204, summary="Delete a user and their templates",
               responses=error_responses(401, 404, 422, 429))
def delete_user(user: str, request: Request, _key: str = Depends(require_key)) -> Response:
    st = state_of(request)
    check_user_name(user)
    st.store.delete_user(user)
    return Response(status_code=204)
