"""Bounded KMS calls: a timeout on every attempt, retries with backoff on
transient failures only, and one translated sealio error at the end.

A KMS call therefore takes at most about ``(retries + 1) * timeout`` plus
the backoff sleeps (``RetryPolicy.worst_case``); it never hangs. For Vault
the timeout is a total deadline per attempt (connect, send and the whole
answer, enforced by :mod:`sealio.kms._http`), so a slow-drip server cannot
stretch it either.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sealio.errors import KmsUnavailableError, SealioError

T = TypeVar("T")

MAX_TIMEOUT = 600.0  # seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How long one attempt may take and how often a transient failure is retried.

    ``timeout`` bounds one HTTP attempt (seconds, finite, at most 600): for
    Vault the whole attempt, for AWS connecting and each read;
    ``retries`` is the number of extra attempts after a transient failure
    (unreachable, timed out, HTTP 429/5xx, throttling); waits start at
    ``backoff`` and double up to ``max_backoff``, with jitter so that many
    workers do not retry in step.
    """

    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.2
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= MAX_TIMEOUT:  # also refuses NaN and inf: "no bound" is not a bound
            raise ValueError(f"timeout must be > 0 and <= {MAX_TIMEOUT:g} seconds")
        if self.retries < 0 or self.retries > 20:
            raise ValueError("retries must be between 0 and 20")
        if not (0 <= self.backoff <= MAX_TIMEOUT and 0 <= self.max_backoff <= MAX_TIMEOUT):
            raise ValueError(f"backoff must be between 0 and {MAX_TIMEOUT:g} seconds")

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based), jittered to 50-100 %."""
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base * random.uniform(0.5, 1.0)

    @property
    def worst_case(self) -> float:
        """An upper bound on one call's duration (seconds); for AWS it ignores
        slow-drip servers that keep each read just under ``timeout``."""
        sleeps = sum(min(self.max_backoff, self.backoff * 2 ** i) for i in range(self.retries))
        return (self.retries + 1) * self.timeout + sleeps


class Transient(Exception):
    """Raised by a translator: this failure may pass if retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def call(policy: RetryPolicy, what: str, fn: Callable[[], T],
         translate: Callable[[BaseException], SealioError | Transient],
         sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``fn`` under ``policy``. ``translate`` maps a backend exception to
    a final sealio error, or to :class:`Transient` to retry it."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - every backend failure is translated below
            outcome = translate(e)
        if isinstance(outcome, SealioError):
            raise outcome from None
        attempt += 1
        if attempt > policy.retries:
            raise KmsUnavailableError(
                f"{what}: {outcome.message} (gave up after {attempt} attempt(s), "
                f"timeout {policy.timeout:g}s each)") from None
        sleep(policy.delay(attempt))
