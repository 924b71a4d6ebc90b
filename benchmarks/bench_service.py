"""HTTP service latency and load on loopback, against the library's own verify time.

Starts ``lipauth serve`` on a free loopback port (2 analysis workers by default, a fresh
temporary data directory, rate limits raised so that only capacity limits the load),
and, in the same run:

1. baseline: ``Authenticator.verify`` in this process on the same 3-s synthetic clip
   (640x480, 30 fps, VP8/Opus WebM as a browser sends; decode + track + features +
   match; median of 3 after a warm-up);
2. enrols a user through the API (3 takes), then ``--singles`` sequential verify
   requests: p50/p95 latency; the ratio single-request p95 / baseline (target <= 1.5);
3. a bounded load test: ``--concurrency`` (>= 20) clients send one verify each at once;
   a client that gets 503 waits the ``Retry-After`` and tries again, until
   ``--deadline-s`` (then it gives up and the run fails). Prints p50/p95 latency of the
   answered requests (from the first try), throughput and the count of 503s. Any other
   non-2xx answer (5xx, 429, ...) is an error: the exit status is 1.

Ends with one line ``BENCH {json}`` (keys ``stage``, ``time_s`` = single-request p95,
``baseline_s``, ``ratio``, ``rss_mb`` = peak resident memory of the server and its
worker processes) for the ``make bench`` table.
Run: ``python benchmarks/bench_service.py [--workers 2] [--concurrency 24]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

FPS = 30.0
PERIOD_FRAMES = 30  # the phrase repeats every second (see tests/test_browser.py)


def _phrase(n: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    from lipauth.service.testing import phrase_control

    return phrase_control(n, period_frames=PERIOD_FRAMES, start_frame=start)


def make_clips(directory: Path) -> tuple[list[Path], Path]:
    """Three enrolment takes and one verify clip: 3 s, 640x480, 30 fps WebM of one lip password."""
    from lipauth.synth import make_talking_clip

    n = int(3 * FPS)
    paths = []
    for i, start in enumerate((0, 11, 21, 7)):
        o, w = _phrase(n, start)
        path = directory / f"take{i}.webm"
        make_talking_clip(path, duration_s=3.0, fps=FPS, size=(640, 480), opening=o, width=w, noise_std=2.0,
                          audio="syllables", seed=10 + i)
        paths.append(path)
    return paths[:3], paths[3]


def library_baseline(takes: list[Path], clip: Path, directory: Path) -> float:
    """Median seconds of ``Authenticator.verify(user, clip)`` in this process (after a warm-up)."""
    from lipauth.auth import Authenticator
    from lipauth.store import KeyRing, Store, new_key

    store = Store(f"sqlite:///{directory / 'baseline.db'}", keyring=KeyRing(current=new_key(), source="bench"))
    auth = Authenticator(store=store)
    auth.enrol("bench", [str(p) for p in takes])
    result = auth.verify("bench", str(clip))  # warm-up
    if not result.accepted:
        raise SystemExit(f"baseline: the synthetic verify clip was rejected ({result.reasons}); the benchmark needs an accepted clip")
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        auth.verify("bench", str(clip))
        times.append(time.perf_counter() - t0)
    store.close()
    return statistics.median(times)


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total / 1024.0


class RssPeak:
    """Samples the server tree's RSS every 0.2 s in a thread; ``peak_mb`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))
            self._stop.wait(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=24)
    ap.add_argument("--singles", type=int, default=8)
    ap.add_argument("--deadline-s", type=float, default=300.0)
    args = ap.parse_args()
    if args.concurrency < 20:
        ap.error("--concurrency must be at least 20 (the issue's load test)")
    import httpx

    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lipauth-bench-") as tmp_name:
        tmp = Path(tmp_name)
        takes, clip = make_clips(tmp)
        clip_bytes = clip.read_bytes()
        baseline_s = library_baseline(takes, clip, tmp)
        print(f"library verify (Authenticator.verify, 3-s 640x480 30-fps WebM): {baseline_s:.3f} s (median of 3)", flush=True)

        from lipauth.service.testing import start_server

        with start_server(tmp / "data", workers=args.workers, startup_timeout_s=120.0, stop_timeout_s=30.0,
                          env={"LIPAUTH_RATE_PER_MIN": "1000000", "LIPAUTH_USER_RATE_PER_MIN": "1000000"}) as running:
            base, log_path = running.base_url, running.log_path
            rss = RssPeak(running.process.pid)
            try:
                with httpx.Client(base_url=base, timeout=120.0) as client:
                    headers = running.page_headers()  # the page's credential needs the page's Origin
                    files = [("clips", (p.name, p.read_bytes(), "video/webm")) for p in takes]
                    r = client.post("/v1/users/bench/enrolments", files=files, headers=headers)
                    if r.status_code != 201:
                        raise SystemExit(f"enrolment through the API failed: {r.status_code} {r.text}")

                    def _fresh(fn):
                        with httpx.Client(base_url=base, timeout=120.0) as c:
                            return fn(c)

                    def verify_once(c: httpx.Client) -> httpx.Response:
                        return c.post("/v1/users/bench/verifications", files={"clip": ("clip.webm", clip_bytes, "video/webm")},
                                      headers=headers)

                    # warm the route and every worker (each loads MediaPipe once): one request per worker, at once
                    with ThreadPoolExecutor(max_workers=args.workers) as warm:
                        list(warm.map(lambda _: _fresh(verify_once), range(args.workers)))
                    singles = []
                    for _ in range(args.singles):
                        t0 = time.perf_counter()
                        r = verify_once(client)
                        singles.append(time.perf_counter() - t0)
                        if r.status_code != 200 or not r.json().get("accepted"):
                            errors.append(f"single verify: {r.status_code} {r.text[:200]}")
                print("single request times s: " + " ".join(f"{t:.2f}" for t in singles))
                p50_single, p95_single = _pct(singles, 50), _pct(singles, 95)
                ratio = p95_single / baseline_s
                print(f"single requests ({args.singles}, sequential): p50 {p50_single:.3f} s, p95 {p95_single:.3f} s; "
                      f"p95 / library verify = {ratio:.2f} (target <= 1.5)", flush=True)

                # ---- bounded load: every client sends at once; 503 -> wait Retry-After, try again
                n503 = 0
                lock = threading.Lock()
                stop_at = time.monotonic() + args.deadline_s
                start_gate = threading.Barrier(args.concurrency)

                def client_run(_: int) -> tuple[float | None, float | None]:
                    nonlocal n503
                    with httpx.Client(base_url=base, timeout=120.0) as c:
                        start_gate.wait()
                        t_first = time.perf_counter()
                        while time.monotonic() < stop_at:
                            t0 = time.perf_counter()
                            r = verify_once(c)
                            if r.status_code == 503:
                                with lock:
                                    n503 += 1
                                time.sleep(min(float(r.headers.get("Retry-After", "1")), 5.0))
                                continue
                            if r.status_code != 200 or not r.json().get("accepted"):
                                with lock:
                                    errors.append(f"load verify: {r.status_code} {r.text[:200]}")
                                return None, None
                            now = time.perf_counter()
                            return now - t_first, now - t0
                    with lock:
                        errors.append(f"load verify: no answer within --deadline-s {args.deadline_s}")
                    return None, None

                t0 = time.perf_counter()
                with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                    results = list(pool.map(client_run, range(args.concurrency)))
                wall = time.perf_counter() - t0
                total = [a for a, _ in results if a is not None]
                served = [b for _, b in results if b is not None]
                print(f"load: {args.concurrency} concurrent clients, {args.workers} workers: {len(total)} answered in {wall:.1f} s "
                      f"({len(total) / wall:.2f} verify/s); latency incl. 503 retries p50 {_pct(total, 50):.2f} s, "
                      f"p95 {_pct(total, 95):.2f} s; accepted attempt alone p50 {_pct(served, 50):.2f} s, p95 {_pct(served, 95):.2f} s; "
                      f"503 answers: {n503}; other errors: {len(errors)}", flush=True)
            finally:
                rss_mb = rss.stop()
        five = [e for e in errors if re.search(r": 5\d\d ", e)]
        print(f"server + workers peak RSS: {rss_mb:.0f} MB")
        for e in errors[:10]:
            print("ERROR", e)
        if five:
            print("server log tail:\n" + log_path.read_text()[-3000:])
    print("BENCH " + json.dumps({"stage": "service verify p95 (single request)", "time_s": round(p95_single, 4),
                                 "baseline_s": round(baseline_s, 4), "ratio": round(ratio, 3), "rss_mb": round(rss_mb, 1)}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
