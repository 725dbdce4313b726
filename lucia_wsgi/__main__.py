"""``python -m lucia_wsgi``: the command line (see :mod:`lucia_wsgi.cli`)."""

import sys

from .cli import main

sys.exit(main())
