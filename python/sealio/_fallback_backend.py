"""Temporary alias of :mod:`sealio.hazmat.fallback` (issue 11: removed once every
caller imports the new path). The old name is the same module object, so
patches and caches seen through it are the real ones."""

import sys

from sealio.hazmat import fallback as _module

sys.modules[__name__] = _module
