"""``python -m polyalign …`` = the ``polyalign`` command (used by ``polyalign study --jobs``)."""

import sys

from .cli import main

sys.exit(main())
