"""Appends at the service level: batches are atomic, bad values are refused before anything is
written, and every accepted value reads back exactly and verifies, on both backends."""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import pytest

from roundtable.errors import InvalidInput
from roundtable.journal.models import EntryInput, QueryFilter
from roundtable.runtime import Roundtable
from tests.services.util import query_all, row_counts

GOOD = EntryInput(message="fine")


def _nest(arrays: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(arrays - 1):
        value = [value]
    return value


BAD_ENTRIES: dict[str, EntryInput] = {
    "empty message": EntryInput(message=""),
    "blank message": EntryInput(message=" \n\t "),
    "oversize message": EntryInput(message="x" * 16_385),
    "NUL in message": EntryInput(message="before\x00after"),
    "lone surrogate in message": EntryInput(message="half \ud800 a pair"),
    "bad kind": EntryInput(message="m", kind="Not A Kind"),
    "meta NaN": EntryInput(message="m", meta={"x": math.nan}),
    "meta infinity": EntryInput(message="m", meta={"x": -math.inf}),
    "meta huge int": EntryInput(message="m", meta={"x": 2**64}),
    "meta too big": EntryInput(message="m", meta={"x": "y" * 17_000}),
    "NUL in meta value": EntryInput(message="m", meta={"x": ["ok", "nul\x00"]}),
    "NUL in meta key": EntryInput(message="m", meta={"a\x00b": 1}),
    "lone surrogate in meta": EntryInput(message="m", meta={"x": "\udfff"}),
    "meta nested too deep": EntryInput(message="m", meta={"x": _nest(64)}),
    "meta nested far too deep": EntryInput(message="m", meta={"x": _nest(300)}),
}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
async def test_a_batch_with_one_bad_entry_writes_nothing(core: Roundtable, position: str) -> None:
    await core.journal.create_project("default", "setup", "web")
    await core.journal.append("default", "alice", "web", [GOOD])
    before = await row_counts(core.db)
    head = await core.journal.get_project("default", "web")
    accepted = []
    for name, bad in BAD_ENTRIES.items():
        batch = {"first": [bad, GOOD, GOOD], "middle": [GOOD, bad, GOOD], "last": [GOOD, GOOD, bad]}
        try:
            await core.journal.append("default", "alice", "web", batch[position])
        except InvalidInput as refused:
            assert refused.message and refused.data.get("field") in ("message", "kind", "meta"), (
                name
            )
        else:
            accepted.append(name)
    assert accepted == []
    assert await row_counts(core.db) == before
    assert await core.journal.get_project("default", "web") == head
    assert (await core.journal.verify("default", "web")).ok


async def test_batch_size_bounds(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    before = await row_counts(core.db)
    with pytest.raises(InvalidInput):
        await core.journal.append("default", "alice", "web", [])
    with pytest.raises(InvalidInput) as too_many:
        await core.journal.append("default", "alice", "web", [GOOD] * 1_001)
    assert too_many.value.data["limit"] == 1_000
    assert await row_counts(core.db) == before
    result = await core.journal.append("default", "alice", "web", [GOOD] * 1_000)
    assert (result.first_seq, result.last_seq) == (1, 1_000)


META_ROUND_TRIP: dict[str, Any] = {
    "big_float": 1e20,
    "bigger_float": 1.2345678901234567e300,
    "tiny_float": 5e-324,
    "negative_zero": -0.0,
    "tenth": 0.1,
    "float_one": 1.0,
    "max_safe_int": 2**53 - 1,
    "min_safe_int": -(2**53) + 1,
    "nested": {"list": [1, 2.5, "x", None, True, False, {"deep": []}], "empty": {}},
    "unicode": "ü 日本 🎉 \u2028",
    "escapes": 'quote " backslash \\ tab \t newline \n',
    "": "empty key",
}


async def test_values_read_back_exactly_and_verify(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    message = "multi-line\nmessage with emoji 🎉, tabs\t, and quotes \"'` and \\backslashes\\"
    written = await core.journal.append(
        "default", "alice", "web", [EntryInput(message=message, meta=META_ROUND_TRIP)]
    )
    assert written.entries[0].meta == META_ROUND_TRIP
    read = (await core.journal.read_recent("default", "web")).entries[0]
    assert read.message == message
    assert read.meta == META_ROUND_TRIP
    for key, value in META_ROUND_TRIP.items():
        assert type(read.meta[key]) is type(value), key
    assert read.hash == written.entries[0].hash and read.ts == written.entries[0].ts
    report = await core.journal.verify("default", "web")
    assert report.ok and report.checked == 1
    assert [
        e.seq for e in await query_all(core, "default", QueryFilter(meta={"big_float": 1e20}))
    ] == [1]


async def test_concurrent_appends_are_gap_free(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")

    async def writer(agent: str) -> list[tuple[int, str]]:
        acked: list[tuple[int, str]] = []
        for i in range(25):
            batch = [EntryInput(message=f"{agent} {i}.{j}") for j in range(1 + i % 3)]
            result = await core.journal.append("default", agent, "web", batch)
            assert result.last_seq - result.first_seq + 1 == len(batch)
            acked.extend((e.seq, e.hash) for e in result.entries)
        return acked

    results = await asyncio.gather(*(writer(f"w{n}") for n in range(8)))
    acked = sorted(pair for result in results for pair in result)
    assert [seq for seq, _ in acked] == list(range(1, len(acked) + 1))
    stored = await query_all(core, "default", QueryFilter(order="oldest", limit=500))
    assert [(e.seq, e.hash) for e in stored] == acked
    for prev, entry in itertools.pairwise(stored):
        assert entry.prev_hash == prev.hash
    report = await core.journal.verify("default", "web")
    assert report.ok and report.checked == len(acked)
