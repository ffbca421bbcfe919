"""Run as `python -m tests.ops.storm_writer AGENT PROJECT`: append to PROJECT until stdin
closes, printing `seq hash` for each acknowledged (committed) entry as soon as it is committed.
The database comes from the ROUNDTABLE_* environment."""

from __future__ import annotations

import asyncio
import sys

from roundtable.config import Settings
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable


async def main(agent: str, project: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read() or stop.set())
    async with Roundtable.open(Settings(), sweeper=False) as core:
        n = 0
        while not stop.is_set():
            n += 1
            batch = [EntryInput(message=f"{agent} {n}.{i}") for i in range(1 + n % 3)]
            result = await core.journal.append("default", agent, project, batch)
            for entry in result.entries:
                print(entry.seq, entry.hash, flush=True)
            await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
