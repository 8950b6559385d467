"""``python -m moderation``: see :mod:`moderation.cli`."""

import sys

from moderation.cli import main

sys.exit(main())
