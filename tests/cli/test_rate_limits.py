"""Rate limits (HTTP 429) through the client and the CLI: exit 7, `retry_after` respected."""

from __future__ import annotations

from pathlib import Path

import pytest

from roundtable.client import RoundtableClient, retry_async
from roundtable.config import Settings
from roundtable.errors import RateLimited
from tests.cli.conftest import Cli
from tests.live import LiveServer


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A server that allows a burst of two writes per agent, then one every 100 seconds."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        sweep_interval_seconds=3600,
        write_rate_per_second=0.01,
        write_burst=2,
    )


def test_cli_exits_7_when_rate_limited(cli: Cli) -> None:
    cli.ok("project", "use", "web", "--create")  # write 1
    cli.ok("log", "append", "fits in the burst")  # write 2
    result = cli("log", "append", "one too many")
    assert result.exit_code == 7
    assert "rate_limited" in result.stderr and "retry_after" in result.stderr
    assert [e["message"] for e in cli.entries("web")] == ["fits in the burst"]


async def test_retry_waits_at_least_what_the_server_asks(live_server: LiveServer) -> None:
    sleeps: list[float] = []
    limited: list[BaseException] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async with RoundtableClient(live_server.url, live_server.admin_token) as client:
        await client.set_project("alice", "web", create=True)
        await client.append("web", "second write", agent="alice")
        with pytest.raises(RateLimited):
            await retry_async(
                lambda: client.append("web", "third", agent="alice"),
                attempts=2,
                base_delay=0.01,
                max_delay=0.1,
                sleep=sleep,
                on_retry=lambda n, e, d: limited.append(e),
            )
    [first] = limited
    assert isinstance(first, RateLimited) and first.retry_after > 1  # about 100 s
    assert sleeps == [first.retry_after]  # far above max_delay: retry_after is the floor
