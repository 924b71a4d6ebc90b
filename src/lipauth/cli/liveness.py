"""``lipauth challenge new`` and ``lipauth liveness``: challenge-response liveness."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np

from lipauth.cli._app import _echo_json, cli


@cli.group()
def challenge() -> None:
    """Signed challenge schedules (blow at the screen, timed speech)."""


@challenge.command("new")
@click.option("--kind", type=click.Choice(["blow", "speech"]), default="blow", show_default=True, help="What to prompt.")
@click.option("--seed", type=int, default=None, help="Seed for the schedule (the nonce is always random).")
@click.option("--ttl-s", "--ttl", "ttl_s", type=float, default=120.0, show_default=True, help="Seconds until it expires.")
def challenge_new(kind: str, seed: int | None, ttl_s: float) -> None:
    """Print a new signed challenge as JSON (key: $LIPAUTH_CHALLENGE_KEY or the data dir's key file)."""
    from lipauth.challenge import new_challenge

    _echo_json(new_challenge(kind, rng=seed, ttl_s=ttl_s).to_dict())


@cli.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--challenge", "challenge_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The challenge JSON that 'lipauth challenge new' printed.")
@click.option("--sensors", "sensors_path", type=click.Path(exists=True, dir_okay=False),
              help="DeviceMotion samples recorded with the clip (JSON list of {t_ms, ax, ay, az, alpha, beta, gamma}).")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="Write a PNG of prompts, audio and mouth on one time axis.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def liveness(video: str, challenge_path: str, sensors_path: str | None, plot: str | None, as_json: bool) -> None:
    """Check a recorded response VIDEO against its challenge (signature, expiry, schedule).

    Exit code 0 when accepted, 1 when rejected (like ``lipauth verify``), 2 on bad input.
    """
    from lipauth.auth import check_liveness, public_check_dict
    from lipauth.errors import ChallengeTamperedError

    try:
        data = json.loads(Path(challenge_path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ChallengeTamperedError(f"{challenge_path}: not valid JSON ({exc}); pass the JSON 'lipauth challenge new' printed") from None
    sensor_text = Path(sensors_path).read_text(encoding="utf-8") if sensors_path else None
    report = check_liveness(video, challenge=data, sensors=sensor_text, plot=bool(plot))
    if plot and report.timeline_png is not None:
        Path(plot).write_bytes(report.timeline_png)
    ch, result, sensors, accepted = report.challenge, report.result, report.sensors, report.accepted
    if as_json:
        _echo_json({"accepted": accepted, "challenge": public_check_dict(result), "sensors": sensors.to_dict()})
    else:
        verdict = "ACCEPTED" if accepted else "REJECTED"
        click.echo(f"{Path(video).name}: {verdict}")
        score = f"score {result.score:.2f}" if math.isfinite(result.score) else "not scored"
        click.echo(f"  {ch.kind} challenge: {score} (threshold {result.threshold:.2f}) "
                   f"reasons: {', '.join(result.reasons) or 'none'}")
        cov = {k: v for k, v in result.details.items() if k.endswith("coverage") or k.endswith("outside")}
        if cov:
            click.echo("  " + ", ".join(f"{k} {np.round(v, 2).tolist()}" for k, v in cov.items()))
        if sensors.available:
            click.echo(f"  sensors: score {sensors.score:.2f} reasons: {', '.join(sensors.reasons) or 'none'}")
        else:
            click.echo("  sensors: not available")
    if not accepted:
        raise click.exceptions.Exit(1)
