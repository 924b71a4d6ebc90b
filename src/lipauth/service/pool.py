"""The analysis process pool: off the event loop, bounded, survives crashing and hanging workers.

- A :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes (``spawn``
  context: no fork of a threaded server), each initialised once by
  :func:`lipauth.service.work.init_worker` (store opened, MediaPipe loaded).
- At most ``workers + queue`` requests are admitted (running or waiting); the next one
  gets :class:`OverloadedError` at once (503 + ``Retry-After``) instead of piling up.
- A worker that dies (``BrokenProcessPool``) fails its request with
  :class:`AnalysisFailedError`; an analysis longer than ``timeout_s`` fails with
  :class:`AnalysisTimeoutError`. Either way the pool is replaced by a fresh one (the old
  processes are killed), so the server stays up.
- :meth:`AnalysisPool.stop` (called from the server's SIGTERM / Ctrl-C handler) kills the
  workers at once: requests still running fail with :class:`ShuttingDownError` (503)
  instead of holding the shutdown for as long as their analyses take, and nothing new is
  admitted or started.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from lipauth.errors import (
    AnalysisFailedError,
    AnalysisTimeoutError,
    OverloadedError,
    ShuttingDownError,
)
from lipauth.service import work
from lipauth.service.settings import WorkerConfig

__all__ = ["AnalysisPool"]

log = logging.getLogger("lipauth.service")


class AnalysisPool:
    """Runs analysis functions of :mod:`lipauth.service.work` in worker processes.

    Parameters
    ----------
    config : WorkerConfig
    workers : int
        Processes (default in the service: the cores).
    queue : int
        Requests that may wait for a worker beyond the running ones.
    timeout_s : float
        Longest analysis, seconds.
    on_change : callable ``(in_flight: int)``, optional
        Called when the number of admitted requests changes (metrics).
    """

    def __init__(
        self,
        config: WorkerConfig,
        *,
        workers: int,
        queue: int,
        timeout_s: float,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.workers = int(workers)
        self.capacity = int(workers) + int(queue)
        self.timeout_s = float(timeout_s)
        self.on_change = on_change
        self.in_flight = 0
        self.rebuilds = 0
        self._mean_s = 2.0  # running mean of analysis time, for Retry-After
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=work.init_worker,
            initargs=(self.config, os.getpid()),  # workers exit when this process dies (kill -9 included)
        )

    def start(self) -> None:
        """Create the pool and start warming every worker (does not wait)."""
        with self._lock:
            if self._stopped:
                raise ShuttingDownError("the service is shutting down; its analysis pool was stopped")
            if self._executor is None:
                self._executor = self._new_executor()
                for _ in range(self.workers):
                    self._executor.submit(work.ping)

    def warm(self, timeout_s: float = 120.0) -> None:
        """Block until every worker has started and loaded its models."""
        self.start()
        assert self._executor is not None
        futures = [self._executor.submit(work.ping) for _ in range(self.workers)]
        for f in futures:
            f.result(timeout=timeout_s)

    def stop(self) -> None:
        """Kill every worker now and admit nothing more (safe to call from a signal handler).

        Requests waiting on a worker fail with :class:`ShuttingDownError`; :meth:`close`
        then reaps the processes.
        """
        self._stopped = True
        ex = self._executor
        if ex is not None:
            _kill(ex)

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` or :meth:`close` was called."""
        return self._stopped

    def close(self) -> None:
        """Kill the workers and wait until they are reaped (the server's shutdown)."""
        self._stopped = True
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            _kill(ex)
            ex.shutdown(wait=True, cancel_futures=True)

    def _rebuild(self, generation: int, why: str) -> None:
        """Replace the pool (once per failure, even when several requests saw it)."""
        with self._lock:
            if generation != self._generation or self._stopped:
                return
            old = self._executor
            self._generation += 1
            self.rebuilds += 1
            self._executor = self._new_executor()
        log.warning("analysis pool rebuilt (%s)", why)
        if old is not None:
            _kill(old)
            old.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ running

    def retry_after_s(self) -> float:
        """Rough wait until a slot frees: the queue's work spread over the workers."""
        return float(max(1, math.ceil(self._mean_s * max(1, self.in_flight) / self.workers)))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a worker; 503/500/504 errors as described in the module docstring."""
        if self._stopped:
            raise ShuttingDownError("the service is shutting down; retry on another instance or after its restart",
                                    retry_after_s=5.0)
        if self.in_flight >= self.capacity:
            raise OverloadedError(f"{self.in_flight} analyses running or waiting (capacity {self.capacity}); retry later",
                                  retry_after_s=self.retry_after_s())
        self.in_flight += 1
        self._changed()
        t0 = time.perf_counter()
        try:
            self.start()
            with self._lock:
                ex, generation = self._executor, self._generation
            assert ex is not None
            try:
                fut = ex.submit(fn, *args)
            except RuntimeError as exc:  # BrokenProcessPool, or submit after shutdown (the server is stopping)
                if self._stopped:
                    raise ShuttingDownError("the service is shutting down; retry later", retry_after_s=5.0) from None
                if not isinstance(exc, BrokenProcessPool):
                    raise
                self._rebuild(generation, "broken before submit")
                raise AnalysisFailedError("the analysis pool was broken; it was rebuilt, retry the request") from None
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(fut), timeout=self.timeout_s)
            except TimeoutError:
                fut.cancel()
                self._rebuild(generation, f"analysis over {self.timeout_s:g} s")
                raise AnalysisTimeoutError(f"analysis took more than {self.timeout_s:g} s; its worker was replaced") from None
            except BrokenProcessPool:
                if self._stopped:
                    raise ShuttingDownError("the service stopped while this analysis ran; retry later", retry_after_s=5.0) from None
                self._rebuild(generation, "a worker died")
                raise AnalysisFailedError("an analysis worker died; the pool was rebuilt, retry the request") from None
            dt = time.perf_counter() - t0
            self._mean_s = 0.8 * self._mean_s + 0.2 * dt
            return result
        finally:
            self.in_flight -= 1
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.in_flight)


def _kill(executor: ProcessPoolExecutor) -> None:
    """Kill the executor's processes (the standard library has no public call before 3.14)."""
    procs = getattr(executor, "_processes", None) or {}
    for p in list(procs.values()):
        if p.is_alive():
            p.kill()
