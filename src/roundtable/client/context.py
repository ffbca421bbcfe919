"""Switching an agent's current project safely: read the version, compare-and-set, retry.

A plain `set_project` without `expected_version` is last-write-wins (D2). `use_project` instead
writes only over the version it has seen, and on a conflict re-reads and tries again, so a
concurrent change by another session is never overwritten unseen: every successful switch is
recorded as versioned, and a lost race shows up as a retry, not a silent overwrite.
"""

from __future__ import annotations

import asyncio
import random

from roundtable.client.http import RoundtableClient
from roundtable.client.retry import OnRetry, Random, Sleep, retry_async
from roundtable.sessions.models import ContextInfo


async def use_project(
    client: RoundtableClient,
    agent: str,
    project: str,
    *,
    create: bool = False,
    session_id: str | None = None,
    attempts: int = 8,
    base_delay: float = 0.02,
    max_delay: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    rand: Random = random.random,
    on_retry: OnRetry | None = None,
) -> ContextInfo:
    """Make `project` the agent's current one with compare-and-set, re-reading on conflict.

    Rate-limited attempts are retried too (after the server's `retry_after`); after `attempts`
    tries the last `ConflictError` or `RateLimited` propagates.
    """

    async def attempt() -> ContextInfo:
        seen = await client.get_context(agent)
        return await client.set_project(
            agent, project, expected_version=seen.version, create=create, session_id=session_id
        )

    return await retry_async(
        attempt,
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        sleep=sleep,
        rand=rand,
        on_retry=on_retry,
    )
