"""``lipauth enrol``, ``lipauth verify``, ``lipauth users list|delete|unlock``, ``lipauth keys rotate``.

The store is ``$LIPAUTH_STORE_URL`` or a SQLite file in ``$LIPAUTH_DATA_DIR`` (``--store``
overrides); the template key is ``$LIPAUTH_KEY`` or the 0600 key file next to it.
"""

from __future__ import annotations

import base64
import math
import time
from pathlib import Path
from typing import Any

import click

from lipauth.cli._app import _echo_json, cli

_STORE_OPT = click.option("--store", "store_url", default=None, help="Store URL (default $LIPAUTH_STORE_URL or SQLite in the data dir).")
_JSON_OPT = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a summary.")


def _open(store_url: str | None) -> Any:
    from lipauth.store import Store

    return Store(store_url)


def _check_names(user: str, label: str | None) -> None:
    """:class:`BadUserNameError` / :class:`BadLabelError` for names the service would refuse (exit 2)."""
    from lipauth.service.security import check_label, check_user_name

    check_user_name(user)
    if label is not None:
        check_label(label)


def _auth(store_url: str | None, threshold: float | None = None) -> Any:
    from lipauth.auth import AuthConfig, Authenticator
    from lipauth.checks.password import PasswordConfig
    from lipauth.decision import Policy

    if threshold is None:
        cfg = AuthConfig()
    else:  # a stored template keeps the threshold it was enrolled with: the override is the policy's
        PasswordConfig(threshold=threshold)  # its range check (-10 to 1), one line on a bad value
        cfg = AuthConfig(policy=Policy(thresholds={"password": float(threshold)}))
    return Authenticator(cfg, _open(store_url))


@cli.command()
@click.argument("user")
@click.argument("takes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--label", "--passphrase-label", "label", default="default", show_default=True, help="Name of this password (a user may have several).")
@_STORE_OPT
@_JSON_OPT
def enrol(user: str, takes: tuple[str, ...], label: str, store_url: str | None, as_json: bool) -> None:
    """Enrol USER's lip password from 3 or more TAKES (clips of the same lip movement).

    USER: 1 to 64 characters from A-Z a-z 0-9 . _ @ - (the names the service and page accept).
    """
    _check_names(user, label)  # a name the service refuses could never unlock on the page
    template = _auth(store_url).enrol(user, list(takes), label=label)
    out = {"user": user, "label": label, "n_takes": template.n_takes, "enrolment_spread": template.spread}
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"enrolled {user!r} ({label}) from {template.n_takes} takes; take-to-take spread {template.spread:.2f}")


@cli.command()
@click.argument("user")
@click.argument("current", type=click.Path(dir_okay=False))
@click.argument("takes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--label", "--passphrase-label", "label", default="default", show_default=True, help="Which password to replace.")
@_STORE_OPT
@_JSON_OPT
def change(user: str, current: str, takes: tuple[str, ...], label: str, store_url: str | None, as_json: bool) -> None:
    """Change USER's lip password: CURRENT (a clip of the old one) must verify, then TAKES (3 or more) replace it.

    Exit code 0 when changed, 1 when CURRENT was rejected (nothing changed), 2 on bad input.
    """
    from lipauth.checks.password import PasswordConfig
    from lipauth.errors import TooFewTakesError

    _check_names(user, label)
    need = PasswordConfig().min_takes
    if len(takes) < need:  # before CURRENT is verified (a verify counts as an attempt)
        raise TooFewTakesError(f"got {len(takes)} new take(s); record at least {need} takes of the new lip movement")
    result = _auth(store_url).change(user, current, list(takes), label=label)
    if as_json:
        _echo_json({"changed": result.accepted, **result.to_dict()})
    elif result.accepted:
        click.echo(f"changed {user!r} ({label}) to the password of {len(takes)} new takes")
    else:
        click.echo(f"NOT CHANGED: {Path(current).name} was rejected ({', '.join(result.reasons) or 'no reason'})")
    if not result.accepted:
        raise click.exceptions.Exit(1)


@cli.command()
@click.argument("user")
@click.argument("clip", type=click.Path(dir_okay=False))
@click.option("--label", "--passphrase-label", "label", default=None, help="Which password (default: the best of the user's passwords).")
@click.option("--threshold", type=float, default=None, help="Override the matching-degree threshold.")
@_STORE_OPT
@_JSON_OPT
def verify(user: str, clip: str, label: str | None, threshold: float | None, store_url: str | None, as_json: bool) -> None:
    """Verify CLIP as USER's lip password; exit 0 when accepted, 1 when rejected."""
    _check_names(user, label)  # before the store: a bad name gets no lock-out row
    result = _auth(store_url, threshold).verify(user, clip, label=label)
    if as_json:
        _echo_json(result.to_dict())
    else:
        word = "ACCEPTED" if result.accepted else "REJECTED"
        score, thr = result.score, result.threshold
        line = f"{word}: matching degree {score:.3f} vs threshold {thr:.3f}" if math.isfinite(score) else word
        if result.reasons:
            line += f" ({', '.join(result.reasons)})"
        if result.retry_after_s > 0:
            line += f"; locked, retry in {result.retry_after_s:.0f} s"
        click.echo(line)
    if not result.accepted:
        raise click.exceptions.Exit(1)


@cli.group()
def users() -> None:
    """List, delete or unlock enrolled users."""


@users.command("list")
@_STORE_OPT
@_JSON_OPT
def users_list(store_url: str | None, as_json: bool) -> None:
    """List enrolled users, their password labels and lock-out state."""
    rows = _open(store_url).users()
    if as_json:
        _echo_json([r.to_dict() for r in rows])
        return
    now = time.time()
    for r in rows:
        lock = f", locked {r.locked_until - now:.0f} s" if r.locked_until and r.locked_until > now else ""
        click.echo(f"{r.name}: passwords {', '.join(r.labels)}; failed attempts {r.failed_count}{lock}")
    if not rows:
        click.echo("no users enrolled")


@users.command("delete")
@click.argument("user")
@_STORE_OPT
def users_delete(user: str, store_url: str | None) -> None:
    """Delete USER and erase their templates."""
    _open(store_url).delete_user(user)
    click.echo(f"deleted {user!r}")


@users.command("unlock")
@click.argument("user")
@_STORE_OPT
def users_unlock(user: str, store_url: str | None) -> None:
    """Clear USER's failed attempts and lock-out (admin)."""
    _open(store_url).unlock(user)
    click.echo(f"unlocked {user!r}")


@cli.group()
def keys() -> None:
    """Template encryption keys."""


@keys.command("rotate")
@_STORE_OPT
def keys_rotate(store_url: str | None) -> None:
    """Re-encrypt every template under a new key (one transaction)."""
    store = _open(store_url)
    source = store.keyring.source
    key = store.rotate_key()
    if source == "env":
        click.echo("templates re-encrypted; set LIPAUTH_KEY to the new key before the next run:")
        click.echo(base64.b64encode(key).decode())
    else:
        click.echo(f"templates re-encrypted; new key written to {source} (mode 0600)")
