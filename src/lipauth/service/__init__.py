"""The HTTP service: ``create_app(settings) -> FastAPI`` (``lipauth serve`` runs it with uvicorn).

Modules: ``settings`` (environment), ``models`` (request/response models), ``errors``
(the one LipAuthError -> HTTP mapping), ``security`` (API keys, rate limits), ``uploads``
(streamed size limit, temp files), ``pool`` (process pool), ``work`` (what runs in a
worker), ``metrics``, ``routes/`` (one module per resource). The contract is in
``API.md`` next to this file.

Importing this package loads FastAPI; ``import lipauth`` does not import it.
"""

from __future__ import annotations

from lipauth.service.app import create_app
from lipauth.service.settings import Settings

__all__ = ["create_app", "Settings"]
