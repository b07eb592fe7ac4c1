"""``python -m pyroml``: the same as the ``pyroml`` console script."""

import sys

from pyroml.cli import main

sys.exit(main())
