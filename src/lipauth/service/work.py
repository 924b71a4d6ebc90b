"""What runs inside an analysis worker process: decode, track, features, checks, store writes.

Each worker opens its own :class:`lipauth.store.Store` once (SQLite in WAL mode with a busy
timeout, or PostgreSQL) and loads MediaPipe once (:func:`init_worker`). Every function
takes file paths of uploads the server wrote and returns plain JSON-ready dicts; errors
are :class:`lipauth.errors.LipAuthError` subclasses, mapped to HTTP by the server.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import time
from typing import Any

from lipauth.errors import ClipTooLongError, ConfigError, FrameTooLargeError
from lipauth.service.settings import WorkerConfig

__all__ = ["init_worker", "ping", "enrol", "verify", "liveness", "sync", "redact_failed_verify"]

log = logging.getLogger("lipauth.service.worker")
_CFG: WorkerConfig | None = None
_STORE: Any = None


#: how often a worker checks that the server that started it is still alive, seconds
PARENT_CHECK_S = 0.25
_PARENT_PID: int | None = None


def _parent_gone() -> bool:
    return _PARENT_PID is not None and os.getppid() != _PARENT_PID


def _watch_parent() -> None:
    """Exit this worker as soon as its server is gone (killed with -9: no shutdown ran).

    A daemon thread compares ``getppid()`` with the server's pid every :data:`PARENT_CHECK_S`
    seconds: an orphan is re-parented (to init or a sub-reaper), so the pid changes. This
    works whatever thread of the server spawned the worker (``PR_SET_PDEATHSIG`` follows
    the spawning *thread*, and the pool is rebuilt from other threads).
    """
    import threading

    def run() -> None:
        while not _parent_gone():
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=run, name="lipauth-parent-watch", daemon=True).start()


class _CommitGuard:
    """The worker's store, as the :class:`Authenticator` sees it: an enrolment (or a password
    change) is not committed once the server that asked for it is gone; the worker exits
    instead, so the client's retry finds nothing half-done (no 409 for an answer it never got)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _alive(self) -> None:
        if _parent_gone():
            log.warning("server is gone: enrolment not committed, worker exits")
            os._exit(0)

    def enrol(self, *args: Any, **kwargs: Any) -> Any:
        self._alive()
        return self._store.enrol(*args, **kwargs)

    def replace_template(self, *args: Any, **kwargs: Any) -> Any:
        self._alive()
        return self._store.replace_template(*args, **kwargs)


def init_worker(cfg: WorkerConfig, parent_pid: int | None = None) -> None:
    """Worker initializer: remember the config, open the store, load MediaPipe once (warm-up).

    Ignores SIGINT: Ctrl-C in a terminal signals the whole process group, and the server
    (not each worker, with a KeyboardInterrupt traceback) decides when workers end; it
    kills them on shutdown (:meth:`lipauth.service.pool.AnalysisPool.stop`). When the server
    dies without a shutdown (``kill -9``), the worker exits within :data:`PARENT_CHECK_S`
    seconds (``parent_pid``: the server's pid; default the parent at start-up).
    """
    global _CFG, _STORE, _PARENT_PID
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _PARENT_PID = int(parent_pid) if parent_pid is not None else os.getppid()
    if _parent_gone():
        os._exit(0)
    _watch_parent()
    from lipauth.store import KeyRing, Store

    _CFG = cfg
    from lipauth.io.video import set_frame_limits

    set_frame_limits(max_side=cfg.max_frame_side, max_pixels=cfg.max_frame_pixels)
    _STORE = Store(cfg.store_url, keyring=KeyRing(current=cfg.template_key, others=cfg.other_keys, source="service"))
    try:
        from lipauth.tracking import LipTracker

        LipTracker().close()  # loads the face-mesh graph: the first request does not pay for it
    except ImportError as exc:  # mediapipe missing: requests will say so
        log.warning("worker warm-up: %s", exc)


def ping() -> int:
    """A no-op job (warms a worker up; returns its pid)."""
    return os.getpid()


def _cfg() -> WorkerConfig:
    if _CFG is None:
        raise ConfigError("analysis worker used before init_worker(); create it through AnalysisPool")
    return _CFG


def _hook(hook: str) -> None:
    """Test hooks (only when the server enabled them): ``crash`` kills the worker, ``sleep=S`` hangs."""
    if not hook or not _cfg().test_hooks:
        return
    if hook == "crash":
        os._exit(3)
    if hook.startswith("sleep="):
        time.sleep(float(hook.split("=", 1)[1]))


def _check_length(path: str) -> None:
    """Refuse a clip before it is decoded whole: :class:`FrameTooLargeError` when its frames pass
    the frame limits (from the stream's header) or all its frames would pass ``max_decoded_mb``;
    :class:`ClipTooLongError` when it lasts longer than ``max_clip_s`` (demuxed, not decoded)."""
    from lipauth.io import load_video

    cfg = _cfg()
    video = load_video(path, lazy=True, max_frame_side=cfg.max_frame_side, max_frame_pixels=cfg.max_frame_pixels)
    limit = cfg.max_clip_s
    if video.duration_s > limit:
        raise ClipTooLongError(f"clip lasts {video.duration_s:.1f} s; the limit is {limit:g} s")
    decoded_mb = video.n_frames * video.width * video.height * 3 / 2**20
    if decoded_mb > cfg.max_decoded_mb:
        raise FrameTooLargeError(f"clip has {video.n_frames} frames of {video.width}x{video.height}: {decoded_mb:.0f} MB decoded; "
                                 f"the limit is {cfg.max_decoded_mb:g} MB; record at a lower resolution or shorter")


def _png(draw: Any) -> str:
    buf = io.BytesIO()
    draw(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def _authenticator(policy: tuple[str, ...], optional: tuple[str, ...] = ()) -> Any:
    from lipauth.auth import AuthConfig, Authenticator
    from lipauth.decision import Policy

    required = tuple(dict.fromkeys(policy))
    optional = tuple(c for c in optional if c not in required)
    from typing import cast

    from lipauth.store import Store

    return Authenticator(AuthConfig(policy=Policy(required=required, optional=optional)), cast(Store, _CommitGuard(_STORE)),
                         challenge_key=_cfg().challenge_key)


def _framing(track: Any, oval: dict[str, float] | None) -> dict[str, Any] | None:
    """The answer's ``framing`` (:func:`lipauth.tracking.framing.assess_framing`) when the client sent an oval."""
    if oval is None or track is None:
        return None
    from lipauth.tracking.framing import Oval, assess_framing

    return assess_framing(track, Oval(**oval)).to_dict()


def framing(path: str, oval: dict[str, float] | None, hook: str = "") -> dict[str, Any]:
    """Is there a face in the picture at ``path`` (the live preview), and how does it sit in ``oval``?"""
    from lipauth.io import load_image
    from lipauth.tracking.framing import Oval, preview_framing

    _hook(hook)
    face, result = preview_framing(load_image(path), Oval(**oval) if oval else None)
    return {"face": face, "framing": result.to_dict()}


def enrol(user: str, paths: list[str], label: str, hook: str = "", oval: dict[str, float] | None = None) -> dict[str, Any]:
    """Enrol ``user``'s lip password ``label`` from the clips at ``paths`` (with ``oval``: each take's framing)."""
    _hook(hook)
    for p in paths:
        _check_length(p)
    framing: list[Any] = [None] * len(paths)

    def on_take(i: int, track: Any) -> None:
        framing[i] = _framing(track, oval)

    template = _authenticator(("password",)).enrol(user, list(paths), label=label, on_take=on_take)
    out: dict[str, Any] = {"user": user, "label": label, "takes": int(template.n_takes)}
    if oval is not None:
        out["framing"] = framing
    return out


def verify(user: str, path: str, challenge: dict | None, sensors: str | None, plot: bool, hook: str = "",
           oval: dict[str, float] | None = None, label: str | None = None) -> dict[str, Any]:
    """Verify ``path`` as ``user``'s password (+ the challenge's check, + sensors); ``label``: that password only."""
    from lipauth.auth import public_check_dict
    from lipauth.challenge import Challenge

    _hook(hook)
    _check_length(path)
    cfg = _cfg()
    policy = cfg.policy
    ch = None
    if challenge is not None:
        ch = Challenge.from_dict(challenge)
        policy = (*policy, ch.kind)  # a challenge needs the audio: verify raises NoAudioStreamError before storing
    samples = None
    if sensors is not None:
        from lipauth.checks.sensors import parse_sensor_json

        samples = parse_sensor_json(sensors)
    auth = _authenticator(policy, ("sensors",) if samples is not None else ())
    res = auth.verify(user, path, ch, label=label, sensors=samples)
    out = res.to_dict()
    out["checks"] = [public_check_dict(c) for c in res.checks]
    out = _clean(out)
    if not out["accepted"]:
        out = redact_failed_verify(out)
    if oval is not None:
        out["framing"] = _framing(res.track, oval)
    if plot:
        from lipauth.viz import plot_timeline

        live = next((c for c in res.checks if c.check in ("blow", "speech")), None)
        sync_res = next((c for c in res.checks if c.check == "sync"), None)
        if live is not None or sync_res is not None or res.features is not None:
            out["timeline_png"] = _png(lambda buf: plot_timeline(live, buf, sync=sync_res, features=res.features, title=user))
    return out


#: the user-dependent numbers of a verify answer: on a failed verify the client gets None in
#: their place (the store's audit log keeps the score), so an unknown name (matched against a
#: decoy) and an enrolled one give the same fields and values for the same clip
_REDACTED_CHECKS = ("password",)
_REDACTED_DETAILS = ("distance",)


def redact_failed_verify(out: dict[str, Any]) -> dict[str, Any]:
    """A failed verify's answer without the password's raw score and distance (no user enumeration)."""
    red = dict(out)
    scores = dict(red.get("scores") or {})
    for name in _REDACTED_CHECKS:
        if isinstance(scores.get(name), dict):
            log.info("verify %r rejected: %s score %s", red.get("user"), name, scores[name].get("score"))
            scores[name] = {**scores[name], "score": None}
    red["scores"] = scores
    checks = []
    for c in red.get("checks") or []:
        if c.get("check") in _REDACTED_CHECKS:
            c = {**c, "score": None}
            if isinstance(c.get("details"), dict):
                c["details"] = {k: (None if k in _REDACTED_DETAILS else v) for k, v in c["details"].items()}
        checks.append(c)
    red["checks"] = checks
    return red


def liveness(path: str, challenge: dict, sensors: str | None, plot: bool, hook: str = "",
             oval: dict[str, float] | None = None) -> dict[str, Any]:
    """Check the answer ``path`` to ``challenge`` (nonce consumed in the store)."""
    from lipauth.auth import check_liveness, public_check_dict
    from lipauth.store import SqlNonceStore

    _hook(hook)
    _check_length(path)
    rep = check_liveness(path, challenge=challenge, sensors=sensors, nonce_store=SqlNonceStore(_STORE), plot=plot,
                         key=_cfg().challenge_key, subject="")  # a challenge bound to a user: only on their verification
    out: dict[str, Any] = _clean({"accepted": rep.accepted, "reasons": list(rep.reasons),
                                  "checks": [public_check_dict(c) for c in rep.checks]})
    if oval is not None and rep.track is not None:  # None: refused before tracking (CLIP_TOO_SHORT)
        out["framing"] = _framing(rep.track, oval)
    if plot and rep.timeline_png is not None:
        out["timeline_png"] = base64.b64encode(rep.timeline_png).decode("ascii")
    return out


def sync(path: str, plot: bool, hook: str = "") -> dict[str, Any]:
    """Audio-visual sync of ``path``: offset, confidence, score."""
    from lipauth.checks.sync import check_sync, require_sound
    from lipauth.features import extract_lip_features
    from lipauth.io import load_audio, load_video
    from lipauth.tracking import track_lips

    _hook(hook)
    _check_length(path)
    video = load_video(path)
    audio = load_audio(path)  # NoAudioStreamError -> 422 NO_AUDIO
    require_sound(audio)  # SilentAudioError -> 422 SILENT_AUDIO, before the worker spends seconds tracking
    feats = extract_lip_features(track_lips(video), video)
    res = check_sync(feats, audio)
    out: dict[str, Any] = {
        "accepted": bool(res.accepted),
        "offset_ms": _num(res.offset_ms),
        "confidence": _num(res.confidence),
        "score": _num(res.score),
        "threshold": _num(res.threshold),
        "reasons": list(res.reasons),
    }
    if plot:
        from lipauth.viz import plot_timeline

        out["timeline_png"] = _png(lambda buf: plot_timeline(None, buf, sync=res, features=feats))
    return out
