"""`Database.on_commit`: local writes wake the bus at once, and only writes that committed."""

from __future__ import annotations

import pytest

from roundtable.runtime import Roundtable
from tests.events.util import write_events


async def test_hook_runs_after_commit_only(core: Roundtable) -> None:
    calls: list[int] = []
    remove = core.db.on_commit(lambda: calls.append(1))
    await write_events(core, 2)
    assert len(calls) == 2
    with pytest.raises(RuntimeError):
        async with core.db.write():
            raise RuntimeError("rolled back")
    assert len(calls) == 2
    remove()
    await write_events(core, 1)
    assert len(calls) == 2
