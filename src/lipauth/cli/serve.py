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


def default_allowed_hosts(host: str, port: int) -> tuple[str, ...]:
    """The ``Host`` values ``lipauth serve --host HOST --port PORT`` answers when ``LIPAUTH_ALLOWED_HOSTS`` is unset:
    localhost, any IP address, and HOST itself when it is a name."""
    from lipauth.service.settings import DEFAULT_ALLOWED_HOSTS

    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
        return DEFAULT_ALLOWED_HOSTS
    except ValueError:
        return (*DEFAULT_ALLOWED_HOSTS, f"{bare}:{port}")


def check_tls_files(certfile: str | None, keyfile: str | None) -> None:
    """:class:`ConfigError` unless both or neither of ``--certfile``/``--keyfile`` are given and they load."""
    from lipauth.errors import ConfigError

    if bool(certfile) != bool(keyfile):
        raise ConfigError("give both --certfile and --keyfile (a PEM certificate and its private key), or neither")
    if certfile and keyfile:
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--certfile {certfile} / --keyfile {keyfile} cannot be loaded ({exc}); "
                              "pass a PEM certificate and its unencrypted private key") from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Analysis processes (default $LIPAUTH_WORKERS or the cores).")
@click.option("--no-page-key", is_flag=True,
              help="Do not give the page its credential (it then asks for an API key). The credential is given on loopback "
                   "hosts and with --certfile (https); it can only enrol, verify and run liveness/sync from the page's origin.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM certificate: serve https (phones allow the camera only on https or localhost).")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="PEM private key of --certfile.")
def serve(host: str, port: int, workers: int | None, no_page_key: bool, certfile: str | None, keyfile: str | None) -> None:
    """Serve the HTTP API and the browser page (settings from LIPAUTH_* variables; see docs/service.md)."""
    import os

    from lipauth.service import Settings, create_app
    from lipauth.service.app import serve_app

    check_tls_files(certfile, keyfile)
    check_can_listen(host, port)
    overrides: dict[str, Any] = {}
    if workers is not None:
        overrides["workers"] = workers
    if not no_page_key and (is_loopback(host) or certfile):
        overrides["page_key"] = "lkp_" + secrets.token_urlsafe(32)
    if not os.environ.get("LIPAUTH_ALLOWED_HOSTS", "").strip():
        overrides["allowed_hosts"] = default_allowed_hosts(host, port)
    settings = Settings.from_env(**overrides)
    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if certfile else "http"
    click.echo(f"lipauth: serving on {scheme}://{shown}:{port}/")
    serve_app(app, host=host, port=port, certfile=certfile, keyfile=keyfile)


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
