"""Per-agent write rate limiting: a token bucket per (namespace, agent), in this process.

Several server processes each keep their own buckets, so the effective limit is per process;
the session limits (counted in the database) hold across processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from roundtable.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, namespace: str, agent: str) -> None:
        """Spend one write token, or raise `RateLimited` saying when one will be available."""
        now = time.monotonic()
        bucket = self._buckets.get((namespace, agent))
        if bucket is None:
            bucket = self._buckets[(namespace, agent)] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise RateLimited(
                f"agent {agent!r} is writing faster than {self.rate:g}/s",
                retry_after=(1.0 - bucket.tokens) / self.rate,
                agent=agent,
            )
        bucket.tokens -= 1.0
