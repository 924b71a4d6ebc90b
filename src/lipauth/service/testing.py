"""Start ``lipauth serve`` in a subprocess on a free loopback port (tests and benchmarks).

:func:`start_server` is the one place that starts the real service for end-to-end use
(``tests/test_browser.py``, ``benchmarks/bench_service.py``, ``tests/test_service_shutdown.py``):
a fresh data directory (its own SQLite store and keys), the server's output in a log file,
a wait until ``/v1/health`` answers, and SIGTERM on exit (then SIGKILL if it hangs).
Only the standard library is used, so importing this module loads no web framework.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PHRASE", "RunningServer", "free_port", "phrase_control", "start_server", "stop_server"]

#: (phase in the period, opening height, vowel width) of each syllable of the synthetic lip password
PHRASE = ((0.25, 0.9, 0.6), (0.62, 0.5, -0.8))


def phrase_control(n_frames: int, *, period_frames: int, start_frame: int = 0) -> tuple[Any, Any]:
    """Mouth opening in [0, 1] and width in [-1, 1] per frame of a repeating two-syllable phrase.

    The synthetic lip password of the end-to-end tests and benchmarks (feed it to
    :func:`lipauth.synth.make_talking_clip` as ``opening=``/``width=``). Periodic with
    ``period_frames``: frame ``k`` has phase ``((start_frame + k) % period_frames) /
    period_frames``; each syllable of :data:`PHRASE` is a Gaussian bump (sd 0.08 period)
    measured on the circle, so the signal is smooth across period boundaries and any take
    cut from it is a phase shift of any other.

    Returns
    -------
    opening, width : ndarray, shape (n_frames,), float64
    """
    import numpy as np

    u = ((start_frame + np.arange(n_frames)) % period_frames) / period_frames
    opening = np.zeros(n_frames)
    width = np.zeros(n_frames)
    for centre, height, vowel in PHRASE:
        d = np.minimum(np.abs(u - centre), 1.0 - np.abs(u - centre))
        bump = np.exp(-0.5 * (d / 0.08) ** 2)
        opening = np.maximum(opening, height * bump)
        width += vowel * bump
    return np.clip(opening, 0.0, 1.0), np.clip(width, -1.0, 1.0)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """A running ``lipauth serve``: ``base_url`` (no trailing slash), its process, data dir and log file."""

    base_url: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    #: https with a certificate the client does not verify (a test's self-signed one)
    tls: bool = False

    def urlopen(self, url: str, timeout: float = 10.0) -> Any:
        """``urllib.request.urlopen`` of ``url`` (without verifying the server's self-signed certificate)."""
        return urllib.request.urlopen(url, timeout=timeout, context=_unverified() if self.tls else None)

    def log_tail(self, n_chars: int = 3000) -> str:
        """The last ``n_chars`` characters of the server's output."""
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def page_headers(self) -> dict[str, str]:
        """Headers of a request as the page sends it: its credential and its ``Origin`` (the credential needs both)."""
        return {"X-API-Key": self.page_key(), "Origin": self.base_url}

    def page_key(self) -> str:
        """The in-memory credential the server gave its page (loopback host, no ``--no-page-key``).

        It only works with the page's ``Origin`` (see :meth:`page_headers`) and only on the
        page's routes (challenges, enrol, verify, liveness, sync).

        Raises
        ------
        RuntimeError
            The page carries no key.
        """
        with self.urlopen(f"{self.base_url}/") as r:
            page = r.read().decode()
        m = re.search(r'name="lipauth-api-key" content="([^"]+)"', page)
        if not m:
            raise RuntimeError("the page on loopback carries no API key (lipauth serve --no-page-key?)")
        return m.group(1)


def _unverified() -> Any:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0, context=_unverified() if url.startswith("https:") else None) as r:
            return r.status == 200 and json.loads(r.read()).get("status") == "ok"
    except (OSError, ValueError, urllib.error.HTTPError):
        return False


def stop_server(process: subprocess.Popen, *, timeout_s: float = 20.0) -> float:
    """SIGTERM ``process``, wait up to ``timeout_s`` seconds, then SIGKILL; returns the seconds it took."""
    t0 = time.monotonic()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return time.monotonic() - t0


@contextmanager
def start_server(
    data_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    startup_timeout_s: float = 90.0,
    stop_timeout_s: float = 20.0,
    certfile: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
) -> Iterator[RunningServer]:
    """Run ``python -m lipauth.cli serve`` on a free loopback port until the block ends.

    Parameters
    ----------
    data_dir : path
        ``LIPAUTH_DATA_DIR`` of the server (created if missing); the log is ``server.log`` there.
        ``LIPAUTH_STORE_URL`` is removed from the environment, so the store is SQLite in it.
    workers : int
        Analysis processes (``--workers``).
    env : mapping, optional
        Extra environment variables (e.g. ``LIPAUTH_RATE_PER_MIN``).
    args : tuple of str
        Extra ``lipauth serve`` arguments.
    startup_timeout_s : float
        Longest wait for ``/v1/health``, seconds.
    stop_timeout_s : float
        Longest wait after SIGTERM before SIGKILL, seconds.
    certfile, keyfile : path, optional
        Serve https (``--certfile``/``--keyfile``); ``base_url`` is then ``https://...`` and
        the health check does not verify the (self-signed) certificate.

    Yields
    ------
    RunningServer

    Raises
    ------
    RuntimeError
        The server exited or did not answer in time (the message holds its log tail).
    """
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {**os.environ, "LIPAUTH_DATA_DIR": str(data), "LIPAUTH_WORKERS": str(workers), "GLOG_minloglevel": "2",
                **(env or {})}
    full_env.pop("LIPAUTH_STORE_URL", None)
    log_path = data / "server.log"
    tls = ("--certfile", str(certfile), "--keyfile", str(keyfile)) if certfile and keyfile else ()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lipauth.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), *tls, *args],
            env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
    scheme = "https" if tls else "http"
    server = RunningServer(base_url=f"{scheme}://127.0.0.1:{port}", process=proc, data_dir=data, log_path=log_path,
                           tls=bool(tls))
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _health_ok(f"{server.base_url}/v1/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"lipauth serve exited with {proc.returncode}: {server.log_tail(2000)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lipauth serve did not answer /v1/health in {startup_timeout_s:g} s: {server.log_tail(2000)}")
            time.sleep(0.3)
        yield server
    finally:
        stop_server(proc, timeout_s=stop_timeout_s)
