"""The MCP tool contract, through the official MCP client, over stdio and Streamable HTTP.

Every test runs four times: {stdio, http} x {sqlite, postgresql}. Results are checked against
the service models, so a field that changes shape fails here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from roundtable.config import Settings
from roundtable.journal.models import EntryPage, VerifyReport
from roundtable.mcp.journal import AppendReceipt
from roundtable.mcp.server import ProjectList
from roundtable.sessions.models import ContextInfo, SessionInfo
from tests.mcp.harness import READ_ONLY, Connect, all_entries, fail, ok, snapshot, together

ZERO_HASH = "0" * 64

#: Arguments a caller must give; all others have defaults.
REQUIRED: dict[str, set[str]] = {
    "heartbeat": {"session_id"},
    "end_session": {"session_id"},
    "set_project": {"project"},
}

#: Fields of each tool's output schema that callers rely on.
OUTPUT_FIELDS: dict[str, set[str]] = {
    "start_session": {"id", "agent", "status", "lease_expires_at"},
    "heartbeat": {"id", "status", "lease_expires_at"},
    "end_session": {"id", "status", "ended_at"},
    "set_project": {"project", "version"},
    "get_project": {"project", "version"},
    "list_projects": {"projects"},
    "append_entry": {"first_seq", "last_seq", "ts", "head_hash", "agent", "session_id"},
    "read_recent": {"entries", "next_cursor"},
    "query_entries": {"entries", "next_cursor"},
    "verify_journal": {"ok", "checked", "size", "head_hash", "first_bad_seq", "problem"},
    "get_proof": {"tree", "inclusion", "consistency"},
    "wait_for_events": {"events", "next_after", "resync"},
}


@pytest.mark.parametrize("backend", ["sqlite"])  # what is listed does not depend on storage
async def test_tools_have_schemas_and_truthful_annotations(
    connect: Connect, settings: Settings
) -> None:
    async with connect("alice") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}

        # The hints tell the truth: each write tool changes the database, no read tool does.
        calls: list[tuple[str, dict[str, Any]]] = [
            ("start_session", {}),
            ("heartbeat", {"session_id": ""}),
            ("set_project", {"project": "web", "create": True}),
            ("append_entry", {"message": "one"}),
            ("get_project", {}),
            ("list_projects", {}),
            ("read_recent", {}),
            ("query_entries", {"text": "one"}),
            ("verify_journal", {}),
            ("get_proof", {"seq": 1}),
            ("wait_for_events", {"timeout": 0}),
            ("end_session", {"session_id": ""}),
        ]
        assert {name for name, _ in calls} == set(READ_ONLY)
        session_id = ""
        for name, arguments in calls:
            if "session_id" in arguments:
                arguments["session_id"] = session_id
            before = await snapshot(settings)
            result = await ok(client, name, arguments)
            changed = await snapshot(settings) != before
            assert changed is not READ_ONLY[name], (
                f"{name}: read-only {READ_ONLY[name]}, wrote {changed}"
            )
            session_id = result["id"] if name == "start_session" else session_id

    assert set(READ_ONLY) <= set(listed), f"missing tools: {set(READ_ONLY) - set(listed)}"
    for name, read_only in READ_ONLY.items():
        tool = listed[name]
        assert tool.title and tool.description, name
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["properties"], name
        assert set(schema.get("required", [])) == REQUIRED.get(name, set()), name
        assert {"agent", "namespace"} <= set(schema["properties"]), name
        output = tool.output_schema
        assert output is not None and output["type"] == "object", name
        assert OUTPUT_FIELDS[name] <= set(output["properties"]), name
        hints = tool.annotations
        assert hints is not None, name
        assert hints.read_only_hint is read_only, name
        assert hints.destructive_hint is False, name  # nothing here deletes or overwrites history
        assert hints.open_world_hint is False, name
    assert listed["heartbeat"].annotations is not None
    assert listed["heartbeat"].annotations.idempotent_hint is True


async def test_every_tool_returns_real_results(connect: Connect, transport: str) -> None:
    async with connect("alice") as client:
        session = SessionInfo.model_validate(
            await ok(client, "start_session", {"metadata": {"purpose": "mcp-test"}})
        )
        assert session.agent == "alice" and session.status == "active"
        assert session.metadata == {"purpose": "mcp-test"} and session.root_id == session.id
        assert session.lease_expires_at > session.created_at

        beat = SessionInfo.model_validate(await ok(client, "heartbeat", {"session_id": session.id}))
        assert beat.id == session.id and beat.lease_expires_at >= session.lease_expires_at

        fresh = ContextInfo.model_validate(await ok(client, "get_project"))
        assert (fresh.agent, fresh.project, fresh.version) == ("alice", None, 0)

        ctx = ContextInfo.model_validate(
            await ok(
                client,
                "set_project",
                {"project": "web", "create": True, "expected_version": 0, "session_id": session.id},
            )
        )
        assert (ctx.project, ctx.version, ctx.updated_by_session) == ("web", 1, session.id)
        assert ContextInfo.model_validate(await ok(client, "get_project")) == ctx

        one = AppendReceipt.model_validate(
            await ok(
                client,
                "append_entry",
                {
                    "message": "chose PostgreSQL for the shared store",
                    "status": "success",
                    "kind": "decision",
                    "meta": {"ticket": 7, "occurred_at": "2026-01-02T03:04:05Z"},
                    "session_id": session.id,
                },
            )
        )
        assert (one.project, one.first_seq, one.last_seq) == ("web", 1, 1)
        assert (one.agent, one.session_id) == ("alice", session.id)
        assert len(one.head_hash) == 64 and int(one.head_hash, 16) >= 0

        batch = AppendReceipt.model_validate(
            await ok(
                client,
                "append_entry",
                {
                    "project": "web",
                    "entries": [
                        {"message": "migrated users table"},
                        {"message": "index build slow", "status": "warn", "meta": {"ms": 900}},
                        {"message": "deploy done", "status": "success", "kind": "deploy"},
                    ],
                },
            )
        )
        assert (batch.first_seq, batch.last_seq) == (2, 4)
        # What was acknowledged, as stored: read back, oldest first.
        stored = EntryPage.model_validate(
            await ok(client, "query_entries", {"projects": ["web"], "order": "oldest"})
        ).entries
        first = stored[0]
        assert (first.agent, first.session_id, first.status, first.kind, first.ts) == (
            "alice",
            session.id,
            "success",
            "decision",
            one.ts,
        )
        assert first.message == "chose PostgreSQL for the shared store"
        assert first.meta == {"ticket": 7, "occurred_at": "2026-01-02T03:04:05Z"}
        assert first.prev_hash == ZERO_HASH and first.hash == one.head_hash
        chain = stored
        assert [e.seq for e in chain] == [1, 2, 3, 4]
        assert [e.message for e in chain[1:]] == [
            "migrated users table",
            "index build slow",
            "deploy done",
        ]
        for before, after in itertools.pairwise(chain):
            assert after.prev_hash == before.hash
        assert batch.head_hash == chain[-1].hash
        assert {e.ts for e in chain[1:]} == {batch.ts}  # one atomic append

        projects = ProjectList.model_validate(await ok(client, "list_projects")).projects
        assert [(p.name, p.size, p.head_hash) for p in projects] == [("web", 4, batch.head_hash)]
        assert projects[0].created_by == "alice"

        page = EntryPage.model_validate(await ok(client, "read_recent", {"limit": 3}))
        assert [e.seq for e in page.entries] == [4, 3, 2] and page.next_cursor
        rest = EntryPage.model_validate(
            await ok(client, "read_recent", {"limit": 3, "cursor": page.next_cursor})
        )
        assert [e.seq for e in rest.entries] == [1] and rest.next_cursor is None
        assert [*page.entries, *rest.entries] == chain[::-1]  # what was acknowledged, as stored

        async def seqs(filters: dict[str, Any]) -> list[int]:
            found = EntryPage.model_validate(await ok(client, "query_entries", filters))
            return [e.seq for e in found.entries]

        assert await seqs({"meta": {"ticket": 7}}) == [1]
        assert await seqs({"status": ["warn"]}) == [3]
        assert await seqs({"text": "deploy done"}) == [4]
        assert await seqs({"regex": "^(migrated|index)"}) == [3, 2]
        # Over stdio the server is the agent's own: calls without session_id use its session.
        in_session = [4, 3, 2, 1] if transport == "stdio" else [1]
        assert await seqs({"session_id": session.id}) == in_session
        assert await seqs({"agent": "alice", "order": "oldest"}) == [1, 2, 3, 4]
        assert await seqs({"projects": ["web"], "seq_min": 2, "seq_max": 3}) == [3, 2]
        assert await seqs({"agent": "somebody-else"}) == []

        report = VerifyReport.model_validate(await ok(client, "verify_journal"))
        assert report.ok and (report.checked, report.size) == (4, 4)
        assert report.head_hash == batch.head_hash and report.first_bad_seq is None

        ended = SessionInfo.model_validate(
            await ok(client, "end_session", {"session_id": session.id, "status": "stopped"})
        )
        assert ended.status == "stopped" and ended.ended_at is not None


async def test_stale_expected_version_is_a_conflict_naming_the_current_state(
    connect: Connect,
) -> None:
    # Two connections of the same agent (two processes over stdio), racing on its context.
    async with together(connect("alice"), connect("alice")) as (first, second):
        await ok(first, "set_project", {"project": "alpha", "create": True})
        await ok(first, "set_project", {"project": "beta", "create": True})
        seen = ContextInfo.model_validate(await ok(second, "get_project"))
        assert (seen.project, seen.version) == ("beta", 2)

        won = ContextInfo.model_validate(
            await ok(first, "set_project", {"project": "alpha", "expected_version": 2})
        )
        assert (won.project, won.version) == ("alpha", 3)

        error = await fail(
            second, "set_project", {"project": "beta", "expected_version": 2}, "conflict"
        )
        assert error["data"]["current_version"] == 3
        assert error["data"]["current_project"] == "alpha"
        assert error["data"]["expected_version"] == 2

        after = ContextInfo.model_validate(await ok(second, "get_project"))
        assert (after.project, after.version) == ("alpha", 3)  # the losing write changed nothing

        # The error carries what is needed to retry.
        retried = ContextInfo.model_validate(
            await ok(
                second,
                "set_project",
                {"project": "beta", "expected_version": error["data"]["current_version"]},
            )
        )
        assert (retried.project, retried.version) == ("beta", 4)


BAD_APPENDS: list[tuple[str, dict[str, Any], str]] = [
    ("empty message", {"message": ""}, "message"),
    ("blank message", {"message": "  \n\t "}, "message"),
    ("oversize message", {"message": "x" * 16_385}, "message"),
    ("meta is a string", {"message": "m", "meta": "not an object"}, "meta"),
    ("meta is a list", {"message": "m", "meta": [1, 2]}, "meta"),
    ("meta is a number", {"message": "m", "meta": 42}, "meta"),
    ("oversize meta", {"message": "m", "meta": {"blob": "y" * 20_000}}, "meta"),
    (
        "unknown field in an entries item",
        {"entries": [{"message": "fine"}, {"message": "also fine", "colour": "red"}]},
        "entries.1.colour",
    ),
    (
        "bad item after a good one",
        {"entries": [{"message": "fine"}, {"message": ""}]},
        "message",
    ),
    ("both message and entries", {"message": "m", "entries": [{"message": "n"}]}, "message"),
    ("neither message nor entries", {"status": "info"}, "message"),
    ("empty batch", {"entries": []}, "entries"),
    ("unknown status", {"message": "m", "status": "fatal"}, "status"),
    ("bad kind", {"message": "m", "kind": "Not A Kind"}, "kind"),
    ("bad project name", {"message": "m", "project": "../etc"}, "project"),
    ("unknown argument", {"message": "m", "mesage": "typo"}, "mesage"),
]


async def test_bad_input_is_refused_and_nothing_is_written(
    connect: Connect, settings: Settings
) -> None:
    async with connect("alice") as client:
        await ok(client, "set_project", {"project": "web", "create": True})
        await ok(client, "append_entry", {"message": "baseline"})
        database = await snapshot(settings)
        before = {
            "projects": await ok(client, "list_projects"),
            "recent": await ok(client, "read_recent"),
            "context": await ok(client, "get_project"),
        }

        for label, arguments, field in BAD_APPENDS:
            error = await fail(client, "append_entry", arguments, "invalid_input")
            assert error["data"]["field"] == field, (label, error)
            if label == "oversize message":
                assert error["data"]["limit"] == 16_384

        # A typo in expected_version must not silently become last-write-wins.
        error = await fail(
            client,
            "set_project",
            {"project": "other", "create": True, "expected_verison": 1},
            "invalid_input",
        )
        assert error["data"]["field"] == "expected_verison"
        assert "expected_version" in error["data"]["allowed"]
        await fail(client, "set_project", {"project": "bad name!"}, "invalid_input")
        await fail(
            client, "set_project", {"project": "web", "expected_version": -1}, "invalid_input"
        )
        await fail(client, "query_entries", {"colour": "red"}, "invalid_input")
        await fail(client, "read_recent", {"limit": 0}, "invalid_input")
        await fail(client, "append_entry", {"message": "m", "project": "nowhere"}, "not_found")

        after = {
            "projects": await ok(client, "list_projects"),
            "recent": await ok(client, "read_recent"),
            "context": await ok(client, "get_project"),
        }
        assert after == before
        assert await snapshot(settings) == database  # not a row, not an event, not a last_seen
        assert [e["message"] for e in await all_entries(client, "web")] == ["baseline"]
        everywhere = await ok(client, "query_entries", {})
        assert [e["message"] for e in everywhere["entries"]] == ["baseline"]
        report = await ok(client, "verify_journal")
        assert report["ok"] and report["checked"] == 1


async def test_ended_session_cannot_write(connect: Connect, settings: Settings) -> None:
    async with connect("alice") as client:
        session = await ok(client, "start_session")
        await ok(client, "set_project", {"project": "web", "create": True})
        written = await ok(
            client, "append_entry", {"message": "while live", "session_id": session["id"]}
        )
        assert written["session_id"] == session["id"]

        ended = await ok(client, "end_session", {"session_id": session["id"]})
        assert ended["status"] == "finished" and ended["ended_at"] is not None

        sid = {"session_id": session["id"]}
        database = await snapshot(settings)
        error = await fail(
            client, "append_entry", {"message": "after the end", **sid}, "lease_expired"
        )
        assert error["data"]["session_id"] == session["id"]
        assert error["data"]["status"] == "finished"
        await fail(
            client,
            "append_entry",
            {"entries": [{"message": "a"}, {"message": "b"}], **sid},
            "lease_expired",
        )
        await fail(client, "set_project", {"project": "web", **sid}, "lease_expired")
        await fail(client, "heartbeat", sid, "lease_expired")
        await fail(client, "end_session", sid, "lease_expired")
        assert await snapshot(settings) == database

        entries = await all_entries(client, "web")
        assert [e["message"] for e in entries] == ["while live"]
        context = await ok(client, "get_project")
        assert context["version"] == 1
        assert (await ok(client, "verify_journal"))["checked"] == 1

        # A new session is the way forward.
        renewed = await ok(client, "start_session")
        again = await ok(
            client, "append_entry", {"message": "new session", "session_id": renewed["id"]}
        )
        assert again["first_seq"] == 2
