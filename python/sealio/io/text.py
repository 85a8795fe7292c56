"""Text mode over the sealed writer (``sealio.open(..., "w")``)."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["TextWriter"]


class TextWriter(io.TextIOWrapper):
    """Text mode over a :class:`SealedWriter` that, like it, publishes only
    on a clean close (not on an exception in ``with``, not when collected)."""

    def _abort(self) -> None:
        raw = self.buffer.raw  # type: ignore[attr-defined]
        raw.abort()
        try:
            super().close()
        except ValueError:  # the buffered layer cannot flush into the aborted writer
            pass

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()

    def __del__(self) -> None:
        try:
            if not self.closed:
                self._abort()
        except Exception:
            pass
