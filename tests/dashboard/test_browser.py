"""The dashboard in a real browser (Playwright + Debian's chromium) against a real `roundtable
serve`, with data made by real HTTP calls: sign-in, live sessions and journal entries, verify on
a clean and a tampered database, an inclusion proof checked in the page, a document edit into a
conflict, stop and delete of a tree through the preview. Each page is also photographed:
`ROUNDTABLE_SCREENSHOTS=docs/screenshots` refreshes the pictures of the README and
docs/dashboard.md (by default they go to a scratch directory)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tests.dashboard.conftest import SCREENSHOTS, api
from tests.live import LiveServer
from tests.mcp.harness import http, mint_token, ok

WAIT_MS = 15_000
T = TypeVar("T")


@pytest.fixture(scope="module")
def errors() -> list[str]:
    return []


@pytest.fixture(scope="module")
def page(browser: Any, served: LiveServer, errors: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 720}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def live(page: Any) -> None:
    """Wait until the page's event stream is open (so what happens next is seen live)."""
    page.wait_for_selector("body[data-live=open]", state="attached")


def agent_token(server: LiveServer, agent: str) -> dict[str, str]:
    token = api(server, "POST", "/tokens", json={"agent": agent})["token"]
    return {"Authorization": f"Bearer {token}"}


def test_sign_in(page: Any, served: LiveServer, errors: list[str]) -> None:
    page.goto(f"{served.url}/sessions")
    assert page.url == f"{served.url}/login"  # not signed in: sent to the sign-in page
    assert page.locator("h1").inner_text() == "Sign in"
    page.fill("#token", served.admin_token)
    page.press("#token", "Enter")
    page.wait_for_url(f"{served.url}/")
    assert page.locator("h1").inner_text() == "Overview"
    assert served.admin_token not in page.content()
    assert served.admin_token not in page.url
    assert not errors


def test_session_appears_live(page: Any, served: LiveServer, errors: list[str]) -> None:
    api(served, "PUT", "/blueprints/worker", json={"name": "worker", "executor": {"kind": "echo"}})
    page.goto(f"{served.url}/sessions")
    live(page)
    started = httpx.post(
        f"{served.api()}/agent-sessions",
        headers=agent_token(served, "planner"),
        json={
            "blueprint": "worker",
            "parameters": {"prompt": "index the repo"},
            "mode": "async_poll",
        },
        timeout=30,
    )
    assert started.status_code == 201, started.text
    session_id = started.json()["id"]
    page.wait_for_selector(f"#session-tree >> text={session_id}")
    assert page.url.endswith("/sessions")  # no reload
    page.goto(f"{served.url}/")
    page.wait_for_selector("#events >> text=session.created")
    shot(page, "overview")
    page.goto(f"{served.url}/sessions")
    shot(page, "sessions")
    assert not errors


def in_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async client (MCP) to completion in its own thread and event loop, away from
    Playwright's."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(work())))
    thread.start()
    thread.join(timeout=60)
    assert out, "the MCP call did not finish"
    return out[0]


def test_an_agent_over_mcp_shows_up_live(page: Any, served: LiveServer, errors: list[str]) -> None:
    """An agent's MCP calls (the official client over /mcp) reach the open pages live."""
    token = mint_token(served, "scout")
    page.goto(f"{served.url}/sessions")
    live(page)

    async def start() -> dict[str, Any]:
        async with http(served, token) as client:
            return await ok(
                client, "start_agent_session", {"blueprint": "worker", "prompt": "scan"}
            )

    started = in_thread(start)
    page.wait_for_selector(f"#session-tree >> text={started['id']}")
    api(served, "POST", "/projects", json={"name": "field"})
    page.goto(f"{served.url}/journals/field")
    live(page)

    async def append() -> dict[str, Any]:
        async with http(served, token) as client:
            return await ok(
                client, "append_entry", {"project": "field", "message": "found it over MCP"}
            )

    in_thread(append)
    page.wait_for_selector("#entries >> text=found it over MCP")
    assert not errors


def test_journal_append_arrives_live(page: Any, served: LiveServer, errors: list[str]) -> None:
    api(served, "POST", "/projects", json={"name": "ledger"})
    api(served, "POST", "/projects/ledger/entries", json={"agent": "planner", "message": "first"})
    page.goto(f"{served.url}/journals/ledger")
    live(page)
    message = "<script>window.pwned = 1</script> arrived live"
    api(served, "POST", "/projects/ledger/entries", json={"agent": "planner", "message": message})
    page.wait_for_selector("#seq-2 td.message")
    assert page.locator("#seq-2 td.message").inner_text() == message  # text, not markup
    assert page.evaluate("window.pwned") is None
    assert page.url.endswith("/journals/ledger")
    shot(page, "journal")
    page.goto(f"{served.url}/journals")
    shot(page, "journals")
    assert not errors


def test_verify_clean_then_tampered(page: Any, served: LiveServer, errors: list[str]) -> None:
    api(served, "POST", "/projects", json={"name": "audit"})
    for i in range(3):
        api(served, "POST", "/projects/audit/entries", json={"agent": "a", "message": f"m{i}"})
    page.goto(f"{served.url}/journals")
    page.click("a[href='/journals/audit/verify']")
    assert page.get_attribute("#verdict", "class") == "ok"
    shot(page, "verify")
    db = served.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE entries SET message = 'forged' WHERE seq = 2 AND project_id = "
            "(SELECT id FROM projects WHERE name = 'audit')"
        )
    page.reload()
    assert page.get_attribute("#verdict", "class") == "bad"
    assert "Damaged at seq 2" in page.inner_text("#verdict")
    assert not errors


def test_inclusion_proof_checked_in_page(page: Any, served: LiveServer, errors: list[str]) -> None:
    api(served, "POST", "/projects/ledger/checkpoints")
    page.goto(f"{served.url}/journals/ledger/entries/1")
    page.wait_for_selector("#proof-result[data-verified=yes]")
    shot(page, "proof")
    with page.expect_download() as download:
        page.click("text=Download the proof (JSON)")
    bundle = json.loads(open(download.value.path()).read())  # noqa: SIM115
    assert bundle["inclusion"]["tree_size"] == bundle["checkpoint"]["size"] == 2
    assert bundle["entry"]["seq"] == 1
    assert not errors


def test_document_edit_into_conflict(page: Any, served: LiveServer, errors: list[str]) -> None:
    doc = api(
        served,
        "POST",
        "/documents",
        json={"name": "plan", "content": "# Plan\n\n- **ship** it\n", "tags": ["roadmap"]},
    )
    page.goto(f"{served.url}/documents")
    page.click("text=plan")
    assert page.inner_text("#doc-body strong") == "ship"
    shot(page, "document")
    page.click("text=Edit")
    page.fill("#content", "# Plan\n\nmine\n")
    api(served, "PATCH", f"/documents/{doc['id']}", json={"old": "ship", "new": "test"})
    page.click("button:has-text('Save')")
    page.wait_for_selector("#conflict")
    assert "version 2" in page.inner_text("#conflict")
    assert page.input_value("#content") == "# Plan\n\nmine\n"  # the edit is kept
    shot(page, "document-conflict")
    page.click("button:has-text('Save')")  # now against version 2
    page.wait_for_selector("#doc-body")
    assert page.inner_text("#doc-body p") == "mine"
    assert not errors


def test_stop_and_delete_tree_through_preview(
    page: Any, served: LiveServer, errors: list[str]
) -> None:
    root = api(
        served,
        "POST",
        "/agent-sessions",
        json={"blueprint": "worker", "parameters": {"prompt": "root"}, "mode": "async_poll"},
    )
    child = api(
        served,
        "POST",
        "/agent-sessions",
        json={
            "blueprint": "worker",
            "parameters": {"prompt": "child"},
            "mode": "async_poll",
            "parent_session_id": root["id"],
        },
    )
    page.goto(f"{served.url}/sessions/{root['id']}")
    assert child["id"] in page.inner_text("main")
    shot(page, "session")
    page.click("button:has-text('Stop')")
    page.wait_for_selector(".facts .s-stopped")
    page.click("text=Delete…")
    assert "2 sessions" in page.inner_text("#preview")
    shot(page, "delete-preview")
    page.click("button:has-text('Delete 2 session(s)')")
    page.wait_for_selector("#deleted")
    gone = httpx.get(f"{served.api()}/sessions/{root['id']}", headers=served.headers)
    assert gone.status_code == 404
    assert not errors


def test_registry_pages_and_blueprint_edit(
    page: Any, served: LiveServer, errors: list[str]
) -> None:
    api(served, "POST", "/schemas", json={"name": "answer", "schema": {"type": "object"}})
    page.goto(f"{served.url}/blueprints")
    shot(page, "blueprints")
    page.click("text=worker")
    spec = json.loads(page.input_value("#spec"))
    spec["description"] = "edited in the browser"
    page.fill("#spec", json.dumps(spec))
    page.click("button:has-text('Save as version')")
    page.wait_for_selector("text=Saved.")
    assert api(served, "GET", "/blueprints/worker")["description"] == "edited in the browser"
    page.goto(f"{served.url}/schemas")
    page.click("text=answer")
    assert '"object"' in page.inner_text("pre")
    shot(page, "schemas")
    page.goto(f"{served.url}/runners")
    shot(page, "runners")
    assert not errors


def test_mcp_registry_from_a_blueprint(page: Any, served: LiveServer, errors: list[str]) -> None:
    """A blueprint's server links to its registry page (reached by keyboard), which shows the
    transport, auth kind, tool lists and the runner secrets' names."""
    api(
        served,
        "PUT",
        "/mcp-servers/search",
        json={
            "name": "search",
            "description": "Web search for the researchers",
            "transport": "http",
            "url": "https://search.example/mcp",
            "auth": {"kind": "bearer", "secret": "SEARCH_TOKEN"},
            "allow_tools": ["search", "fetch_*"],
            "deny_tools": ["admin_*"],
        },
    )
    api(
        served,
        "PUT",
        "/blueprints/researcher",
        json={
            "name": "researcher",
            "executor": {"kind": "echo"},
            "mcp_servers": ["search", "local-only"],
        },
    )
    page.goto(f"{served.url}/blueprints/researcher")
    assert "not in the registry" in page.inner_text("#blueprint-mcp")  # local-only: no link
    page.focus("#blueprint-mcp a")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.url}/mcp-servers/search")
    assert page.inner_text("#auth-kind") == "bearer"
    assert page.inner_text("#allow-tools") == "search, fetch_*"
    assert page.inner_text("#deny-tools") == "admin_*"
    assert "SEARCH_TOKEN" in page.inner_text("#secrets")
    assert page.inner_text("#used-by") == "researcher"
    shot(page, "mcp-server")
    page.click("nav >> text=MCP servers")
    page.wait_for_url(f"{served.url}/mcp-servers")
    assert "https://search.example/mcp" in page.inner_text("main table")
    shot(page, "mcp-servers")
    assert not errors


def test_phone_width_and_keyboard(browser: Any, page: Any, served: LiveServer) -> None:
    page.set_viewport_size({"width": 390, "height": 760})
    page.goto(f"{served.url}/sessions")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing forces sideways scrolling of the page
    shot(page, "sessions-phone")
    page.goto(f"{served.url}/mcp-servers/search")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{served.url}/sessions")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Roundtable"
    page.set_viewport_size({"width": 1100, "height": 720})


def test_reads_with_javascript_disabled(browser: Any, served: LiveServer) -> None:
    """Sign-in, lists, filters and paging are plain forms and links: no script needed."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{served.url}/")
        page.fill("#token", served.admin_token)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{served.url}/")
        page.goto(f"{served.url}/journals/ledger")
        assert "arrived live" in page.inner_text("#seq-2")
        assert "UTC" in page.inner_text("#seq-2")  # times as UTC text without script
        page.fill("input[name=text]", "first")
        page.click("button:has-text('Filter')")
        assert page.locator("table.entries tbody tr").count() == 1
        page.goto(f"{served.url}/documents?q=plan")
        assert "plan" in page.inner_text("main")
    finally:
        context.close()


def test_sign_out(page: Any, served: LiveServer, errors: list[str]) -> None:
    page.goto(f"{served.url}/")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{served.url}/login")
    page.goto(f"{served.url}/sessions")
    assert page.url == f"{served.url}/login"
    assert not errors
