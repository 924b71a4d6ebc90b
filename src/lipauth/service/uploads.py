"""Uploads: a body-size limit enforced while the request streams in, and temp files per request.

:class:`BodyLimitMiddleware` refuses a request whose ``Content-Length`` is over the limit
before reading it, and counts the bytes of every other request as they arrive, answering
413 as soon as the count passes the limit (the multipart parser spools files to disk, so a
large upload is never held in memory whole). :func:`save_upload` copies one part to a
temporary file that :class:`TempFiles` deletes when the request ends: no raw video is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import UploadFile

from lipauth.errors import EmptyMediaError, UnsupportedImageTypeError, UnsupportedMediaTypeError, UploadTooLargeError
from lipauth.service.errors import error_body, status_of

__all__ = ["BodyLimitMiddleware", "save_upload", "temp_dir", "ALLOWED_TYPES", "IMAGE_TYPES"]

#: content types accepted for a clip (browsers send video/webm or video/mp4; curl sends octet-stream)
ALLOWED_TYPES = ("video/", "application/octet-stream")
#: content types accepted for a picture of the live preview (``POST /v1/framing``)
IMAGE_TYPES = ("image/", "application/octet-stream")
#: room for the form fields and multipart boundaries of one request
FORM_OVERHEAD_BYTES = 256 * 1024
#: most clips one enrolment request may carry
MAX_ENROL_CLIPS = 10


class BodyLimitMiddleware:
    """ASGI middleware: 413 ``UPLOAD_TOO_LARGE`` when a request body passes its limit.

    The limit is ``max_upload_bytes`` per clip plus :data:`FORM_OVERHEAD_BYTES` (times
    :data:`MAX_ENROL_CLIPS` clips on enrolment routes).
    """

    def __init__(self, app: Any, *, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = int(max_upload_bytes)

    def limit_for(self, path: str) -> int:
        clips = MAX_ENROL_CLIPS if path.endswith("/enrolments") else 1
        return clips * self.max_upload_bytes + FORM_OVERHEAD_BYTES

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_413(send)
            return
        seen = 0
        over = False
        started = False

        async def counted_receive() -> dict:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise UploadTooLargeError(f"request body passed {limit} bytes")
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if over:  # the app answered the aborted parse: replace that answer with ours
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except UploadTooLargeError:
            over = True
        if over and not started:
            await _send_413(send)


async def _send_413(send: Any) -> None:
    status, code, detail = status_of(UploadTooLargeError("too large"))
    body = json.dumps(error_body(code, detail)).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def temp_dir() -> Iterator[str]:
    """A private temporary directory removed (with every upload in it) on exit."""
    path = tempfile.mkdtemp(prefix="lipauth-upload-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def check_upload_type(upload: UploadFile, allowed: tuple[str, ...] = ALLOWED_TYPES) -> None:
    """:class:`UnsupportedMediaTypeError` (:class:`UnsupportedImageTypeError` for a picture) when the
    upload's content type is not one of ``allowed``."""
    ctype = (upload.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if not ctype.startswith(allowed):
        error = UnsupportedImageTypeError if allowed == IMAGE_TYPES else UnsupportedMediaTypeError
        raise error(f"{upload.filename or 'upload'}: content type {ctype!r}; send one of {', '.join(allowed)}")


def save_upload(upload: UploadFile, directory: str, *, max_bytes: int, index: int = 0,
                allowed: tuple[str, ...] = ALLOWED_TYPES) -> str:
    """Copy an upload to ``directory`` (checked: content type in ``allowed``, not empty, at most
    ``max_bytes``); return its path."""
    check_upload_type(upload, allowed)
    suffix = os.path.splitext(upload.filename or "")[1][:8] or ".bin"
    path = os.path.join(directory, f"clip{index}{suffix}")
    n = 0
    src = upload.file
    src.seek(0)
    with open(path, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
            if n > max_bytes:
                raise UploadTooLargeError(f"{upload.filename or 'clip'}: more than {max_bytes} bytes")
            out.write(chunk)
    if n == 0:
        raise EmptyMediaError(f"{upload.filename or 'clip'}: uploaded file is empty (0 bytes)")
    return path
