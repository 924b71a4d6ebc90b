"""The page, health, config and metrics (no API key)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from lipauth import __version__
from lipauth.service.metrics import CONTENT_TYPE_LATEST
from lipauth.service.models import ConfigOut, HealthOut
from lipauth.service.routes._common import ENROL_TAKES, TAKE_S, state_of

router = APIRouter()
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
PAGE_KEY_PLACEHOLDER = "__LIPAUTH_PAGE_KEY__"
_NO_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>lipauth</title></head>
<body><h1>lipauth</h1><p>The page is not built yet (service/static/index.html does not exist).
The API works: see <a href="/docs">/docs</a>.</p></body></html>"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request) -> HTMLResponse:
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return HTMLResponse(_NO_PAGE)
    html = index.read_text(encoding="utf-8").replace(PAGE_KEY_PLACEHOLDER, state_of(request).settings.page_key)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def static_files() -> StaticFiles:
    """``/static/...``: the rest of ``service/static/`` (mounted by the app)."""
    return StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.get("/v1/health", response_model=HealthOut, tags=["system"], summary="Liveness of the service and its store")
def health(request: Request) -> dict:
    st = state_of(request)
    st.store.api_keys()  # a read: raises StoreUnavailableError (503) when the store is down
    return {"status": "ok", "version": __version__, "store": "ok"}


@router.get("/v1/config", response_model=ConfigOut, tags=["system"], summary="What a client needs to record")
def config(request: Request) -> dict:
    s = state_of(request).settings
    return {"version": __version__, "policy": list(s.policy), "challenge_kinds": ["blow", "speech"],
            "enrol_takes": ENROL_TAKES, "take_s": TAKE_S, "max_upload_bytes": s.max_upload_bytes, "max_clip_s": s.max_clip_s}


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"example": "lipauth_requests_total{...} 3.0"}}}})
def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
