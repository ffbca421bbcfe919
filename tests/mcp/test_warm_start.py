"""`roundtable mcp` keeps its agent's session across restarts (D15), never over the database."""

from __future__ import annotations

import json
from pathlib import Path

from roundtable.client.state import state_path
from roundtable.config import Settings
from roundtable.runtime import Roundtable
from tests.mcp.harness import ok, stdio


def state_file(settings: Settings, agent: str = "alice") -> Path:
    return state_path(
        settings.data_dir / "state", settings.effective_database_url, "default", agent
    )


async def test_a_restarted_server_resumes_the_live_session(settings: Settings, tmp_path: Path):
    log = tmp_path / "stderr.log"
    async with stdio(settings, "alice", log) as client:
        session = await ok(client, "start_session")
        await ok(client, "set_project", {"project": "web", "create": True})
    cached = json.loads(state_file(settings).read_text())
    assert (cached["session_id"], cached["project"], cached["version"]) == (session["id"], "web", 1)

    async with stdio(settings, "alice", log) as client:
        appended = await ok(client, "append_entry", {"message": "after a restart"})
        assert appended["session_id"] == session["id"]
        await ok(client, "end_session", {"session_id": session["id"]})
        again = await ok(client, "append_entry", {"message": "session over"})
        assert again["session_id"] is None
    assert "warm start" not in log.read_text()  # a normal restart is quiet (INFO, not WARNING)
    assert json.loads(state_file(settings).read_text())["session_id"] is None


async def test_stale_or_corrupt_state_is_discarded_with_a_warning(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "stderr.log"
    async with stdio(settings, "alice", log) as client:
        session = await ok(client, "start_session")
        await ok(client, "set_project", {"project": "web", "create": True})
    async with Roundtable.open(settings, sweeper=False) as core:  # meanwhile, elsewhere:
        await core.sessions.end("default", "alice", session["id"])
        await core.context.set("default", "alice", "api", create=True)

    async with stdio(settings, "alice", log) as client:
        appended = await ok(client, "append_entry", {"message": "where?"})
        assert appended["project"] == "api" and appended["session_id"] is None
    text = log.read_text()
    assert f"cached session {session['id']} is finished; forgetting it" in text
    assert "cached context is stale" in text
    cached = json.loads(state_file(settings).read_text())
    assert (cached["session_id"], cached["project"], cached["version"]) == (None, "api", 2)

    state_file(settings).write_text("not json at all")
    async with stdio(settings, "alice", log) as client:
        await ok(client, "get_project")
    assert "discarding the state cache" in log.read_text()
    assert json.loads(state_file(settings).read_text())["project"] == "api"
