"""An append storm through MCP: several `roundtable mcp` processes, one database, one project.

Each process is a separate agent with its own session; all append at once, singly and in
batches. Every acknowledged entry must be in the journal exactly once, at the seq it was
acknowledged with, the seqs must run 1..N without gaps, and the chain must verify.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roundtable.config import Settings
from tests.mcp.harness import all_entries, ok, stdio

PROCESSES = 4
CALLS = 50  # per process
BATCH_EVERY = 5  # every 5th call appends a batch
BATCH_SIZE = 3
PROJECT = "storm"


@dataclass
class Acked:
    agent: str
    seqs: list[int] = field(default_factory=list)
    # seq -> (hash, message); the hash is acknowledged (as head_hash) for a call's last entry
    entries: dict[int, tuple[str | None, str]] = field(default_factory=dict)


@pytest.mark.slow
async def test_concurrent_mcp_processes_lose_and_duplicate_nothing(
    settings: Settings, stderr_log: Path
) -> None:
    started = asyncio.Barrier(PROCESSES)
    finished = asyncio.Barrier(PROCESSES)
    acked = [Acked(agent=f"storm-agent-{n}") for n in range(PROCESSES)]
    checked: list[bool] = []

    async def agent(me: Acked, checker: bool) -> None:
        async with stdio(settings, me.agent, stderr_log) as client:
            session = await ok(client, "start_session")
            # All create-or-select the same project at once.
            await ok(client, "set_project", {"project": PROJECT, "create": True})
            await started.wait()
            for call in range(CALLS):
                args: dict[str, Any] = {"session_id": session["id"]}
                if call % BATCH_EVERY == BATCH_EVERY - 1:
                    messages = [f"{me.agent} call {call} item {i}" for i in range(BATCH_SIZE)]
                    args["entries"] = [{"message": m, "meta": {"call": call}} for m in messages]
                else:
                    messages = [f"{me.agent} call {call}"]
                    args["message"] = messages[0]
                result = await ok(client, "append_entry", args)
                assert result["project"] == PROJECT
                seqs = list(range(result["first_seq"], result["last_seq"] + 1))
                assert len(seqs) == len(messages) and result["agent"] == me.agent
                for seq, message in zip(seqs, messages, strict=True):
                    me.seqs.append(seq)
                    me.entries[seq] = (None, message)
                me.entries[seqs[-1]] = (result["head_hash"], messages[-1])  # its last entry
            await finished.wait()
            if checker:
                await check_journal(client)
                checked.append(True)

    async def check_journal(client: Any) -> None:
        expected: dict[int, tuple[str, str | None, str]] = {}
        for me in acked:
            for seq, (digest, message) in me.entries.items():
                assert seq not in expected, f"seq {seq} acknowledged twice"
                expected[seq] = (me.agent, digest, message)
        total = PROCESSES * (CALLS - CALLS // BATCH_EVERY + (CALLS // BATCH_EVERY) * BATCH_SIZE)
        assert len(expected) == total

        stored = await all_entries(client, PROJECT)
        assert [e["seq"] for e in stored] == list(range(1, total + 1))  # gap-free, no extras
        assert {
            e["seq"]: (e["agent"], e["hash"] if expected[e["seq"]][1] else None, e["message"])
            for e in stored
        } == expected
        assert stored[0]["prev_hash"] == "0" * 64
        for before, after in itertools.pairwise(stored):
            assert after["prev_hash"] == before["hash"]

        projects = (await ok(client, "list_projects"))["projects"]
        assert [(p["name"], p["size"]) for p in projects] == [(PROJECT, total)]
        assert projects[0]["head_hash"] == stored[-1]["hash"]
        report = await ok(client, "verify_journal", {"project": PROJECT})
        assert report["ok"], report
        assert (report["checked"], report["size"]) == (total, total)

    async with asyncio.timeout(240):
        async with asyncio.TaskGroup() as group:
            for n, me in enumerate(acked):
                group.create_task(agent(me, checker=n == 0))

    assert checked == [True]
    for me in acked:
        assert me.seqs == sorted(me.seqs), f"{me.agent}: seqs went backwards"
    # The appends really raced: some two agents' seq ranges overlap (they never do if the
    # processes ran one after another).
    spans = [(min(me.seqs), max(me.seqs)) for me in acked]
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2)), spans
