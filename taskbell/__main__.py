"""``python -m taskbell`` is the ``taskbell`` console script."""

import sys

from taskbell.cli import main

sys.exit(main())
