"""Dashboard pages over plain HTTP on both backends: cursor paging, tree documents promoted and
demoted, the proof download, and bad input answered with a 4xx page (never a 500)."""

from __future__ import annotations

import re

import httpx

from roundtable.config import Settings
from tests.dashboard.test_security import call, csrf, signed_in
from tests.live import LiveServer, in_thread


def test_pages_paging_lifecycle_and_bad_input(live_server: LiveServer) -> None:
    admin = signed_in(live_server, live_server.admin_token)
    try:
        # 55 root sessions: two pages of trees, newest first, no session on both.
        ids = [
            call(live_server, "POST", "/sessions", json={"agent": f"a{i}"})["id"] for i in range(55)
        ]
        first = admin.get("/sessions")
        assert first.status_code == 200
        next_link = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert next_link is not None
        second = admin.get(next_link.group(1).replace("&amp;", "&"))
        shown_first = {i for i in ids if i in first.text}
        shown_second = {i for i in ids if i in second.text}
        assert len(shown_first) == 50 and len(shown_second) == 5
        assert not shown_first & shown_second
        assert ids[-1] in shown_first  # newest first
        # Filters narrow the trees.
        only = admin.get("/sessions", params={"agent": "a7"})
        assert ids[7] in only.text and ids[8] not in only.text

        # A tree document: promote to persistent, then demote again.
        call(live_server, "PUT", "/blueprints/w", json={"name": "w", "executor": {"kind": "echo"}})
        root = call(
            live_server,
            "POST",
            "/agent-sessions",
            json={"blueprint": "w", "parameters": {"prompt": "p"}, "mode": "async_poll"},
        )
        doc = call(
            live_server,
            "POST",
            "/documents",
            json={"name": "notes", "content": "n", "session_id": root["id"]},
        )
        assert doc["lifecycle"] == "temporal"
        assert "notes" in admin.get("/documents", params={"tree": root["id"]}).text
        page = f"/documents/{doc['id']}"
        token = csrf(admin, page)
        promoted = admin.post(
            f"{page}/lifecycle", data={"csrf": token, "lifecycle": "persistent", "version": "1"}
        )
        assert promoted.status_code == 303
        assert call(live_server, "GET", page)["lifecycle"] == "persistent"
        assert "Demote to temporal" in admin.get(page).text

        # The proof download is the bundle an outside verifier needs.
        call(live_server, "POST", "/projects", json={"name": "p"})
        call(live_server, "POST", "/projects/p/entries", json={"agent": "a", "message": "m"})
        call(live_server, "POST", "/projects/p/checkpoints")
        bundle = admin.get("/journals/p/entries/1/proof.json")
        assert bundle.headers["content-disposition"].startswith("attachment")
        assert set(bundle.json()) == {"entry", "canonical", "checkpoint", "inclusion"}

        # Typed search syntax is plain words: `"m*` is the word m; no words at all is a 422.
        assert "seq-1" in admin.get("/journals/p", params={"text": '"m*'}).text
        assert "seq-1" not in admin.get("/journals/p", params={"text": "m OR x"}).text
        assert admin.get("/journals/p", params={"text": '"*"'}).status_code == 422
        # Time filters: a browser's datetime-local value (no zone) is taken as UTC.
        assert "seq-1" in admin.get("/journals/p", params={"since": "2020-01-01T00:00"}).text
        assert "seq-1" not in admin.get("/journals/p", params={"until": "2020-01-01T00:00"}).text

        # Bad input is a 4xx page with the reason, never a 500.
        for path, status in [
            ("/sessions?status=bogus", 422),
            ("/sessions?cursor=not-a-cursor", 422),
            (f"/sessions/{ids[0]}?events=not-a-cursor", 422),
            ("/journals/p?since=yesterday", 422),
            ("/journals/p?cursor=%%%", 422),
            ("/journals/nope", 404),
            ("/journals/p/entries/99", 404),
            ("/sessions/00000000-0000-0000-0000-000000000000", 404),
            ("/documents/nope", 404),
            ("/blueprints/nope", 404),
            ("/schemas/nope", 404),
            ("/runners/nope", 404),
            ("/mcp-servers/nope", 404),
            ("/mcp-servers?cursor=x", 422),
            ("/documents?scope=elsewhere", 422),
        ]:
            response = admin.get(path)
            assert response.status_code == status, (path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("text/html"), path
        bad_edit = admin.post(page + "/edit", data={"csrf": token, "version": "x", "content": "y"})
        assert bad_edit.status_code == 422
    finally:
        admin.close()
    assert httpx.get(f"{live_server.url}/").status_code == 303  # not signed in


def test_without_authentication_pages_and_forms_work(settings: Settings) -> None:
    """`auth_disabled` (loopback only): no sign-in, and the first page hands out the CSRF
    cookie the forms need."""
    with in_thread(settings.model_copy(update={"auth_disabled": True})) as server:
        client = httpx.Client(base_url=server.url, timeout=30)
        try:
            call(server, "PUT", "/blueprints/w", json={"name": "w", "executor": {"kind": "echo"}})
            session = call(
                server,
                "POST",
                "/agent-sessions",
                json={"blueprint": "w", "parameters": {"prompt": "p"}, "mode": "async_poll"},
            )
            page = client.get(f"/sessions/{session['id']}")
            assert page.status_code == 200
            assert "roundtable_csrf" in page.headers["set-cookie"]
            token = csrf(client, f"/sessions/{session['id']}")
            stopped = client.post(f"/sessions/{session['id']}/stop", data={"csrf": token})
            assert stopped.status_code == 303
            assert client.post(f"/sessions/{session['id']}/stop").status_code == 403
        finally:
            client.close()


def test_mcp_servers_page_by_cursor(live_server: LiveServer) -> None:
    """The registry list pages by name: 52 entries are 50 then 2, none on both pages."""
    names = [f"srv-{i:02d}" for i in range(52)]
    for name in names:
        call(
            live_server,
            "PUT",
            f"/mcp-servers/{name}",
            json={"name": name, "transport": "stdio", "command": "mcp-tool", "env": ["TOOL_KEY"]},
        )
    admin = signed_in(live_server, live_server.admin_token)
    try:
        first = admin.get("/mcp-servers")
        next_link = re.search(r'rel="next" href="([^"]+)"', first.text)
        assert next_link is not None
        second = admin.get(next_link.group(1).replace("&amp;", "&"))
        shown_first = {n for n in names if f">{n}<" in first.text}
        shown_second = {n for n in names if f">{n}<" in second.text}
        assert shown_first == set(names[:50]) and shown_second == set(names[50:])
        assert 'rel="next"' not in second.text
        detail = admin.get("/mcp-servers/srv-00").text
        assert "TOOL_KEY" in detail and "mcp-tool" in detail
    finally:
        admin.close()
