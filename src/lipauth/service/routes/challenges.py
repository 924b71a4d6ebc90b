"""``POST /v1/challenges``: a signed prompt schedule, optionally bound to a user."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from lipauth.service.errors import error_responses
from lipauth.service.models import ChallengeIn, ChallengeOut
from lipauth.service.routes._common import state_of
from lipauth.service.security import check_user_name, require_key

router = APIRouter(tags=["challenges"])


@router.post("/v1/challenges", status_code=201, response_model=ChallengeOut, summary="New signed challenge",
             responses=error_responses(401, 422, 429))
def new_challenge(body: ChallengeIn, request: Request, _key: str = Depends(require_key)) -> JSONResponse:
    """A random blow or speech schedule, signed, expiring, single use; bound to ``user`` when given."""
    from lipauth.challenge import new_challenge as make

    st = state_of(request)
    if body.user:
        check_user_name(body.user)
        st.user_rate.hit("user:" + body.user)
    ch = make(body.kind, key=st.challenge_key, ttl_s=st.settings.challenge_ttl_s, subject=body.user)
    d = ch.to_dict()
    return JSONResponse({"challenge": d, "windows": d["windows"], "duration_s": d["duration_s"], "expires_at": d["expires_at"]},
                        status_code=201)
