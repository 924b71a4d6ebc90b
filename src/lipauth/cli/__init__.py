"""The ``lipauth`` command line: parses, calls the library, prints a summary or JSON.

Conventions for every command: a short human summary on stdout by default; with
``--json`` the result's ``to_dict()`` on stdout instead (a check's JSON always carries
``accepted``, ``score``, ``threshold`` and ``reasons``); progress bars on stderr; options
also from the environment (``LIPAUTH_<COMMAND>_<OPTION>``) and ``LIPAUTH_DATA_DIR`` for
everything lipauth keeps. Errors: one line on stderr starting ``lipauth: error:`` and exit
code 2, never a traceback.

One module per command family registers its commands on :data:`cli`
(``video.py``: track, annotate, inspect, magnify, synth, demo).
"""

from __future__ import annotations

from lipauth.cli._app import cli, main
from lipauth.cli import video  # noqa: F401  (registers the commands)
from lipauth.cli import sync  # noqa: F401,E402  (registers `lipauth sync`)
from lipauth.cli import liveness  # noqa: F401,E402  (challenge new, liveness)
from lipauth.cli import commands  # noqa: F401,E402  (lipauth commands enrol/recognise/listen)
from lipauth.cli import users  # noqa: F401,E402  (enrol, verify, users list|delete|unlock, keys rotate)
from lipauth.cli import evaluate  # noqa: F401,E402  (lipauth eval)
from lipauth.cli import serve  # noqa: F401,E402  (serve, apikeys create|revoke|list)
from lipauth.cli._app import name_option_envvars  # noqa: E402

name_option_envvars(cli)  # LIPAUTH_<COMMAND>_<OPTION> from the option's name, as the docs say

__all__ = ["cli", "main"]
