"""``python -m lipread``: the ``lipread`` command, for where the console script is not on PATH
(a notebook, a venv not activated)."""

import sys

from lipread.cli import main

if __name__ == "__main__":
    sys.exit(main())
