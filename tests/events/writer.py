"""Run as `python -m tests.events.writer AGENT COUNT`: a second core, in another process, on
the same database (configured by ROUNDTABLE_* environment), writing COUNT session events."""

from __future__ import annotations

import asyncio
import sys

from roundtable.config import Settings
from roundtable.runtime import Roundtable


async def main(agent: str, count: int) -> None:
    async with Roundtable.open(Settings(), sweeper=False) as core:
        for _ in range(count):
            session = await core.sessions.start("default", agent)
            print(session.id, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
