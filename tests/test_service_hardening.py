"""Issue 18 (hardening) over HTTP: each test fails on e352d73 and passes now.

- unexpected exceptions are a JSON 500 with a stable code; JSON nested 1000 deep is a 422;
- frames larger than the limit are refused from the stream header, fast;
- the page's credential is scoped (enrol/verify/liveness/sync, from the page's origin) and
  Host/Origin are checked on every state-changing request and on the page;
- a failed verify tells nothing about whether the name is enrolled: same fields, same
  values, same timing (50 unknown vs 50 enrolled, medians and a Mann-Whitney test);
- bad labels, duplicated form parts, malformed forms get documented error codes.

One app (one analysis worker) serves the module; clips come from ``lipauth.synth``.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import time
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from password_synth import render_take
from test_io import make_huge_clip

from lipauth.service import Settings, create_app
from lipauth.store import new_key

pytestmark = pytest.mark.slow

BASE_URL = "http://127.0.0.1"
PAGE_KEY = "lkp_page-credential-for-tests"


def _err(r, status: int, code: str, detail: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["code"] == code, body
    if detail is not None:
        assert body["detail"] == detail, body


def _file(path: Path, ctype: str = "video/mp4"):
    return (path.name, path.read_bytes(), ctype)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {f"a{i}": render_take("A", speed=sp, seed=sd, path=str(d / f"a{i}.mp4")).path
           for i, (sd, sp) in enumerate(((0, 0.95), (1, 1.0), (2, 1.05)))}
    out["wrong"] = render_take("B", seed=9, path=str(d / "wrong.mp4")).path
    out["huge"] = make_huge_clip(d / "huge.mp4")
    return {k: Path(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    settings = Settings(data_dir=str(d), key=base64.b64encode(new_key()).decode(), workers=1, queue=4, max_clip_s=6.0,
                        rate_per_min=100_000, user_rate_per_min=100_000, page_key=PAGE_KEY,
                        cors_origins=("https://app.example",))
    app = create_app(settings, warm=True)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = app.state.lipauth.store.create_api_key("tests")
        yield app, client


@pytest.fixture(scope="module")
def client(app_client):
    return app_client[1]


@pytest.fixture(scope="module")
def store(app_client):
    return app_client[0].state.lipauth.store


@pytest.fixture(scope="module")
def enrolled(client, clips) -> str:
    r = client.post("/v1/users/alice/enrolments", files=[("clips", _file(clips[f"a{i}"])) for i in range(3)])
    assert r.status_code == 201, r.text
    return "alice"


# --------------------------------------------------------------------------------------
# row 6/7: catch-all, deep JSON


def test_unexpected_exception_is_a_json_500_without_details(client, monkeypatch) -> None:
    import lipauth.challenge

    def boom(*_a, **_k):
        raise RuntimeError("secret /etc/lipauth detail")

    monkeypatch.setattr(lipauth.challenge, "new_challenge", boom)
    r = client.post("/v1/challenges", json={"kind": "blow"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": "internal error", "code": "INTERNAL_ERROR"}
    assert "secret" not in r.text


def test_deep_json_in_challenge_or_sensors_is_a_422(client, clips, enrolled) -> None:
    deep = "[" * 1000 + "]" * 1000
    deep_obj = '{"a":' * 5000 + "1" + "}" * 5000
    for text in (deep, deep_obj):
        _err(client.post("/v1/liveness", files={"clip": _file(clips["wrong"])}, data={"challenge": text}),
             422, "BAD_CHALLENGE", "challenge is not valid challenge JSON")
        _err(client.post(f"/v1/users/{enrolled}/verifications", files={"clip": _file(clips["wrong"])},
                         data={"sensors": text}), 422, "BAD_SENSOR_DATA", "sensors is not valid device-motion JSON")


# --------------------------------------------------------------------------------------
# row 8: frame size


def test_huge_frames_are_refused_fast(client, clips) -> None:
    """An 8000x6000 upload: 413 FRAME_TOO_LARGE from the stream header, in < 0.5 s (was 8-13 s and 2.8 GB)."""
    data = clips["huge"].read_bytes()
    times = []
    for route in ("/v1/sync", "/v1/users/alice/verifications"):
        t0 = time.perf_counter()
        r = client.post(route, files={"clip": ("huge.mp4", data, "video/mp4")})
        times.append(time.perf_counter() - t0)
        _err(r, 413, "FRAME_TOO_LARGE", "video frames are larger than max_frame_pixels, or too many to decode")
    print(f"8000x6000 refused in {', '.join(f'{t:.3f}' for t in times)} s")
    assert min(times) < 0.5, times


# --------------------------------------------------------------------------------------
# row 2: the page's credential, Host and Origin


def test_page_credential_is_scoped_and_bound_to_the_origin(client, clips, enrolled) -> None:
    page = {"X-API-Key": PAGE_KEY, "Origin": BASE_URL}
    # it may ask for challenges, and run the analyses the page needs (a NO_AUDIO 422 proves the route ran)
    assert client.post("/v1/challenges", json={"kind": "blow"}, headers=page).status_code == 201
    r = client.post("/v1/users/nobody/verifications", files={"clip": _file(clips["wrong"])}, headers=page)
    assert r.status_code == 200 and not r.json()["accepted"]
    _err(client.post("/v1/sync", files={"clip": _file(clips["wrong"])}, headers=page), 422, "NO_AUDIO")
    # never delete (nor anything not listed), and not without the page's Origin
    _err(client.delete(f"/v1/users/{enrolled}", headers=page), 403, "FORBIDDEN", "this credential may not use this route")
    _err(client.post("/v1/challenges", json={"kind": "blow"}, headers={"X-API-Key": PAGE_KEY}), 403, "FORBIDDEN")
    _err(client.post("/v1/challenges", json={"kind": "blow"}, headers={**page, "Origin": "http://evil.example"}),
         403, "HOST_NOT_ALLOWED", "request Host or Origin is not one this service serves")
    assert enrolled in [u.name for u in client.app.state.lipauth.store.users()]


def test_host_and_origin_are_checked(client, enrolled) -> None:
    evil = {"Host": "evil.example:8811"}
    r = client.get("/", headers=evil)  # a DNS-rebinding page gets no page, no credential
    _err(r, 403, "HOST_NOT_ALLOWED")
    assert PAGE_KEY not in r.text
    _err(client.delete(f"/v1/users/{enrolled}", headers=evil), 403, "HOST_NOT_ALLOWED")
    _err(client.post("/v1/challenges", json={"kind": "blow"}, headers=evil), 403, "HOST_NOT_ALLOWED")
    # a full key from a foreign origin is refused too; a listed CORS origin and no Origin at all are fine
    _err(client.post("/v1/challenges", json={"kind": "blow"}, headers={"Origin": "http://evil.example"}), 403, "HOST_NOT_ALLOWED")
    _err(client.post("/v1/challenges", json={"kind": "blow"}, headers={"Origin": "null"}), 403, "HOST_NOT_ALLOWED")
    assert client.post("/v1/challenges", json={"kind": "blow"}, headers={"Origin": "https://app.example"}).status_code == 201
    assert client.post("/v1/challenges", json={"kind": "blow"}).status_code == 201
    for host in ("localhost:8000", "127.0.0.1:9", "[::1]:8000", "192.168.1.20:8000"):
        assert client.post("/v1/challenges", json={"kind": "blow"}, headers={"Host": host}).status_code == 201, host
    assert client.get("/v1/health", headers=evil).status_code == 200  # reads are not state-changing


def test_host_rule_entries() -> None:
    from lipauth.service.security import HostRule

    rule = HostRule(["localhost", "lip.example.com:8443", "*ip"])
    assert rule.allows("localhost:1234") and rule.allows("LIP.example.com:8443") and rule.allows("[::1]:80")
    assert rule.allows("10.0.0.5") and not rule.allows("lip.example.com:8444") and not rule.allows("evil.example")
    assert not rule.allows("") and HostRule(["*"]).allows("anything")
    from lipauth.errors import ConfigError

    with pytest.raises(ConfigError, match="LIPAUTH_ALLOWED_HOSTS has 'http://x'"):
        Settings(allowed_hosts=("http://x",))
    assert Settings.from_env({"LIPAUTH_ALLOWED_HOSTS": "a.example, b.example:443"}).allowed_hosts == ("a.example", "b.example:443")


# --------------------------------------------------------------------------------------
# rows 9, 11, 15: labels, malformed forms, duplicated parts


def test_bad_label_duplicate_parts_and_malformed_forms(client, clips, store) -> None:
    takes = [("clips", _file(clips[f"a{i}"])) for i in range(3)]
    _err(client.post("/v1/users/eve/enrolments", files=takes, data={"label": "../../x\x00"}), 422, "BAD_LABEL",
         "password label must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -")
    assert "eve" not in [u.name for u in store.users()]
    r = client.post("/v1/sync", files=[("clip", _file(clips["wrong"])), ("clip", _file(clips["a0"]))])
    _err(r, 422, "INVALID_REQUEST")
    assert r.json()["fields"] == ["clip"]
    r = client.post("/v1/challenges", content=b"not json", headers={"Content-Type": "application/json"})
    _err(r, 422, "INVALID_REQUEST")
    assert r.json()["fields"] == ["body"]
    sensors = json.dumps([{"t_ms": i, "ax": 0, "ay": 0, "az": 9.8, "alpha": 0, "beta": 0, "gamma": 0} for i in range(40_000)])
    r = client.post("/v1/users/alice/verifications", files={"clip": _file(clips["wrong"])}, data={"sensors": sensors})
    _err(r, 400, "MALFORMED_REQUEST", "request body is not a well-formed form, or a form field is larger than 1 MB")
    r = client.post("/v1/sync", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code in (400, 422) and r.json()["code"] in ("MALFORMED_REQUEST", "INVALID_REQUEST"), r.text


# --------------------------------------------------------------------------------------
# row 1: enumeration


def _verify(client, user: str, clip: bytes) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = client.post(f"/v1/users/{user}/verifications", files={"clip": ("attempt.mp4", clip, "video/mp4")})
    dt = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    return r.json(), dt


def test_failed_verify_carries_no_score(client, clips, enrolled, store) -> None:
    known, _ = _verify(client, enrolled, clips["wrong"].read_bytes())
    store.unlock(enrolled)
    assert not known["accepted"]
    assert known["scores"]["password"]["score"] is None and known["checks"][0]["score"] is None
    assert known["checks"][0]["details"]["distance"] is None
    # the audit log keeps the score
    assert store.attempts(enrolled)[-1]["score"] is not None


N_ENUM = 50


def test_unknown_and_enrolled_users_are_indistinguishable(client, clips, enrolled, store) -> None:
    """50 failed verifies of an enrolled name vs 50 of unknown names, interleaved in random order: the same
    answer (every field) and the same time (medians within 5 %, Mann-Whitney p > 0.05).

    A fair timing test misses now and then by chance (p is uniform when nothing differs, and on a
    shared machine a median of 50 moves by several per cent), so up to two more rounds of 50 + 50 are
    run when one misses, each judged alone and pooled with the rounds before it; every round is printed.
    """
    from scipy.stats import mannwhitneyu

    clip = clips["wrong"].read_bytes()
    rng = random.Random(18)
    t_known: list[float] = []
    t_unknown: list[float] = []
    verdicts = []

    def judge(a: list[float], b: list[float]) -> tuple[float, float, bool]:
        m_a, m_b = statistics.median(a), statistics.median(b)
        rel = abs(m_a - m_b) / max(m_a, m_b)
        p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
        return rel, p, rel < 0.05 and p > 0.05

    for round_ in range(3):
        r_known: list[float] = []
        r_unknown: list[float] = []
        bodies: set[str] = set()
        for i in range(N_ENUM):
            order = [(enrolled, r_known), (f"ghost{round_}_{i}", r_unknown)]
            rng.shuffle(order)
            for user, times in order:
                body, dt = _verify(client, user, clip)
                if user == enrolled:
                    store.unlock(enrolled)  # keep the enrolled name out of lock-out (one failure, like a new name)
                times.append(dt)
                bodies.add(json.dumps({k: v for k, v in body.items() if k != "user"}, sort_keys=True))
        assert len(bodies) == 1, "answers differ between enrolled and unknown names:\n" + "\n".join(sorted(bodies))
        t_known += r_known
        t_unknown += r_unknown
        alone, pooled = judge(r_known, r_unknown), judge(t_known, t_unknown)
        verdicts += [alone[2], pooled[2]]
        print(f"enumeration round {round_ + 1}: median enrolled {statistics.median(r_known) * 1e3:.1f} ms, unknown "
              f"{statistics.median(r_unknown) * 1e3:.1f} ms ({100 * alone[0]:.1f} %), Mann-Whitney p = {alone[1]:.3f}; "
              f"pooled ({len(t_known)} + {len(t_unknown)}): {100 * pooled[0]:.1f} %, p = {pooled[1]:.3f}")
        if any(verdicts):
            break
    assert any(verdicts), "enrolled and unknown names differ in time (see the rounds printed above)"


# --------------------------------------------------------------------------------------
# bar: 20 concurrent verifies against `lipauth serve`


def test_twenty_concurrent_verifies_get_answers_or_503_with_retry_after(clips, tmp_path) -> None:
    """20 verifies at once against one worker (capacity 1 + 2 waiting): every answer is a 200 or a
    503 ``OVERLOADED`` with ``Retry-After``; nothing else (no 500, no dropped connection)."""
    import threading
    import urllib.error
    import urllib.request

    from lipauth.service.testing import start_server

    clip = clips["wrong"].read_bytes()
    boundary = "lipauthloadboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"clip\"; filename=\"c.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + clip + f"\r\n--{boundary}--\r\n".encode()
    results: list[tuple[int, str, str | None]] = []
    lock = threading.Lock()
    with start_server(tmp_path / "data", workers=1, env={"LIPAUTH_QUEUE": "2"}) as server:
        headers = {**server.page_headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"}

        def one(i: int) -> None:
            req = urllib.request.Request(f"{server.base_url}/v1/users/user{i}/verifications", data=body, method="POST",
                                         headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    out = (r.status, json.loads(r.read()).get("code", ""), r.headers.get("Retry-After"))
            except urllib.error.HTTPError as e:
                out = (e.code, json.loads(e.read()).get("code", ""), e.headers.get("Retry-After"))
            except OSError as e:
                out = (0, str(e), None)
            with lock:
                results.append(out)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
    statuses = sorted(s for s, _, _ in results)
    print(f"20 concurrent verifies: {statuses.count(200)} answered, {statuses.count(503)} x 503")
    assert len(results) == 20
    assert all(s == 200 or (s == 503 and code == "OVERLOADED" and int(retry or 0) >= 1) for s, code, retry in results), results
    assert statuses.count(200) >= 3
