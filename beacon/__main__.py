"""``python -m beacon`` is the ``beacon`` command."""

import sys

from beacon.cli import main

sys.exit(main())
