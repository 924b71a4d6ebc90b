"""Run one function over many items on a process pool or a Ray cluster, resumably.

Results stream to a JSON Lines file as they finish::

    {"batch": "lipauth", "version": 1, "settings_hash": "…", "settings": {…}}   # header
    {"key": "clip-a.mp4", "status": "ok", "result": {…}}
    {"key": "clip-b.mp4", "status": "error", "error": {"code": "corrupt_media", "message": "…"}}

On restart with ``resume=True`` every item whose key already has a line is skipped (a
half-written last line from a killed run is dropped). The header carries a hash of the
``settings``: resuming with other settings raises :class:`~lipauth.errors.ConfigError`.
When all items are done the file is rewritten sorted by key, so ``engine="local"`` and
``engine="ray"`` give byte-identical files.

Serial work in the parent is kept small, so N workers come close to N times one: each
worker serialises its own JSON line (the parent writes it as is and reuses it for the
sorted rewrite), and a local pool worker leaves with ``os._exit`` after its last result
instead of tearing down its interpreter (about 0.5 s with MediaPipe loaded, during which
the parent would wait). On Linux each local pool worker is pinned to one of the CPUs this
process may use (round robin) when there are at least as many workers as CPUs, so a
worker's own helper threads share its core.

The item function must be a module-level (picklable) function ``fn(payload) -> dict``
returning JSON-serialisable data with no timing in it. A :class:`~lipauth.errors.LipAuthError`
it raises is recorded with its ``code``; any other exception is recorded as
``"internal_error"`` with its type and message (so one broken clip never stops a corpus).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lipauth.errors import ConfigError, InputError, LipAuthError

__all__ = ["BatchSummary", "progress_bar", "read_results", "run_batch", "settings_hash"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
Engine = Literal["local", "ray"]


@dataclass(frozen=True)
class BatchSummary:
    """What :func:`run_batch` did.

    Attributes
    ----------
    out : Path
        The JSON Lines file (sorted by key).
    n_items : int
        Items asked for.
    n_done : int
        Items computed in this run.
    n_skipped : int
        Items already in ``out`` from an earlier run (resume).
    n_failed : int
        Items whose line has ``status == "error"`` (this run and earlier ones).
    results : dict
        key -> the item's line (``status``, ``result`` or ``error``), for every asked item.
    """

    out: Path
    n_items: int
    n_done: int
    n_skipped: int
    n_failed: int
    results: dict[str, dict[str, Any]]


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the settings as canonical JSON."""
    try:
        blob = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"batch settings are not JSON-serialisable ({exc}); pass plain str/number/list/dict values") from None
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _call_line(fn: Callable[[Any], Any], key: str, payload: Any) -> tuple[dict[str, Any], str]:
    """:func:`_call` and its JSON line, made in the worker (the parent only writes it)."""
    rec = _call(fn, key, payload)
    return rec, _dump(rec)


def _exit_now() -> None:
    """Last exit step of a pool worker: flush, then skip the interpreter teardown."""
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def _pool_worker_init(initializer: Callable[[], None] | None, counter: Any = None, cpus: Sequence[int] = ()) -> None:
    """Initialiser of a local pool worker: fast exit, one CPU, then ``initializer``.

    The executor's worker loop has sent every result (and its exit notice) through the
    result pipe before it returns, so the ``os._exit`` registered here (lowest priority
    among the multiprocessing exit finalisers) loses nothing. With ``counter`` (a shared
    int) and ``cpus``, the n-th worker started is pinned to ``cpus[n % len(cpus)]`` before
    ``initializer`` runs, so every thread it starts later (FFmpeg decoding, MediaPipe's
    graph and inference threads) stays on that core.
    """
    from multiprocessing import util

    util.Finalize(None, _exit_now, exitpriority=-1000)
    if counter is not None and cpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    if initializer is not None:
        initializer()


def _usable_cpus() -> list[int]:
    """CPUs this process may run on (sorted); empty where they cannot be pinned (not Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def _call(fn: Callable[[Any], Any], key: str, payload: Any) -> dict[str, Any]:
    """Run one item, turning any exception into an error record (runs in the worker)."""
    try:
        result = fn(payload)
    except LipAuthError as exc:
        return {"key": key, "status": "error", "error": {"code": exc.code, "message": str(exc)}}
    except Exception as exc:
        log.debug("item %s failed", key, exc_info=True)
        return {"key": key, "status": "error", "error": {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}}
    return {"key": key, "status": "ok", "result": result}


def read_results(out: str | Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """Header and finished items of a batch file: ``(header or None, {key: line})``.

    A truncated last line (a killed run) is ignored; any other unreadable line raises
    :class:`InputError` naming the line.
    """
    header, done, _ = _read(Path(out))
    return header, done


def _read(path: Path) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]], dict[str, str]]:
    """:func:`read_results` plus each item's line as written (re-used by the sorted rewrite)."""
    if not path.exists():
        return None, {}, {}
    header: dict[str, Any] | None = None
    done: dict[str, dict[str, Any]] = {}
    raw: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):  # the last line, cut by a kill: redo that item
                log.info("%s: dropping a half-written last line", path)
                continue
            raise InputError(f"{path}: line {n} is not JSON; delete the file to start the batch again") from None
        if n == 1 and rec.get("batch") == "lipauth":
            header = rec
        elif "key" in rec and "status" in rec:
            done[str(rec["key"])] = rec
            raw[str(rec["key"])] = line + "\n"
        else:
            raise InputError(f"{path}: line {n} is not a lipauth batch record; pass another --out file")
    if done and header is None:
        raise InputError(f"{path}: has results but no lipauth batch header; pass another --out file")
    return header, done, raw


def _dump(rec: Mapping[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def _write_sorted(path: Path, header: Mapping[str, Any], lines: Mapping[str, str]) -> None:
    """Header, then each item's JSON line in key order (the lines as already dumped)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(_dump(header))
        fh.writelines(lines[key] for key in sorted(lines))
    os.replace(tmp, path)


@contextlib.contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True,
                 min_total: int = 1) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr; yields an ``update(done, total)`` callback.

    The one progress bar of lipauth (the batch engine's items, the CLI's tracked frames).
    Yields None, and draws nothing, when not ``enabled``, for fewer than ``min_total``
    steps, or when stderr is not a terminal (a bar into a file or pipe only left a blank
    line there).
    """
    if not enabled or total < max(min_total, 1):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


def _iter_local(fn: Callable[[Any], Any], todo: Sequence[tuple[str, Any]], workers: int,
                initializer: Callable[[], None] | None) -> Iterable[tuple[dict[str, Any], str]]:
    if workers == 1:
        if initializer is not None:
            initializer()
        for key, payload in todo:
            yield _call_line(fn, key, payload)
        return
    import functools
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: a forked child would inherit the parent's MediaPipe/FFmpeg threads
    ctx = multiprocessing.get_context("spawn")
    # One core per worker (Linux) when the workers cover every usable CPU: each worker's
    # helper threads (FFmpeg frame threads, MediaPipe's graph threads) then hand work over
    # on one core, and two workers never share a core while another is free (unpinned, on
    # a shared 2-core machine: 1.6-1.7x slower, 10-20 % more CPU; README "Evaluation and
    # batch"). Fewer workers than CPUs are not pinned: two such runs at once would be
    # pinned to the same CPUs.
    cpus = _usable_cpus()
    counter = ctx.Value("i", 0) if 1 < len(cpus) <= workers else None
    init = functools.partial(_pool_worker_init, initializer, counter, cpus)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init) as pool:
        pending = {pool.submit(_call_line, fn, key, payload) for key, payload in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()


def _iter_ray(fn: Callable[[Any], Any], todo: Sequence[tuple[str, Any]], workers: int | None,
              address: str | None, initializer: Callable[[], None] | None) -> Iterable[tuple[dict[str, Any], str]]:
    try:
        import ray
    except ImportError:
        from lipauth.errors import BackendUnavailableError

        raise BackendUnavailableError("engine='ray' needs Ray; pip install 'lipauth[ray]' or use engine='local'") from None
    if not ray.is_initialized():
        from lipauth.errors import BackendUnavailableError

        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:  # no cluster there, ray:// without ray[client], ...
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise BackendUnavailableError(
                f"cannot start or reach {where} ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}); "
                "start the cluster, fix --address, or use --engine local") from None
    elif address:
        log.info("Ray is already initialised in this process; ignoring address=%s", address)

    def _ray_item(key: str, payload: Any) -> tuple[dict[str, Any], str]:
        if initializer is not None:
            initializer()  # idempotent: loads models once per Ray worker process
        return _call_line(fn, key, payload)

    remote = ray.remote(num_cpus=1)(_ray_item)
    # keep at most 2 tasks per CPU in flight so huge corpora do not flood the object store
    limit = max(2, 2 * int(workers or ray.cluster_resources().get("CPU", 2)))
    queue = list(todo)
    pending: list[Any] = []
    while queue or pending:
        while queue and len(pending) < limit:
            key, payload = queue.pop(0)
            pending.append(remote.remote(key, payload))
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            yield ray.get(ref)


def run_batch(
    items: Iterable[tuple[str, Any]],
    fn: Callable[[Any], Any],
    *,
    engine: Engine = "local",
    workers: int | None = None,
    address: str | None = None,
    out: str | Path,
    resume: bool = True,
    settings: Mapping[str, Any] | None = None,
    initializer: Callable[[], None] | None = None,
    progress: bool = True,
    description: str = "batch",
) -> BatchSummary:
    """Apply ``fn`` to every item, streaming one JSON line per item to ``out``.

    Parameters
    ----------
    items : iterable of (key, payload)
        Unique string keys (they name the item in the output and decide the sort order)
        and picklable payloads.
    fn : callable ``payload -> dict``
        Module-level function (picklable); its result must be JSON-serialisable. Local
        pool workers end with ``os._exit`` (like forked children): ``atexit`` handlers
        registered in them do not run, so return everything ``fn`` produces.
    engine : {"local", "ray"}
        ``"local"``: a process pool of ``workers`` processes (in this process when 1);
        ``"ray"``: Ray tasks on the cluster at ``address``, on the already initialised Ray
        of this process, or on a new local Ray with ``workers`` CPUs.
    workers : int, optional
        Parallel workers; default the CPUs this process may use (``os.sched_getaffinity``
        where there is one, else ``os.cpu_count()``) capped at the number of items to do.
    address : str, optional
        Ray cluster address (``"auto"``, ``"ray://host:10001"``); only with ``engine="ray"``.
    out : str or Path
        JSON Lines output (module docstring).
    resume : bool
        Skip items already in ``out``; False starts the file afresh.
    settings : mapping, optional
        Everything that changes the results (hashed into the header).
    initializer : callable, optional
        Module-level function run once in each worker before its first item (load models).
    progress : bool
        Rich progress bar on stderr.

    Returns
    -------
    BatchSummary

    Raises
    ------
    ConfigError
        Bad engine/workers, duplicated keys, or ``out`` holds a run with other settings.
    """
    if engine not in ("local", "ray"):
        raise ConfigError(f"engine={engine!r}; pass 'local' or 'ray'")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers={workers!r}; pass a positive number of worker processes")
    if address and engine != "ray":
        raise ConfigError(f"address={address!r} is only used with engine='ray'; pass engine='ray' or drop the address")
    items = [(str(k), p) for k, p in items]
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ConfigError(f"batch item keys must be unique; duplicated: {', '.join(dup[:5])}")
    settings = dict(settings or {})
    digest = settings_hash(settings)
    header = {"batch": "lipauth", "version": FORMAT_VERSION, "settings_hash": digest, "settings": settings}
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)

    done: dict[str, dict[str, Any]] = {}
    lines: dict[str, str] = {}
    if resume and path.exists():
        old_header, done, lines = _read(path)
        if old_header is not None and old_header.get("settings_hash") != digest:
            old = old_header.get("settings", {})
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ConfigError(
                f"{path}: holds an interrupted run with other settings (changed: {', '.join(changed) or 'format'}); "
                "resume with the same settings, pass another output, or start afresh (resume=False / --no-resume)"
            )
    wanted = set(keys)
    todo = [(k, p) for k, p in items if k not in done]
    n_skipped = len(wanted & set(done))
    if n_skipped:
        log.info("%s: resuming, %d of %d items already done", path, n_skipped, len(items))
    # rewrite the file: header + records kept (drops a half-written line)
    _write_sorted(path, header, lines)
    n_workers = workers or max(1, min(len(_usable_cpus()) or os.cpu_count() or 1, len(todo)))

    if todo:
        stream = (_iter_local(fn, todo, n_workers, initializer) if engine == "local"
                  else _iter_ray(fn, todo, workers, address, initializer))
        with open(path, "a", encoding="utf-8") as fh, progress_bar(description, len(todo), enabled=progress) as update:
            for n, (rec, line) in enumerate(stream, 1):
                fh.write(line)
                fh.flush()
                done[rec["key"]] = rec
                lines[rec["key"]] = line
                if update is not None:
                    update(n, len(todo))
    _write_sorted(path, header, lines)
    results = {k: done[k] for k in keys}
    n_failed = sum(1 for r in results.values() if r["status"] == "error")
    return BatchSummary(out=path, n_items=len(items), n_done=len(todo), n_skipped=n_skipped, n_failed=n_failed, results=results)
