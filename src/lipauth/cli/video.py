"""Commands on video clips: track, annotate, inspect, magnify, synth, demo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from lipauth.cli._app import EXIT_ERROR, OutPath, PlotPath, VideoOutPath, _echo_json, _track_file, cli, track_summary


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--out", type=OutPath(), help="Write the LipTrack as JSON here.")
@click.option("--plot", type=PlotPath(), help="Write a PNG of mouth opening, pose and quality.")
@click.option("--overlay", type=VideoOutPath(), help="Write a video with the tracking drawn on it.")
@click.option("--json", "as_json", is_flag=True, help="Print the LipTrack as JSON instead of a summary.")
def track(video: str, out: str | None, plot: str | None, overlay: str | None, as_json: bool) -> None:
    """Find and follow the lips in VIDEO."""
    from lipauth.viz import draw_overlay, plot_track

    clip, result = _track_file(video, quiet=as_json)
    if out:
        Path(out).write_text(json.dumps(result.to_dict(), allow_nan=False))
    if plot:
        plot_track(result, plot, title=f"{Path(video).name}: lip track")
    if overlay:
        draw_overlay(clip, result, overlay)
    if as_json:
        _echo_json(result.to_dict())
        return
    for line in track_summary(result, name=Path(video).name):
        click.echo(line)
    for label, path in (("track", out), ("plot", plot), ("overlay", overlay)):
        if path:
            click.echo(f"  {label} written to {path}")


@cli.command("inspect")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--plot", type=PlotPath(), help="Write a PNG of shape series, micro-movement and segments.")
@click.option("--out", type=OutPath(), help="Write the LipFeatures as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the LipFeatures as JSON instead of a summary.")
def inspect_command(video: str, plot: str | None, out: str | None, as_json: bool) -> None:
    """Lip-motion features of VIDEO: shape, micro-movement index, movement segments."""
    from lipauth.features import extract_lip_features
    from lipauth.viz import plot_features

    clip, result = _track_file(video, quiet=as_json)
    features = extract_lip_features(result, clip)
    if out:
        Path(out).write_text(json.dumps(features.to_dict(), allow_nan=False))
    if plot:
        plot_features(features, plot, title=f"{Path(video).name}: lip features")
    if as_json:
        _echo_json(features.to_dict())
        return
    n_micro = sum(1 for seg in features.segments if seg[2] == "micro")
    click.echo(f"{Path(video).name}: {features.n_frames} frames, face in {100 * result.detection_rate:.1f}%")
    click.echo(f"  micro-movement index {features.micro_movement_index:.2f}; "
               f"{len(features.segments)} movement segments ({n_micro} micro)")
    for start, end, label, peak in features.segments:
        click.echo(f"  {start:7.2f} - {end:7.2f} s  {label:<6}  peak {peak:.3f} face units")
    for label, path in (("features", out), ("plot", plot)):
        if path:
            click.echo(f"  {label} written to {path}")


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=VideoOutPath(), help="Magnified video (mp4, webm, ...).")
@click.option("--factor", default=10.0, show_default=True, type=click.FloatRange(0.0, 100.0, min_open=True),
              help="Amplification of lip motion (below 1 attenuates it).")
@click.option("--low-hz", default=0.5, show_default=True, type=click.FloatRange(0.0, min_open=True),
              help="Lowest lip-motion frequency magnified, Hz.")
@click.option("--high-hz", default=8.0, show_default=True, type=click.FloatRange(0.0, min_open=True),
              help="Highest lip-motion frequency magnified, Hz (above --low-hz, below half the frame rate).")
def magnify(video: str, out: str, factor: float, low_hz: float, high_hz: float) -> None:
    """Magnify lip motion in VIDEO (labial region only) so slight movements can be seen."""
    if high_hz <= low_hz:
        raise click.BadParameter(f"--high-hz {high_hz:g} must be above --low-hz {low_hz:g}", param_hint="'--high-hz'")
    from lipauth.errors import NoAudioStreamError
    from lipauth.features.magnify import _check_params, write_magnified
    from lipauth.io import load_audio

    _check_params(factor, low_hz, high_hz)  # the library's ranges (e.g. --high-hz <= 100), before tracking
    clip, result = _track_file(video, quiet=False)
    try:
        audio = load_audio(video)
    except NoAudioStreamError:
        audio = None
    write_magnified(out, clip, result, factor=factor, low_hz=low_hz, high_hz=high_hz, audio=audio)
    click.echo(f"{out}: lip motion x{factor:g} ({low_hz:g}-{high_hz:g} Hz) in the labial region of {Path(video).name}")


def _largest_first(paths: list[str]) -> list[str]:
    """Clips by file size, largest first, so no worker is left alone with a long clip at the end.

    A clip that cannot be stat'ed goes last: its worker records why it cannot be read.
    """
    def size(path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError:
            return -1

    return sorted(paths, key=size, reverse=True)


@cli.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=OutPath(), help="JSON Lines file: one line per frame.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary per clip instead of text.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool over the cores; ray: tasks on a Ray cluster (pip install 'lipauth[ray]').")
@click.option("--workers", type=click.IntRange(1, 1024), help="Parallel workers (default: the cores, at most one per clip).")
@click.option("--address", help="Ray cluster address (e.g. auto, ray://host:10001); with --engine ray.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip clips already tracked in OUT.batch.jsonl by an interrupted run with the same settings.")
def annotate(videos: tuple[str, ...], out: str, as_json: bool, engine: str, workers: int | None,
             address: str | None, resume: bool) -> None:
    """Write per-frame face box, labial box, lip landmarks, pose and quality of VIDEOS.

    Clips are tracked in parallel (``--engine``/``--workers``); each finished clip is
    recorded in OUT.batch.jsonl, so a rerun after an interruption skips it. A clip that
    fails is recorded as one error line in the output and reported on stderr; the others
    go on. Exit code 2 if any clip failed.
    """
    from lipauth import __version__
    from lipauth.batch import run_batch
    from lipauth.batch.tasks import annotate_clip, init_worker

    keys = list(dict.fromkeys(str(v) for v in videos))
    summary_run = run_batch(
        [(k, k) for k in _largest_first(keys)], annotate_clip, engine=engine, workers=workers, address=address,  # type: ignore[arg-type]
        out=f"{out}.batch.jsonl", resume=resume, settings={"task": "annotate", "lipauth": __version__, "backend": "mediapipe",
                                                "result": "rows"},
        initializer=init_worker, progress=not as_json, description="tracking",
    )
    failed = 0
    with open(out, "w", encoding="utf-8") as fh:
        for name in keys:
            rec = summary_run.results[name]
            if rec["status"] == "error":
                failed += 1
                err = rec["error"]
                fh.write(json.dumps({"video": name, "error": err["code"], "message": err["message"]}) + "\n")
                click.echo(f"lipauth: error: {err['message']}", err=True)
                continue
            result = rec["result"]  # rows formatted by the worker (annotate_clip): only written here
            fh.write(result["rows"])
            summary = {"video": name, "n_frames": result["n_frames"], "detection_rate": result["detection_rate"]}
            if as_json:
                _echo_json(summary)
            else:
                click.echo(f"{name}: {result['n_frames']} frames, face in {100 * result['detection_rate']:.1f}%")
    if not as_json:
        resumed = f", {summary_run.n_skipped} resumed" if summary_run.n_skipped else ""
        click.echo(f"annotations written to {out} ({len(keys) - failed} clips, {failed} failed{resumed})")
    if failed:
        sys.exit(EXIT_ERROR)


def _parse_size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise click.BadParameter(f"{value!r}: width and height must be 16 to 4096")
    return w, h


def _parse_window(value: str) -> tuple[float, float]:
    """``"1-2.5"`` -> ``(1.0, 2.5)`` seconds (click.BadParameter otherwise)."""
    try:
        start, end = (float(v) for v in value.split("-"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not START-END in seconds, e.g. 1-2.5", param_hint="'--blow-window'") from None
    if not 0 <= start < end:
        raise click.BadParameter(f"{value!r}: need 0 <= START < END", param_hint="'--blow-window'")
    return start, end


@cli.command()
@click.argument("out", type=VideoOutPath())
@click.option("--duration-s", default=3.0, show_default=True, type=click.FloatRange(0.2, 600), help="Length of the clip, seconds.")
@click.option("--fps", default=30.0, show_default=True, type=click.FloatRange(1, 240), help="Frame rate.")
@click.option("--size", default="640x480", show_default=True, help="WIDTHxHEIGHT of the frames.")
@click.option("--face-width-px", default=200, show_default=True, type=click.IntRange(20, 2000),
              help="Width of the face in the frame, pixels.")
@click.option("--head-motion/--no-head-motion", default=False, show_default=True,
              help="Smooth random head shift, roll and scale.")
@click.option("--lighting-change/--no-lighting-change", default=False, show_default=True,
              help="Gain and gamma ramp over the middle of the clip.")
@click.option("--audio", default="syllables", show_default=True,
              help="syllables, silence, blow (needs --blow-window) or a WAV file.")
@click.option("--blow-window", "blow_windows", multiple=True, metavar="START-END",
              help="Blow at the screen (pursed lips, breath sound) from START to END seconds; repeatable.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the syllables, head motion and noise.")
@click.option("--truth", type=OutPath(), help="Write the ground truth as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the ground truth as JSON.")
def synth(out: str, duration_s: float, fps: float, size: str, face_width_px: int, head_motion: bool,
          lighting_change: bool, audio: str, blow_windows: tuple[str, ...], seed: int, truth: str | None,
          as_json: bool) -> None:
    """Make a synthetic talking-face clip OUT (.mp4, .webm, ...) with known ground truth."""
    from lipauth.synth import make_talking_clip

    windows = [_parse_window(w) for w in blow_windows]
    if audio == "blow" and not windows:
        raise click.BadParameter("--audio blow needs at least one --blow-window START-END, e.g. --blow-window 1-2.5",
                                 param_hint="'--audio'")
    from lipauth.errors import NoAudioStreamError

    try:
        clip = make_talking_clip(
            out, duration_s=duration_s, fps=fps, size=_parse_size(size), face_width_px=face_width_px,
            head_motion=head_motion, lighting_change=lighting_change, audio=audio, seed=seed,
            blow_windows_s=windows or None,
        )
    except NoAudioStreamError:  # the library's "pass audio=..." means nothing on the command line
        raise click.BadParameter(f"{audio}: no audio stream; give --audio syllables, silence, blow or a sound file "
                                 "(wav, mp3, ...)", param_hint="'--audio'") from None
    data = clip.truth_dict()
    if truth:
        Path(truth).write_text(json.dumps(data))
    if as_json:
        _echo_json(data)
        return
    n_speech = len(clip.speech_intervals_s)
    click.echo(f"{out}: {len(clip.timestamps_s)} frames at {fps:g} fps, {size}, face {face_width_px} px, "
               f"{n_speech} speech intervals, audio {audio}")
    if truth:
        click.echo(f"  ground truth written to {truth}")


@cli.command()
@click.option("--out-dir", type=click.Path(file_okay=False), help="Where to write the demo files (default: $LIPAUTH_DATA_DIR/demo).")
@click.option("--video", type=click.Path(dir_okay=False), help="Track this clip instead of a synthetic one.")
@click.option("--json", "as_json", is_flag=True, help="Print the track summary as JSON.")
def demo(out_dir: str | None, video: str | None, as_json: bool) -> None:
    """Make a talking-face clip, track its lips, print a summary and write the plots."""
    from lipauth.config import data_dir
    from lipauth.synth import make_talking_clip
    from lipauth.viz import draw_overlay, plot_track

    target = Path(out_dir) if out_dir else data_dir(create=True) / "demo"
    made = [p for p in (target, *target.parents) if not p.exists()]  # folders this run creates
    target.mkdir(parents=True, exist_ok=True)
    truth = None
    try:
        if video is None:
            video = str(target / "demo.mp4")
            clip = make_talking_clip(video, duration_s=6.0, fps=30.0, size=(640, 480), face_width_px=220,
                                     head_motion=True, lighting_change=True, audio="syllables", seed=7)
            truth = clip.opening
            if not as_json:
                click.echo(f"made a 6-s synthetic talking-face clip from a real face still: {video}")
        clip_video, result = _track_file(video, quiet=as_json)
        plot = plot_track(result, target / "mouth.png", title=f"{Path(video).name}: lip track")
        overlay = draw_overlay(clip_video, result, target / "overlay.mp4")
    except BaseException:  # a --video that is no clip or has no face: leave no empty folder behind
        for folder in made:  # deepest first; a folder with files in it stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    summary: dict[str, Any] = {"video": video, "n_frames": result.n_frames, "detection_rate": result.detection_rate,
                               "plot": str(plot), "overlay": str(overlay)}
    if truth is not None:
        ok = result.detected
        r = float(np.corrcoef(result.inner_opening()[ok], np.asarray(truth)[: result.n_frames][ok])[0, 1])
        summary["opening_vs_truth_r"] = r
    if as_json:
        _echo_json(summary)
        return
    for line in track_summary(result, name=Path(video).name):
        click.echo(line)
    if truth is not None:
        click.echo(f"  measured opening vs ground truth: r = {summary['opening_vs_truth_r']:.3f}")
    click.echo(f"  plot: {plot}")
    click.echo(f"  overlay video: {overlay}")


