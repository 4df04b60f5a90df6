"""``python -m reviewer`` (and the ``lgtm-575`` script): see ``reviewer/cli.py`` for the commands.

    python -m reviewer PR.diff --list-hunks
"""

from reviewer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
