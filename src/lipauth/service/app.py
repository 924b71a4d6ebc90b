"""The app factory: settings, store, API keys, rate limits, the analysis pool, routes, handlers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from lipauth import __version__
from lipauth.service.errors import install_error_handlers
from lipauth.service.metrics import Metrics, MetricsMiddleware
from lipauth.service.pool import AnalysisPool
from lipauth.service.security import HostGuardMiddleware, HostRule, KeyChecker, KeyGateMiddleware, RateLimiter
from lipauth.service.settings import Settings
from lipauth.service.state import AppState
from lipauth.service.uploads import BodyLimitMiddleware

__all__ = ["create_app", "AppState", "serve_app"]

log = logging.getLogger("lipauth.service")

DESCRIPTION = """Liveness and lip-password authentication over HTTP.

Send `X-API-Key` on every `/v1` route except health and config. Clips are multipart
uploads (webm from browsers, mp4, ...). Errors are `{"detail": "<stable sentence>",
"code": "<UPPER_CASE>"}`; the table is in `lipauth/service/API.md`.
"""




def create_app(settings: Settings | None = None, *, warm: bool = False) -> FastAPI:
    """Build the FastAPI app.

    Parameters
    ----------
    settings : Settings, optional
        Default :meth:`Settings.from_env`.
    warm : bool
        Wait at start-up until every analysis worker has loaded its models (else they
        warm up in the background).

    Raises
    ------
    ConfigError
        A setting is invalid; StoreUnavailableError: the store cannot be opened.
    """
    from lipauth.store import KeyRing, Store

    s = settings or Settings.from_env()
    wc = s.worker_config()
    store = Store(wc.store_url, keyring=KeyRing(current=wc.template_key, others=wc.other_keys, source="service"))
    metrics = Metrics()
    pool = AnalysisPool(wc, workers=s.workers, queue=s.queue, timeout_s=s.analysis_timeout_s,
                        on_change=metrics.in_flight.set)
    state = AppState(settings=s, store=store, keys=KeyChecker(store, page_key=s.page_key),
                     key_rate=RateLimiter(s.rate_per_min), user_rate=RateLimiter(s.user_rate_per_min),
                     pool=pool, metrics=metrics, challenge_key=wc.challenge_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, pool.warm)
        else:
            pool.start()
        log.info("lipauth service ready: %d workers, queue %d, store %s", s.workers, s.queue, wc.store_url.split("://")[0])
        try:
            yield
        finally:
            pool.close()
            store.close()

    from fastapi_offline import FastAPIOffline  # /docs and /redoc from files in the wheel, not a CDN

    app = FastAPIOffline(title="lipauth", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.lipauth = state
    install_error_handlers(app)
    from lipauth.service.routes import analysis, challenges, system, users

    for module in (system, challenges, users, analysis):
        app.include_router(module.router)
    app.mount("/static", system.static_files(), name="static")
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=s.max_upload_bytes)
    app.add_middleware(KeyGateMiddleware, keys=state.keys)  # outside the body limit: 401 before any byte is read
    # outside the key gate: a request from a host or origin we do not serve (DNS rebinding) learns nothing
    app.add_middleware(HostGuardMiddleware, hosts=HostRule(s.allowed_hosts), cors_origins=s.cors_origins)
    if s.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(s.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["X-API-Key", "Content-Type"], expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def serve_app(
    app: FastAPI, *, host: str, port: int, graceful_s: int = 5, certfile: str | None = None, keyfile: str | None = None
) -> None:
    """Run ``app`` with uvicorn until SIGTERM / SIGINT (``lipauth serve``).

    On the first signal the analysis workers are killed at once (requests still running
    answer 503 ``SHUTTING_DOWN``), so the server stops in about a second instead of
    waiting for every running analysis; uvicorn's own graceful wait is capped at
    ``graceful_s`` seconds. A second Ctrl-C exits at once. With ``certfile`` and ``keyfile``
    (PEM) it serves https (uvicorn's TLS).
    """
    import signal

    import uvicorn

    pool: AnalysisPool = app.state.lipauth.pool

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig in (signal.SIGINT, signal.SIGTERM):
                pool.stop()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=graceful_s, ssl_certfile=certfile, ssl_keyfile=keyfile)
    _Server(config).run()
