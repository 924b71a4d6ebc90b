"""The ``lipauth`` command group, the entry point and helpers shared by the command modules.

Conventions for every command: a short human summary on stdout by default; with
``--json`` the result's ``to_dict()`` on stdout instead; progress bars on stderr; options
also from the environment (``LIPAUTH_<COMMAND>_<OPTION>``, e.g. ``LIPAUTH_TRACK_PLOT``) and
``LIPAUTH_DATA_DIR`` for everything lipauth keeps. Errors: one line on stderr starting
``lipauth: error:`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from lipauth import __version__
from lipauth.errors import LipAuthError
from lipauth.types import LipTrack, QualityFlag

EXIT_ERROR = 2
LONG_CLIP_FRAMES = 150  # show a progress bar from this many frames on

log = logging.getLogger("lipauth.cli")


# --------------------------------------------------------------------------------------
# helpers


class OutPath(click.Path):
    """An output file whose folder must exist and be writable: checked when the options are
    parsed, not after seconds of tracking."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        folder = Path(os.fsdecode(rv)).absolute().parent
        if not folder.is_dir():
            self.fail(f"folder {os.fspath(folder)!r} does not exist; create it first", param, ctx)
        if not os.access(folder, os.W_OK):
            self.fail(f"folder {os.fspath(folder)!r} is not writable", param, ctx)
        return rv


class PlotPath(OutPath):
    """An output plot (``--plot``): also a suffix it can be written as (``lipauth.viz.plot_format``:
    .png, .svg, .pdf, ...; none means PNG at that very path), checked before any tracking."""

    def __init__(self, *, png_only: bool = False) -> None:
        super().__init__()
        self.png_only = png_only

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from lipauth.errors import ConfigError
        from lipauth.viz import plot_format

        rv = super().convert(value, param, ctx)
        try:
            plot_format(os.fsdecode(rv), png_only=self.png_only)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        return rv


class VideoOutPath(OutPath):
    """An output video (``--overlay``, ``magnify --out``, ``synth OUT``): also a suffix lipauth can
    write a video into (not ``.txt``, not audio-only ``.wav``), checked before any tracking."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from lipauth.errors import ConfigError
        from lipauth.io.write import check_video_path

        rv = super().convert(value, param, ctx)
        try:
            check_video_path(os.fsdecode(rv))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        return rv


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, separators=(",", ":"), allow_nan=False))


def _pct(mask: np.ndarray) -> str:
    return f"{100.0 * float(mask.mean()) if mask.size else 0.0:.1f}%"


def track_summary(track: LipTrack, *, name: str) -> list[str]:
    """Readable lines about a track (the CLI's default output)."""
    n = track.n_frames
    det = track.detected
    duration = float(track.timestamps_s[-1] - track.timestamps_s[0]) if n > 1 else 0.0
    fps = (n - 1) / duration if duration > 0 else float("nan")
    lines = [
        f"{name}: {n} frames, {duration:.2f} s, {fps:.1f} fps, {track.width}x{track.height}, backend {track.backend}",
        f"  face found in {int(det.sum())}/{n} frames ({_pct(det)}); other faces present in "
        f"{int((track.n_faces > 1).sum())} frames",
    ]
    if det.any():
        opening = track.inner_opening()[det]
        width = track.mouth_width()[det]
        yaw, pitch, roll = (np.abs(track.pose[det, k]) for k in range(3))
        face_w = (track.face_box[det, 2] - track.face_box[det, 0])
        lines += [
            f"  inner-lip opening (face units): median {np.median(opening):.3f}, "
            f"p95 {np.percentile(opening, 95):.3f}, max {opening.max():.3f}",
            f"  mouth width (face units): median {np.median(width):.3f}; face width median {np.median(face_w):.0f} px",
            f"  head pose |yaw| {np.median(yaw):.1f}, |pitch| {np.median(pitch):.1f}, |roll| {np.median(roll):.1f} deg (median)",
        ]
    flags = [
        f"{flag.name.lower().replace('_', ' ')} {_pct(track.has_flag(flag))}"
        for flag in (QualityFlag.FACE_TOO_SMALL, QualityFlag.EXTREME_POSE, QualityFlag.TOO_DARK, QualityFlag.BLURRED)
    ]
    lines.append("  quality: " + ", ".join(flags))
    return lines


def _track_file(path: str, *, quiet: bool, video: Any = None) -> tuple[Any, LipTrack]:
    """Track ``path`` (or ``video``, already opened from it with ``load_video(path, lazy=True)``)."""
    from lipauth.batch.engine import progress_bar
    from lipauth.io import load_video
    from lipauth.tracking import track_lips

    if video is None:
        video = load_video(path, lazy=True)
    with progress_bar(f"tracking {Path(path).name}", video.n_frames, enabled=not quiet, min_total=LONG_CLIP_FRAMES) as progress:
        track = track_lips(video, progress=progress)
    return video, track


# --------------------------------------------------------------------------------------
# commands


@click.group(context_settings={"auto_envvar_prefix": "LIPAUTH", "help_option_names": ["-h", "--help"]},
             epilog="Everything is kept in $LIPAUTH_DATA_DIR (default ~/.local/share/lipauth). Start with "
                    "'lipauth demo' (offline tracker demo) or 'lipauth serve' (API and browser page on "
                    "http://127.0.0.1:8000/). Options also come from LIPAUTH_<COMMAND>_<OPTION> variables. "
                    "Exit codes: 0 ok, 1 rejected (verify, change, liveness, sync), 2 any error (bad input, internal error).")
@click.version_option(__version__, prog_name="lipauth")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) on stderr.")
def cli(verbose: int) -> None:
    """lipauth: liveness and authentication from lip movement."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if verbose < 2:  # MediaPipe's C++ (glog/absl) warnings on stderr, e.g. "Feedback manager requires a model ..."
        os.environ.setdefault("GLOG_minloglevel", "2")
    logging.basicConfig(level=level, format="lipauth: %(levelname)s: %(message)s", stream=sys.stderr)


def name_option_envvars(group: click.Group, prefix: str = "LIPAUTH") -> None:
    """Give every option the variable the docs name, ``LIPAUTH_<COMMAND>_<OPTION>`` from its long
    option (``--json`` of ``lipauth sync``: ``LIPAUTH_SYNC_JSON``; ``--store`` of ``lipauth users
    list``: ``LIPAUTH_USERS_LIST_STORE``). Click's automatic name comes from the Python parameter
    (``as_json``, ``store_url``) and still works as a fallback."""
    for name, command in group.commands.items():
        path = f"{prefix}_{name.upper().replace('-', '_')}"
        for param in command.params:
            if not isinstance(param, click.Option) or param.envvar is not None or param.name == "help":
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if longs:
                param.envvar = f"{path}_{longs[0][2:].upper().replace('-', '_')}"
        if isinstance(command, click.Group):
            name_option_envvars(command, path)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every expected error into one stderr line."""
    try:
        rv = cli.main(args=argv, prog_name="lipauth", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("lipauth: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # a wrong argument or option: one line too, with where to look
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without its subcommand: its help
            exc.show()
            sys.exit(EXIT_ERROR)
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"lipauth: error: {exc.format_message()}{where}", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        click.echo(f"lipauth: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_ERROR)
    except LipAuthError as exc:
        click.echo(f"lipauth: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:  # writing an output file, mostly
        click.echo(f"lipauth: error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a bug: still one line, the traceback only with -vv; never 1 ("rejected")
        log.debug("internal error", exc_info=True)
        click.echo(f"lipauth: internal error: {type(exc).__name__}: {str(exc)[:200]} (rerun with -vv for details)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)

