"""``POST /v1/liveness`` (challenge-response only) and ``POST /v1/sync`` (lips vs voice)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from lipauth.service import work
from lipauth.service.errors import error_responses
from lipauth.service.models import LivenessOut, SyncOut
from lipauth.service.routes._common import (
    ANALYSIS_ERRORS,
    form_true,
    parse_challenge,
    parse_oval,
    parse_sensors,
    run_analysis,
    single_parts,
    state_of,
    test_hook,
)
from lipauth.service.security import require_key
from lipauth.service.uploads import save_upload, temp_dir

router = APIRouter(tags=["liveness"])


@router.post("/v1/liveness", response_model=LivenessOut, summary="Check an answer to a challenge",
             responses=error_responses(*ANALYSIS_ERRORS))
async def liveness(
    request: Request,
    clip: Annotated[UploadFile, File(description="The recorded answer, with its audio.")],
    challenge: Annotated[str, Form(description="JSON text of the challenge object from POST /v1/challenges.")],
    sensors: Annotated[str | None, Form(description="JSON list of DeviceMotion samples.")] = None,
    plot: Annotated[str | None, Form(description="'true' adds timeline_png.")] = None,
    oval: Annotated[str | None, Form(description="JSON {cx, cy, rx, ry}: the guide oval in fractions of the frame; adds 'framing'.")] = None,
    _key: str = Depends(require_key),
) -> JSONResponse:
    """Blow or timed-speech answer to a signed challenge (+ device motion); the nonce is used once."""
    st = state_of(request)
    await single_parts(request, "clip", "challenge", "sensors", "plot", "oval")
    with temp_dir() as tmp:
        path = save_upload(clip, tmp, max_bytes=st.settings.max_upload_bytes)
        guide = parse_oval(oval)
        sensor_text = parse_sensors(sensors)
        ch = parse_challenge(st, challenge, user="")  # a challenge bound to a user is answered on their verification
        out = await run_analysis(st, work.liveness, path, ch, sensor_text, form_true(plot), test_hook(request), guide)
    return JSONResponse(out)


@router.post("/v1/sync", response_model=SyncOut, summary="Do the lips move with the voice?",
             responses=error_responses(400, 401, 413, 415, 422, 429, 500, 503, 504))
async def sync(
    request: Request,
    clip: Annotated[UploadFile, File(description="A clip with audio.")],
    plot: Annotated[str | None, Form(description="'true' adds timeline_png.")] = None,
    _key: str = Depends(require_key),
) -> JSONResponse:
    """Audio-visual synchrony: offset, confidence and score of lips vs voice."""
    st = state_of(request)
    await single_parts(request, "clip", "plot")
    with temp_dir() as tmp:
        path = save_upload(clip, tmp, max_bytes=st.settings.max_upload_bytes)
        out = await run_analysis(st, work.sync, path, form_true(plot), test_hook(request))
    return JSONResponse(out)
