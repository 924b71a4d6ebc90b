"""``lipauth serve`` (the HTTP service and its page) and ``lipauth apikeys create|revoke|list``."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from typing import Any

import click

from lipauth.cli._app import _echo_json, cli

_STORE_OPT = click.option("--store", "store_url", default=None, help="Store URL (default $LIPAUTH_STORE_URL or SQLite in the data dir).")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_can_listen(host: str, port: int) -> None:
    """Raise :class:`ConfigError` when ``host:port`` cannot be bound (in use, not an address of this machine).

    Checked before the app and its worker processes start, so the error is one line
    instead of a "serving on" line followed by uvicorn's own error.
    """
    from lipauth.errors import ConfigError

    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((bare, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                              "stop the program using that port, pick another --port, or check that --host is this machine's") from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Analysis processes (default $LIPAUTH_WORKERS or the cores).")
@click.option("--no-page-key", is_flag=True, help="Do not make the in-memory API key for the page (always off on non-loopback hosts).")
def serve(host: str, port: int, workers: int | None, no_page_key: bool) -> None:
    """Serve the HTTP API and the browser page (settings from LIPAUTH_* variables; see the README)."""
    from lipauth.service import Settings, create_app
    from lipauth.service.app import serve_app

    check_can_listen(host, port)
    overrides: dict[str, Any] = {}
    if workers is not None:
        overrides["workers"] = workers
    if not no_page_key and is_loopback(host):
        overrides["page_key"] = "lkp_" + secrets.token_urlsafe(32)
    settings = Settings.from_env(**overrides)
    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"lipauth: serving on http://{shown}:{port}/")
    serve_app(app, host=host, port=port)


@cli.group()
def apikeys() -> None:
    """API keys of client apps (stored as SHA-256 hashes)."""


@apikeys.command("create")
@click.argument("name")
@_STORE_OPT
def apikeys_create(name: str, store_url: str | None) -> None:
    """Create a key for client app NAME and print it (shown only this once)."""
    from lipauth.store import Store

    with Store(store_url) as store:
        click.echo(store.create_api_key(name))


@apikeys.command("revoke")
@click.argument("name")
@_STORE_OPT
def apikeys_revoke(name: str, store_url: str | None) -> None:
    """Revoke the key of client app NAME."""
    from lipauth.store import Store

    with Store(store_url) as store:
        store.revoke_api_key(name)
    click.echo(f"revoked API key {name!r}")


@apikeys.command("list")
@_STORE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def apikeys_list(store_url: str | None, as_json: bool) -> None:
    """List API keys (names and dates, never the keys)."""
    from lipauth.store import Store

    with Store(store_url) as store:
        keys = store.api_keys()
    if as_json:
        _echo_json(keys)
        return
    if not keys:
        click.echo("no API keys; create one with: lipauth apikeys create NAME")
    for k in keys:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(k["created_at"]))
        state = "revoked " + time.strftime("%Y-%m-%d %H:%M", time.localtime(k["revoked_at"])) if k["revoked_at"] else "active"
        click.echo(f"{k['name']}\tcreated {created}\t{state}")
