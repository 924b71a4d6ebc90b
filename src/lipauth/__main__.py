"""``python -m lipauth``: the same as the ``lipauth`` command."""

from lipauth.cli import main

if __name__ == "__main__":
    main()
