"""``python -m kwarg_guard``: the ``kwarg-guard`` command."""

import sys

from ._launcher import main

if __name__ == "__main__":
    sys.exit(main())
