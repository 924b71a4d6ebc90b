"""``python -m lipauth.cli``."""

from lipauth.cli import main

main()
