"""``python -m bonenet`` is the same as the ``bonenet`` command."""

import sys

from .cli import main

sys.exit(main())
