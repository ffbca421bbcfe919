"""`RoundtableMCP.calls_in_flight`, which tells `roundtable mcp`'s SQLite writer whether a write
could have company (`SQLiteWriter.alone`): a lone call counts 1, a call made while another is
running counts 2, and every call is uncounted when it ends, failed or not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp.client.client import Client

from roundtable.mcp.server import RoundtableMCP, for_core
from roundtable.runtime import Roundtable

pytestmark = pytest.mark.only_backend("sqlite")


async def test_calls_in_flight_counts_running_tool_calls(
    core: Roundtable, monkeypatch: pytest.MonkeyPatch
) -> None:
    core.settings.agent = "counter"
    server = for_core(core, "stdio")
    assert isinstance(server, RoundtableMCP)
    seen: list[int] = []
    append = core.journal.append

    async def counted(*args: Any, **kwargs: Any) -> Any:
        seen.append(server.calls_in_flight)
        return await append(*args, **kwargs)

    monkeypatch.setattr(core.journal, "append", counted)
    async with Client(server) as client:
        await client.call_tool("set_project", {"project": "p", "create": True})
        await client.call_tool("append_entry", {"message": "alone"})
        waiting = asyncio.ensure_future(
            client.call_tool("wait_for_events", {"types": ["no.such.type"], "timeout": 5})
        )
        for _ in range(300):
            if server.calls_in_flight == 1:
                break
            await asyncio.sleep(0.01)
        await client.call_tool("append_entry", {"message": "with company"})
        waiting.cancel()
        await client.call_tool("append_entry", {"message": ""})  # refused: counted all the same
        for _ in range(100):
            if server.calls_in_flight == 0:
                break
            await asyncio.sleep(0.01)
    assert seen[:2] == [1, 2]
    assert server.calls_in_flight == 0
