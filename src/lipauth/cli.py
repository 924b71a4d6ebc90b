"""The ``lipauth`` command line (placeholder until the CLI lands)."""

from __future__ import annotations


def main() -> None:  # pragma: no cover
    raise SystemExit("lipauth CLI not built yet")
