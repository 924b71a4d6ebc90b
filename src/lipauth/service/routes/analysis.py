"""``POST /v1/liveness`` (challenge-response only), ``POST /v1/sync`` (lips vs voice) and
``POST /v1/framing`` (one picture of the live preview against the guide oval)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from lipauth.service import work
from lipauth.service.errors import error_responses
from lipauth.service.models import LivenessOut, PreviewFramingOut, SyncOut
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
from lipauth.service.uploads import IMAGE_TYPES, save_upload, temp_dir

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


#: largest picture ``POST /v1/framing`` takes (the page sends a 320-px JPEG of a few kB)
MAX_PICTURE_BYTES = 2 * 1024 * 1024


@router.post("/v1/framing", response_model=PreviewFramingOut, summary="Is the face in the oval? (live preview)",
             responses=error_responses(400, 401, 413, 415, 422, 429, 500, 503, 504))
async def framing(
    request: Request,
    frame: Annotated[UploadFile, File(description="One picture of the camera preview (JPEG or PNG).")],
    oval: Annotated[str | None, Form(description="JSON {cx, cy, rx, ry}: the guide oval in fractions of the frame.")] = None,
    _key: str = Depends(require_key),
) -> JSONResponse:
    """Before recording: is there a face, and which way should the person move to fill the oval?"""
    st = state_of(request)
    await single_parts(request, "frame", "oval")
    with temp_dir() as tmp:
        path = save_upload(frame, tmp, max_bytes=min(st.settings.max_upload_bytes, MAX_PICTURE_BYTES), allowed=IMAGE_TYPES)
        guide = parse_oval(oval)
        out = await run_analysis(st, work.framing, path, guide, test_hook(request))
    return JSONResponse(out)
