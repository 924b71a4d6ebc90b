"""The one exception handler: a :class:`LipAuthError` subclass -> HTTP status, stable ``detail`` and ``code``.

The library's messages name files and values; an HTTP answer must not leak them and must
stay the same from one release to the next, so each error class maps to a fixed sentence
(the table below, also in ``API.md``). The library message is logged at info level.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lipauth import errors as E

__all__ = ["ERRORS", "error_body", "install_error_handlers", "status_of"]

log = logging.getLogger("lipauth.service")

#: error class -> (status, code, detail); the nearest class in the MRO wins
ERRORS: dict[type[E.LipAuthError], tuple[int, str, str]] = {
    E.EmptyMediaError: (400, "EMPTY_UPLOAD", "uploaded clip is empty"),
    E.UnauthorizedError: (401, "UNAUTHORIZED", "missing or invalid API key"),
    E.ChallengeTamperedError: (403, "CHALLENGE_TAMPERED", "challenge signature does not match its content"),
    E.ChallengeSubjectError: (403, "CHALLENGE_OTHER_USER", "challenge was issued for another user"),
    E.UnknownUserError: (404, "UNKNOWN_USER", "user is not enrolled"),
    E.ChallengeReusedError: (409, "CHALLENGE_REUSED", "challenge was already used"),
    E.UserExistsError: (409, "USER_EXISTS", "user already has a password with this label"),
    E.ChallengeExpiredError: (410, "CHALLENGE_EXPIRED", "challenge has expired"),
    E.UploadTooLargeError: (413, "UPLOAD_TOO_LARGE", "upload is larger than max_upload_bytes"),
    E.ClipTooLongError: (413, "CLIP_TOO_LONG", "clip is longer than max_clip_s"),
    E.UnsupportedMediaTypeError: (415, "UNSUPPORTED_MEDIA_TYPE", "clip must be a video (video/* or application/octet-stream)"),
    E.InputError: (422, "CORRUPT_MEDIA", "clip is not a readable video (not media, truncated or corrupt)"),
    E.MediaNotFoundError: (422, "CORRUPT_MEDIA", "clip is not a readable video (not media, truncated or corrupt)"),
    E.CorruptMediaError: (422, "CORRUPT_MEDIA", "clip is not a readable video (not media, truncated or corrupt)"),
    E.UnsupportedCodecError: (422, "CORRUPT_MEDIA", "clip is not a readable video (not media, truncated or corrupt)"),
    E.NoFramesError: (422, "CORRUPT_MEDIA", "clip is not a readable video (not media, truncated or corrupt)"),
    E.NoVideoStreamError: (422, "NO_VIDEO_STREAM", "clip has no video stream"),
    E.StillImageError: (422, "STILL_IMAGE", "clip is a still image, not a video"),
    E.NoAudioStreamError: (422, "NO_AUDIO", "clip has no audio stream"),
    E.SilentAudioError: (422, "SILENT_AUDIO", "no sound was heard in the clip (is the microphone muted?)"),
    E.TooShortError: (422, "CLIP_TOO_SHORT", "clip is too short"),
    E.NoFaceError: (422, "NO_FACE", "no face found in the clip"),
    E.InsufficientDataError: (422, "TOO_FEW_FACE_FRAMES", "too few frames with a usable face"),
    E.SensorDataError: (422, "BAD_SENSOR_DATA", "sensors is not valid device-motion JSON"),
    E.ChallengeError: (422, "BAD_CHALLENGE", "challenge is not valid challenge JSON"),
    E.EnrolmentError: (422, "BAD_ENROLMENT", "enrolment takes are unusable (too little lip motion)"),
    E.InconsistentTakesError: (422, "INCONSISTENT_TAKES", "enrolment takes do not match each other"),
    E.ConfigError: (422, "INVALID_REQUEST", "request is missing a field or has a malformed one"),
    E.RateLimitedError: (429, "RATE_LIMITED", "too many requests; retry later"),
    E.LipAuthError: (500, "INTERNAL_ERROR", "internal error"),
    E.AnalysisFailedError: (500, "ANALYSIS_FAILED", "analysis failed; retry the request"),
    E.ServiceError: (500, "INTERNAL_ERROR", "internal error"),
    E.StoreError: (500, "INTERNAL_ERROR", "internal error"),
    E.OverloadedError: (503, "OVERLOADED", "server is busy; retry later"),
    E.ShuttingDownError: (503, "SHUTTING_DOWN", "server is shutting down; retry later"),
    E.StoreUnavailableError: (503, "STORE_UNAVAILABLE", "store is unavailable; retry later"),
    E.AnalysisTimeoutError: (504, "ANALYSIS_TIMEOUT", "analysis took too long"),
}


ERRORS[E.UnsupportedImageTypeError] = (415, "UNSUPPORTED_MEDIA_TYPE", "frame must be a picture (image/* or application/octet-stream)")
ERRORS[E.NotAnImageError] = (422, "NOT_AN_IMAGE", "frame is not a readable JPEG or PNG picture")
ERRORS[E.TooFewTakesError] = (422, "TOO_FEW_TAKES", "enrolment needs at least 3 clips")
ERRORS[E.TooManyTakesError] = (422, "TOO_MANY_TAKES", "one enrolment takes at most 10 clips")
ERRORS[E.BadUserNameError] = (422, "BAD_USER_NAME", "user name must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
ERRORS[E.BadLabelError] = (422, "BAD_LABEL", "password label must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
ERRORS[E.FrameTooLargeError] = (413, "FRAME_TOO_LARGE", "video frames are larger than max_frame_pixels, or too many to decode")
ERRORS[E.ForbiddenError] = (403, "FORBIDDEN", "this credential may not use this route")
ERRORS[E.HostNotAllowedError] = (403, "HOST_NOT_ALLOWED", "request Host or Origin is not one this service serves")
#: a challenge whose signature is fine but whose JSON cannot be parsed is "malformed"
ERRORS_BY_CODE = {code: (status, detail) for status, code, detail in ERRORS.values()}


def status_of(exc: E.LipAuthError) -> tuple[int, str, str]:
    """``(status, code, detail)`` of an error: the entry of the nearest class in its MRO."""
    for cls in type(exc).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]  # type: ignore[index]
    return ERRORS[E.LipAuthError]


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"detail": detail, "code": code}


def _retry_headers(exc: Exception) -> dict[str, str]:
    retry = getattr(exc, "retry_after_s", None)
    if retry is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(float(retry))))}


async def _lipauth_error(request: Request, exc: E.LipAuthError) -> JSONResponse:
    status, code, detail = status_of(exc)
    (log.warning if status >= 500 else log.info)("%s %s -> %d %s: %s", request.method, request.url.path, status, code, exc)
    return JSONResponse(error_body(code, detail), status_code=status, headers=_retry_headers(exc))


_HTTP_CODES = {
    # the form parser's own refusals (malformed multipart, a form field over 1 MB)
    400: ("MALFORMED_REQUEST", "request body is not a well-formed form, or a form field is larger than 1 MB"),
    404: ("NOT_FOUND", "no such route"),
    405: ("METHOD_NOT_ALLOWED", "method not allowed on this route"),
}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, detail = _HTTP_CODES.get(exc.status_code, ("HTTP_ERROR", "request refused"))
    log.info("%s %s -> %d %s: %s", request.method, request.url.path, exc.status_code, code, exc.detail)
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 ``INVALID_REQUEST`` with ``fields``: the names of the missing or malformed fields (e.g. ``["clip"]``)."""
    where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()[:3])
    log.info("%s %s -> 422 INVALID_REQUEST: %s", request.method, request.url.path, where)
    status, detail = ERRORS_BY_CODE["INVALID_REQUEST"]
    fields: list[str] = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":  # loc is ("body", <character position>): the body is at fault
            loc = []
        else:
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        name = ".".join(loc) or "body"
        if name not in fields:
            fields.append(name)
    return JSONResponse({**error_body("INVALID_REQUEST", detail), "fields": fields}, status_code=status)


#: the answer to any exception no other handler knows (a bug): a stable code, no details
INTERNAL_ERROR = (500, "INTERNAL_ERROR", "internal error")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Catch-all: any other exception is a JSON 500 ``INTERNAL_ERROR`` (the traceback goes to the log only)."""
    log.error("%s %s -> 500 INTERNAL_ERROR: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    status, code, detail = INTERNAL_ERROR
    return JSONResponse(error_body(code, detail), status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: :class:`LipAuthError` (the table), route/method errors, request validation,
    and a catch-all for every other exception (JSON 500 ``INTERNAL_ERROR``, never a plain-text traceback)."""
    app.add_exception_handler(E.LipAuthError, _lipauth_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries (with an example body) for the given statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        examples = {code: {"value": error_body(code, detail)} for st, code, detail in ERRORS.values() if st == status}
        if status == 401:
            examples = {"UNAUTHORIZED": {"value": error_body("UNAUTHORIZED", "missing or invalid API key")}}
        out[status] = {"description": f"error {status}", "content": {"application/json": {"examples": examples}}}
    return out
