"""``python -m sparseae.cli``."""

import sys

from . import main

sys.exit(main())
