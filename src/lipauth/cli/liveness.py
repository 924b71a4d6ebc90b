"""``lipauth challenge new`` and ``lipauth liveness``: challenge-response liveness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from lipauth.cli._app import _echo_json, _track_file, cli


@cli.group()
def challenge() -> None:
    """Signed challenge schedules (blow at the screen, timed speech)."""


@challenge.command("new")
@click.option("--kind", type=click.Choice(["blow", "speech"]), default="blow", show_default=True, help="What to prompt.")
@click.option("--seed", type=int, default=None, help="Seed for the schedule (the nonce is always random).")
@click.option("--ttl", "ttl_s", type=float, default=120.0, show_default=True, help="Seconds until it expires.")
def challenge_new(kind: str, seed: int | None, ttl_s: float) -> None:
    """Print a new signed challenge as JSON (key: $LIPAUTH_CHALLENGE_KEY or the data dir's key file)."""
    from lipauth.challenge import new_challenge

    _echo_json(new_challenge(kind, rng=seed, ttl_s=ttl_s).to_dict())


def _plot_timeline(result: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.timestamps_s
    fig, ax = plt.subplots(2, 1, figsize=(9, 4), sharex=True)
    for a in ax:
        for s, e, prompt in result.windows:
            a.axvspan(s, e, color="tab:orange", alpha=0.2, label=f"prompt: {prompt}")
    ax[0].plot(t, result.audio_activity, color="tab:blue")
    ax[0].set_ylabel("blow prob." if result.check == "blow" else "voice")
    ax[0].set_ylim(-0.05, 1.05)
    ax[1].step(t, result.mouth_state, where="post", color="tab:green")
    ax[1].set_yticks([0, 1, 2], ["neutral", "blow", "open"])
    ax[1].set_xlabel("time (s)")
    fig.suptitle(f"{result.check}: score {result.score:.2f} (threshold {result.threshold:.2f}) "
                 f"{'accepted' if result.accepted else 'rejected'} {' '.join(result.reasons)}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--challenge", "challenge_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The challenge JSON that 'lipauth challenge new' printed.")
@click.option("--sensors", "sensors_path", type=click.Path(exists=True, dir_okay=False),
              help="DeviceMotion samples recorded with the clip (JSON list of {t_ms, ax, ay, az, alpha, beta, gamma}).")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="Write a PNG of prompts, audio and mouth on one time axis.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def liveness(video: str, challenge_path: str, sensors_path: str | None, plot: str | None, as_json: bool) -> None:
    """Check a recorded response VIDEO against its challenge (signature, expiry, schedule)."""
    from lipauth.challenge import verify_challenge
    from lipauth.checks.blow import check_blow
    from lipauth.checks.sensors import check_sensors, parse_sensor_json
    from lipauth.checks.speech import check_speech_challenge
    from lipauth.errors import ChallengeTamperedError
    from lipauth.features import extract_lip_features
    from lipauth.io import load_audio

    try:
        data = json.loads(Path(challenge_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ChallengeTamperedError(f"{challenge_path}: not valid JSON ({exc}); pass the JSON 'lipauth challenge new' printed") from None
    ch = verify_challenge(data)
    audio = load_audio(video)
    vid, track = _track_file(video, quiet=as_json)
    features = extract_lip_features(track, vid)
    check = check_blow if ch.kind == "blow" else check_speech_challenge
    result = check(features, audio, ch)
    sensors = check_sensors(parse_sensor_json(Path(sensors_path).read_text(encoding="utf-8")) if sensors_path else None)
    if plot:
        _plot_timeline(result, plot)
    accepted = bool(result.accepted and (sensors.accepted or not sensors.available))
    if as_json:
        out = result.to_dict()
        for k in ("timestamps_s", "audio_activity", "mouth_state"):
            out.pop(k, None)
        _echo_json({"accepted": accepted, "challenge": out, "sensors": sensors.to_dict()})
        return
    verdict = "ACCEPTED" if accepted else "REJECTED"
    click.echo(f"{Path(video).name}: {verdict}")
    click.echo(f"  {ch.kind} challenge: score {result.score:.2f} (threshold {result.threshold:.2f}) "
               f"reasons: {', '.join(result.reasons) or 'none'}")
    cov = {k: v for k, v in result.details.items() if k.endswith("coverage") or k.endswith("outside")}
    click.echo("  " + ", ".join(f"{k} {np.round(v, 2).tolist()}" for k, v in cov.items()))
    if sensors.available:
        click.echo(f"  sensors: score {sensors.score:.2f} reasons: {', '.join(sensors.reasons) or 'none'}")
    else:
        click.echo("  sensors: not available")
