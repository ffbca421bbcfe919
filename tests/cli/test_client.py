"""The HTTP client: typed results, problem details back as domain errors, compare-and-set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from roundtable.client import RoundtableClient, ServerUnreachable, retry_async, use_project
from roundtable.client.http import error_from_response
from roundtable.errors import (
    ConflictError,
    InvalidInput,
    LeaseExpiredError,
    NotFound,
    PermissionDenied,
    RoundtableError,
    Unauthenticated,
)
from roundtable.journal.models import EntryInput, QueryFilter, Status
from roundtable.sessions.models import EndStatus, SessionStatus
from tests.live import LiveServer
from tests.pg import free_port


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[RoundtableClient]:
    async with RoundtableClient(live_server.url, live_server.admin_token) as c:
        yield c


async def test_round_trip_of_every_call(client: RoundtableClient) -> None:
    session = await client.start_session("alice", metadata={"task": "t"})
    assert (session.agent, session.status) == ("alice", SessionStatus.ACTIVE)
    context = await client.set_project("alice", "web", create=True, session_id=session.id)
    assert (context.project, context.version) == ("web", 1)
    assert (await client.get_context("alice")).project == "web"

    one = await client.append("web", "first", status=Status.SUCCESS, meta={"n": 1}, agent="alice")
    many = await client.append_many(
        "web", [EntryInput(message="second"), EntryInput(message="third")], agent="alice"
    )
    assert (one.first_seq, many.first_seq, many.last_seq) == (1, 2, 3)

    recent = await client.read_recent("web", limit=2)
    assert [e.seq for e in recent.entries] == [3, 2] and recent.next_cursor is not None
    older = await client.read_recent("web", limit=2, cursor=recent.next_cursor)
    assert [e.seq for e in older.entries] == [1]

    found = await client.query(QueryFilter(status=[Status.SUCCESS]))
    assert [e.message for e in found.entries] == ["first"]
    assert [p.name for p in await client.list_projects()] == ["web"]
    assert (await client.get_project("web")).size == 3
    assert (await client.verify("web")).ok

    listed = await client.list_sessions(agent="alice", status=SessionStatus.ACTIVE)
    assert [s.id for s in listed] == [session.id]
    ended = await client.end_session(session.id, status=EndStatus.STOPPED)
    assert ended.status == SessionStatus.STOPPED

    issued = await client.create_token("bob", ttl_seconds=600)
    assert (issued.agent, issued.namespace, issued.ttl_seconds) == ("bob", "default", 600)


async def test_problem_details_become_domain_errors(
    live_server: LiveServer, client: RoundtableClient
) -> None:
    with pytest.raises(NotFound) as missing:
        await client.get_project("nowhere")
    assert "nowhere" in missing.value.message and missing.value.data == {"project": "nowhere"}

    await client.set_project("alice", "web", create=True)
    await client.set_project("alice", "web")
    with pytest.raises(ConflictError) as conflict:
        await client.set_project("alice", "web", expected_version=1)
    assert conflict.value.data["current_version"] == 2
    assert conflict.value.data["current_project"] == "web"

    with pytest.raises(InvalidInput) as invalid:
        await client.append("web", "  ", agent="alice")
    assert invalid.value.data["field"] == "message"

    session = await client.start_session("alice")
    await client.end_session(session.id)
    with pytest.raises(LeaseExpiredError):
        await client.append("web", "late", agent="alice", session_id=session.id)

    issued = await client.create_token("bob")
    async with RoundtableClient(live_server.url, issued.token) as as_bob:
        with pytest.raises(PermissionDenied):
            await as_bob.get_context("alice")
    async with RoundtableClient(live_server.url, "wrong") as stranger:
        with pytest.raises(Unauthenticated):
            await stranger.list_projects()
    assert (await client.get_project("web")).size == 0


def test_responses_that_are_not_domain_problems(live_server: LiveServer) -> None:
    unknown = error_from_response(httpx.get(f"{live_server.url}/api/v1/no-such-route"))
    assert type(unknown) is RoundtableError and unknown.exit_code == 1
    assert "HTTP 404" in unknown.message and unknown.data == {"status": 404}

    request = httpx.Request("GET", "http://proxy.example/api")
    crashed = error_from_response(httpx.Response(502, text="Bad gateway", request=request))
    assert type(crashed) is RoundtableError
    assert crashed.message == "HTTP 502 from http://proxy.example/api: Bad gateway"


async def test_names_that_cannot_be_valid_never_leave_the_client(
    client: RoundtableClient,
) -> None:
    for bad in ("a/b", "..", "a?b=c"):
        with pytest.raises(InvalidInput):
            await client.get_project(bad)
    with pytest.raises(InvalidInput):
        await client.get_context("x/y")


async def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with RoundtableClient(url, "token") as c:
        with pytest.raises(ServerUnreachable) as raised:
            await c.list_projects()
    assert f"is `roundtable serve` running at {url}?" in raised.value.message
    assert raised.value.exit_code == 1


class CompetingWrite(httpx.AsyncBaseTransport):
    """Real HTTP, except that another writer gets in just before the first PUT goes out.

    The race is the real one a compare-and-set exists for, made deterministic at the edge.
    """

    def __init__(self, compete: Callable[[], Awaitable[None]]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.compete = compete
        self.pending = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.pending and request.method == "PUT":
            self.pending = False
            await self.compete()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_use_project_rereads_after_losing_a_race(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.api(), headers=live_server.headers) as other:
        await other.put("/agents/alice/context", json={"project": "web", "create": True})
        await other.post("/projects", json={"name": "api"})

        async def compete() -> None:
            response = await other.put("/agents/alice/context", json={"project": "api"})
            assert response.json()["version"] == 2

        retries: list[BaseException] = []
        transport = CompetingWrite(compete)
        async with RoundtableClient(
            live_server.url, live_server.admin_token, transport=transport
        ) as client:
            context = await use_project(
                client,
                "alice",
                "docs",
                create=True,
                sleep=no_sleep,
                on_retry=lambda n, e, d: retries.append(e),
            )
    assert (context.project, context.version) == ("docs", 3)
    [lost] = retries
    assert isinstance(lost, ConflictError)
    assert (lost.data["current_version"], lost.data["current_project"]) == (2, "api")


async def test_concurrent_switches_all_land_exactly_once(
    live_server: LiveServer, client: RoundtableClient
) -> None:
    names = [f"p{i}" for i in range(8)]
    for name in names:
        await client.set_project("alice", name, create=True)
    start = (await client.get_context("alice")).version

    results = await asyncio.gather(
        *(use_project(client, "alice", name, attempts=50, max_delay=0.05) for name in names)
    )
    assert sorted(r.version for r in results) == list(range(start + 1, start + 9))
    assert (await client.get_context("alice")).version == start + 8


async def test_retry_gives_up_with_the_servers_conflict(client: RoundtableClient) -> None:
    await client.set_project("alice", "web", create=True)
    calls = []

    async def stale() -> object:
        calls.append(1)
        return await client.set_project("alice", "web", expected_version=0)

    with pytest.raises(ConflictError) as raised:
        await retry_async(stale, attempts=3, sleep=no_sleep)
    assert len(calls) == 3 and raised.value.data["current_version"] == 1
