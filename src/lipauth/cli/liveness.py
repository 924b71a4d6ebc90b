"""``lipauth challenge new`` and ``lipauth liveness``: challenge-response liveness."""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np

from lipauth.cli._app import PlotPath, _echo_json, cli


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
@click.option("--plot", type=PlotPath(png_only=True), help="Write a PNG of prompts, audio and mouth on one time axis.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--store", "store_url", default=None,
              help="Store whose used nonces are checked (default $LIPAUTH_STORE_URL or SQLite in the data dir, as 'lipauth serve').")
def liveness(video: str, challenge_path: str, sensors_path: str | None, plot: str | None, as_json: bool,
             store_url: str | None) -> None:
    """Check a recorded response VIDEO against its challenge (signature, expiry, schedule, single use).

    The challenge's nonce is used up in the store shared with ``lipauth serve``: a challenge
    already answered (here or over HTTP) is refused (exit 2).
    Exit code 0 when accepted, 1 when rejected (like ``lipauth verify``), 2 on bad input.
    """
    from lipauth.auth import check_liveness, public_check_dict
    from lipauth.challenge import verify_challenge
    from lipauth.errors import ChallengeReusedError, ChallengeTamperedError, SensorDataError
    from lipauth.io.jsontext import loads_bounded
    from lipauth.store import SqlNonceStore, Store

    data = loads_bounded(Path(challenge_path).read_bytes(), what=f"{challenge_path}", error=ChallengeTamperedError)
    sensors = None
    if sensors_path:
        sensors = loads_bounded(Path(sensors_path).read_bytes(), what=f"{sensors_path}", error=SensorDataError)
    # the nonce is checked and used up in the same store as the service's (LIPAUTH_DATA_DIR or
    # LIPAUTH_STORE_URL): a challenge answered once, here or over HTTP, is refused the next time
    with Store(store_url) as store:
        # an answered challenge is refused before seconds of tracking (read only: the nonce is used up
        # by check_liveness once the clip decodes, so a broken file does not waste the challenge)
        ch = verify_challenge(data)
        if store.nonce_used(ch.nonce):
            raise ChallengeReusedError(
                f"challenge {ch.nonce[:8]}... was already answered once; request a new challenge for every attempt")
        report = check_liveness(video, challenge=data, sensors=sensors, plot=bool(plot), nonce_store=SqlNonceStore(store))
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
        if "CLIP_TOO_SHORT" in result.reasons and {"clip_s", "schedule_s"} <= result.details.keys():
            click.echo(f"  the clip lasts {result.details['clip_s']:.1f} s; the challenge's prompts need "
                       f"{result.details['schedule_s']:.1f} s: record until the last prompt ends")
        cov = {k: v for k, v in result.details.items() if k.endswith("coverage") or k.endswith("outside")}
        if cov:
            click.echo("  " + ", ".join(f"{k} {np.round(v, 2).tolist()}" for k, v in cov.items()))
        if sensors.available:
            click.echo(f"  sensors: score {sensors.score:.2f} reasons: {', '.join(sensors.reasons) or 'none'}")
        else:
            click.echo("  sensors: not available")
    if not accepted:
        raise click.exceptions.Exit(1)
