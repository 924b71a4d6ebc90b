"""``lipauth sync``: audio/video offset, confidence and verdict of a talking clip."""

from __future__ import annotations

import math
from pathlib import Path

import click

from lipauth.cli._app import PlotPath, _echo_json, _track_file, cli


def _offset_words(offset_ms: float) -> str:
    """``offset_ms`` (positive: the voice comes late) in words: a bare "-10 ms" read as "10 ms late"."""
    ms = round(offset_ms)
    if ms == 0:
        return "offset +0 ms (voice and lips together)"
    return f"offset {ms:+d} ms (the voice {abs(ms)} ms {'after' if ms > 0 else 'before'} the lips)"


@cli.command("sync")
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--audio", "audio_path", type=click.Path(dir_okay=False),
              help="Audio file to check against the video (default: the video's own audio stream).")
@click.option("--plot", type=PlotPath(),
              help="Write a PNG of lip motion and audio on one time axis with the best offset.")
@click.option("--max-offset-ms", default=1000.0, show_default=True, type=click.FloatRange(40.0, 5000.0),
              help="Search audio offsets up to this many milliseconds either way.")
@click.option("--json", "as_json", is_flag=True, help="Print the SyncResult as JSON instead of a summary.")
def sync_command(video: str, audio_path: str | None, plot: str | None, max_offset_ms: float, as_json: bool) -> None:
    """Do the lips in VIDEO move with its voice? Prints offset, confidence and verdict.

    Exit code 0 in sync, 1 rejected, 2 on bad input (no sound: pass --audio).
    """
    from lipauth.checks.sync import check_sync, require_sound
    from lipauth.errors import NoAudioStreamError
    from lipauth.features import extract_lip_features
    from lipauth.io import load_audio, load_video

    clip = load_video(video, lazy=True)  # a photo or a damaged file is named as such, not as "no audio stream"
    try:
        audio = load_audio(audio_path if audio_path else video)
    except NoAudioStreamError as exc:
        if audio_path:  # the library's "pass audio=..." means nothing on the command line
            raise NoAudioStreamError(f"{audio_path}: no audio stream; give --audio a sound file (wav, mp3, ...) "
                                     "or a clip recorded with sound") from exc
        raise NoAudioStreamError(f"{video}: no audio stream; pass the recorded sound with --audio AUDIO") from exc
    require_sound(audio)  # a muted microphone is refused before seconds of tracking
    _clip, track = _track_file(video, quiet=as_json, video=clip)
    features = extract_lip_features(track)
    result = check_sync(features, audio, max_offset_ms=max_offset_ms)
    if plot:
        from lipauth.viz import plot_sync

        plot_sync(features, audio, result, plot, title=Path(video).name)
    if as_json:
        _echo_json(result.to_dict())
    else:
        verdict = "IN SYNC (accepted)" if result.accepted else "REJECTED: " + ", ".join(result.reasons)
        click.echo(f"{Path(video).name}: {verdict}")
        click.echo(f"  score {result.score:.3f} (threshold {result.threshold:.3f})" if math.isfinite(result.score)
                   else f"  not scored (threshold {result.threshold:.3f})")
        click.echo(f"  {_offset_words(result.offset_ms)}, confidence {result.confidence:.1f}" if math.isfinite(result.offset_ms)
                   else "  offset not measured")
        if plot:
            click.echo(f"  plot written to {plot}")
    if not result.accepted:  # like verify and liveness: 0 accepted, 1 rejected, 2 error
        raise click.exceptions.Exit(1)
