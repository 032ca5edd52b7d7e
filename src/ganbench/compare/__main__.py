"""``python -m ganbench.compare``: the same as ``ganbench-compare``."""

import sys

from ganbench.compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
