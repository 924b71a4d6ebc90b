"""The analysis pool: 503 + Retry-After beyond capacity, a crashing or hanging worker fails only its
request (500 / 504) and the server keeps answering (the pool is rebuilt).

The test hooks (header ``X-LipAuth-Test-Hook: crash | sleep=S``) work only because these
apps set ``Settings(test_hooks=True)``; the last test shows they are ignored otherwise.
"""

from __future__ import annotations

import base64
import threading
import time
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from password_synth import render_take

from lipauth.service import Settings, create_app
from lipauth.store import new_key

pytestmark = pytest.mark.slow
HOOK = "X-LipAuth-Test-Hook"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("pool")
    return Path(render_take("B", seed=9, path=str(d / "b.mp4")).path).read_bytes()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    d = tmp_path_factory.mktemp("poolsvc")
    s = Settings(data_dir=str(d), key=base64.b64encode(new_key()).decode(), workers=1, queue=0,
                 analysis_timeout_s=10.0, test_hooks=True, rate_per_min=10_000, user_rate_per_min=10_000)
    app = create_app(s, warm=True)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.headers["X-API-Key"] = app.state.lipauth.store.create_api_key("pool")
        c.app_state = app.state.lipauth
        yield c


def _verify(c, clip: bytes, hook: str = ""):
    headers = {HOOK: hook} if hook else {}
    return c.post("/v1/users/zoe/verifications", files={"clip": ("b.mp4", clip, "video/mp4")}, headers=headers)


def test_overload_gives_503_with_retry_after(client, clip) -> None:
    slow: dict = {}
    t = threading.Thread(target=lambda: slow.setdefault("r", _verify(client, clip, "sleep=2")))
    t.start()
    deadline = time.time() + 10
    while client.app_state.pool.in_flight == 0 and time.time() < deadline:
        time.sleep(0.02)
    r = _verify(client, clip)
    t.join()
    assert r.status_code == 503 and r.json() == {"detail": "server is busy; retry later", "code": "OVERLOADED"}
    assert int(r.headers["Retry-After"]) >= 1
    assert slow["r"].status_code == 200
    assert "lipauth_overload_rejections_total 1.0" in client.get("/metrics").text


def test_crashing_worker_fails_only_its_request(client, clip) -> None:
    rebuilds = client.app_state.pool.rebuilds
    r = _verify(client, clip, "crash")
    assert r.status_code == 500 and r.json() == {"detail": "analysis failed; retry the request", "code": "ANALYSIS_FAILED"}
    assert client.app_state.pool.rebuilds == rebuilds + 1
    r = _verify(client, clip)
    assert r.status_code == 200 and r.json()["reasons"] == ["PASSWORD:MISMATCH"]


def test_hanging_worker_times_out_and_is_replaced(client, clip) -> None:
    t0 = time.perf_counter()
    r = _verify(client, clip, "sleep=60")
    assert r.status_code == 504 and r.json() == {"detail": "analysis took too long", "code": "ANALYSIS_TIMEOUT"}
    assert time.perf_counter() - t0 < 25
    assert client.get("/v1/health").status_code == 200
    r = _verify(client, clip)
    assert r.status_code == 200 and not r.json()["accepted"]


def test_hooks_are_ignored_unless_enabled(tmp_path, clip) -> None:
    s = Settings(data_dir=str(tmp_path), key=base64.b64encode(new_key()).decode(), workers=1, test_hooks=False)
    app = create_app(s)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.headers["X-API-Key"] = app.state.lipauth.store.create_api_key("k")
        r = _verify(c, clip, "crash")
        assert r.status_code == 200 and app.state.lipauth.pool.rebuilds == 0
