"""Temporary alias of :mod:`sealio.format.header` (issue 11: removed once every
caller imports the new path). The old name is the same module object."""

import sys

from sealio.format import header as _module

sys.modules[__name__] = _module
