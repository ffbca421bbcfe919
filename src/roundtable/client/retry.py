"""Retrying calls that failed for a transient reason: exponential backoff with full jitter.

Full jitter (a delay drawn uniformly from `[0, min(max_delay, base_delay * 2**n)]`) spreads
clients that collided on the same version apart, instead of having them retry in lockstep. A
`RateLimited` error's `retry_after` is a lower bound on the wait: the server said when to come
back, so no jitter may bring a client back sooner. The sleep and random functions are
parameters, so the policy can be tested without waiting or guessing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from roundtable.errors import ConflictError, RateLimited

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]
Random = Callable[[], float]
#: Called before each wait with (attempt that failed, its error, the delay about to be slept).
OnRetry = Callable[[int, BaseException, float], object]

DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = (ConflictError, RateLimited)


def backoff_ceiling(attempt: int, base_delay: float, max_delay: float) -> float:
    """The largest delay after failed attempt `attempt` (1-based): doubles, capped at max_delay."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    # Cap the exponent: 2**n overflows a float long before anyone retries that often.
    return min(max_delay, base_delay * 2.0 ** min(attempt - 1, 64))


def backoff_delay(
    attempt: int,
    error: BaseException | None,
    *,
    base_delay: float,
    max_delay: float,
    rand: Random = random.random,
) -> float:
    """How long to wait after failed attempt `attempt`: full jitter, floored by `retry_after`."""
    delay = rand() * backoff_ceiling(attempt, base_delay, max_delay)
    if isinstance(error, RateLimited):
        delay = max(delay, error.retry_after)
    return delay


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    retry_on: tuple[type[BaseException], ...] = DEFAULT_RETRY_ON,
    sleep: Sleep = asyncio.sleep,
    rand: Random = random.random,
    on_retry: OnRetry | None = None,
) -> T:
    """Call `fn` until it succeeds, at most `attempts` times; re-raise the last error.

    Only errors in `retry_on` are retried; anything else propagates at once. `fn` is called
    afresh each time, so it should re-read whatever state its previous attempt found stale.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("delays must not be negative")
    attempt = 1
    while True:
        try:
            return await fn()
        except retry_on as error:
            if attempt >= attempts:
                raise
            delay = backoff_delay(
                attempt, error, base_delay=base_delay, max_delay=max_delay, rand=rand
            )
            if on_retry is not None:
                on_retry(attempt, error, delay)
            await sleep(delay)
            attempt += 1
