"""``python -m sealio.cli``: the ``sealio`` command."""

import sys

from sealio.cli import main

sys.exit(main())
