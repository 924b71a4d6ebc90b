"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "MetricsMiddleware", "CONTENT_TYPE_LATEST"]


class Metrics:
    """Requests by route and status, latency, analyses in flight, 503 rejections."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lipauth_requests", "HTTP requests by route and status", ("method", "route", "status"),
                                registry=self.registry)
        self.latency = Histogram("lipauth_request_seconds", "HTTP request latency by route", ("method", "route"),
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60), registry=self.registry)
        self.in_flight = Gauge("lipauth_analyses_in_flight", "Analyses running or waiting for a worker", registry=self.registry)
        self.rejected = Counter("lipauth_overload_rejections", "Requests refused with 503 because the pool was full",
                                registry=self.registry)
        self.pool_rebuilds = Counter("lipauth_pool_rebuilds", "Analysis pools replaced after a crash or timeout",
                                     registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request by its route template (not the raw path)."""

    def __init__(self, app: Any, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("/static" if scope.get("path", "").startswith("/static") else "other")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, name, str(status[0])).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - t0)
