"""``python -m alignsar.stac``."""

import sys

from .cli import main

sys.exit(main())
