"""``python -m ganbench.compare``: the same as ``ganbench-compare``."""

import sys

from ganbench.compare.cli import main

sys.exit(main())
