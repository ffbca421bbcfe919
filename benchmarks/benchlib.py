"""Shared helpers for the benchmark scripts in this directory (not a benchmark itself).

Every benchmark is run as `python benchmarks/NAME.py`, so this module is importable as
`benchlib` (the script's directory is first on `sys.path`). It provides: latency statistics,
machine information, a scratch data directory and (for `--database-url`) a scratch PostgreSQL
database, a real `roundtable serve` on a free loopback port, CPU accounting for a process, and
the single JSON object each script prints on stdout. Progress goes to stderr only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy
from sqlalchemy.engine import make_url

import roundtable

# ---------------------------------------------------------------------------------------------
# Output


def log(message: str) -> None:
    """Progress for the person watching; never on stdout, which carries only the JSON result."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: Mapping[str, Any]) -> None:
    """Print the benchmark's one JSON object on stdout."""
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    sys.stdout.flush()


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)


# ---------------------------------------------------------------------------------------------
# Statistics


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of an ascending sequence, linearly interpolated (numpy's default)."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_ms(samples_s: Sequence[float]) -> dict[str, float | int]:
    """Count, mean, min, p50, p90, p99, p99.9 and max of durations given in seconds, in ms."""
    ordered = sorted(s * 1000.0 for s in samples_s)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "mean": rounded(sum(ordered) / len(ordered)),
        "min": rounded(ordered[0]),
        "p50": rounded(quantile(ordered, 0.50)),
        "p90": rounded(quantile(ordered, 0.90)),
        "p99": rounded(quantile(ordered, 0.99)),
        "p99_9": rounded(quantile(ordered, 0.999)),
        "max": rounded(ordered[-1]),
    }


# ---------------------------------------------------------------------------------------------
# Machine and backend


def machine_info() -> dict[str, Any]:
    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_total_mb: int | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total_mb = int(line.split()[1]) // 1024
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count() or 0
    return {
        "cpu_count": os.cpu_count(),
        "cpu_usable": affinity,
        "cpu_model": cpu_model,
        "mem_total_mb": mem_total_mb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "roundtable": roundtable.__version__,
    }


def machine_report(busy: float | None, load_before: tuple[float, float, float]) -> dict[str, Any]:
    """`machine_info()` plus how busy the machine was around the measurement: the share of
    CPU others used before it (`wait_quiet`, None when not waited for) and the load averages
    before and after, so a reader can tell a quiet figure from one taken under load."""
    return {
        **machine_info(),
        "busy_share_before": busy,
        "load_avg_before": [rounded(x, 2) for x in load_before],
        "load_avg_after": [rounded(x, 2) for x in os.getloadavg()],
    }


def backend_of(database_url: str | None) -> str:
    if database_url is None:
        return "sqlite"
    return "sqlite" if make_url(database_url).get_backend_name() == "sqlite" else "postgresql"


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="postgresql+asyncpg://USER[:PW]@HOST[:PORT]/DB: run on PostgreSQL; a scratch "
        "database is created next to DB and dropped afterwards. Default: SQLite in a temp dir.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp data directory (path on stderr)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine to be idle (other work skews results)",
    )


@contextlib.contextmanager
def temp_data_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A fresh data directory (the SQLite database, admin token and signing key live here)."""
    path = Path(tempfile.mkdtemp(prefix=f"rt-bench-{prefix}-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept data directory {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def scratch_database(database_url: str | None) -> AsyncIterator[str | None]:
    """None for SQLite; for PostgreSQL a freshly created database's URL, dropped at the end.

    The given URL only says where the server is and how to log in: the benchmark never writes
    into the database it names.
    """
    if backend_of(database_url) == "sqlite":
        yield database_url
        return
    import asyncpg  # type: ignore[import-untyped]  # only needed for PostgreSQL

    assert database_url is not None
    url = make_url(database_url)
    login = {
        "user": url.username,
        "password": url.password,
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
    }
    name = f"rt_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(database=url.database or "postgres", **login)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        log(f"created scratch PostgreSQL database {name}")
        try:
            yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------
# CPU accounting


def _clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


@dataclass
class CpuMeter:
    """CPU seconds used by a process between `start()` and `stop()` (this process by default)."""

    pid: int = field(default_factory=os.getpid)
    started: float = 0.0
    used: float = 0.0

    def start(self) -> None:
        self.started = process_cpu_seconds(self.pid)

    def stop(self) -> float:
        self.used = process_cpu_seconds(self.pid) - self.started
        return self.used


def system_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (Linux /proc/stat, all CPUs summed)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _clock_ticks()


@dataclass
class Interference:
    """How busy the machine was with other people's work while a benchmark ran.

    `foreign_cpu_share` is the CPU time used by processes other than this benchmark (and its
    server), as a share of all the machine's CPU time over the run: 0 is a quiet machine, 0.5
    on two cores means one core was busy elsewhere. Results with a high share are noisy.
    """

    #: Processes that belong to the benchmark besides this one (a subprocess server).
    pids: list[int] = field(default_factory=list)
    started_wall: float = 0.0
    started_busy: float = 0.0
    started_own: float = 0.0

    def own(self) -> float:
        return sum(process_cpu_seconds(pid) for pid in {os.getpid(), *self.pids})

    def start(self) -> None:
        self.started_wall = time.perf_counter()
        self.started_busy = system_busy_seconds()
        self.started_own = self.own()

    def report(self) -> dict[str, float]:
        wall = time.perf_counter() - self.started_wall
        busy = system_busy_seconds() - self.started_busy
        own = self.own() - self.started_own
        cpus = os.cpu_count() or 1
        return {
            "wall_s": rounded(wall),
            "own_cpu_s": rounded(own),
            "foreign_cpu_s": rounded(max(0.0, busy - own)),
            "foreign_cpu_share": rounded(max(0.0, busy - own) / (wall * cpus)) if wall else 0.0,
            "load_avg_1m": rounded(os.getloadavg()[0], 2),
        }


def wait_quiet(max_seconds: float, threshold: float = 0.15) -> float:
    """Wait (up to `max_seconds`) for a second in which the machine is less than `threshold`
    busy; returns the last measured busy share. 0 disables waiting."""
    cpus = os.cpu_count() or 1
    deadline = time.monotonic() + max_seconds
    share = 0.0
    while True:
        before = system_busy_seconds()
        time.sleep(1.0)
        share = (system_busy_seconds() - before) / cpus
        if share < threshold or time.monotonic() >= deadline:
            return share
        log(f"machine {share:.0%} busy with other work; waiting for a quiet moment")


# ---------------------------------------------------------------------------------------------
# A real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}:\n{stderr}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not become ready in {timeout:g}s")


@dataclass
class Server:
    url: str
    admin_token: str
    pid: int
    mode: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def api(self, namespace: str = "default") -> str:
        return f"{self.url}/api/v1/namespaces/{namespace}"


def _roundtable_exe() -> list[str]:
    exe = Path(sys.executable).parent / "roundtable"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("roundtable")
    if found:
        return [found]
    return [sys.executable, "-c", "from roundtable.cli.main import main; main()"]


@contextlib.contextmanager
def serve(env: Mapping[str, str], mode: str = "subprocess") -> Iterator[Server]:
    """Run the real app on a free loopback port, configured by `ROUNDTABLE_*` variables in `env`.

    `subprocess` runs `roundtable serve` (its own process, so its own GIL and core: the way it
    is deployed); `thread` runs `create_app(Settings())` under uvicorn in a thread of this process
    (client and server then share one interpreter, which inflates the latencies).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = Path(env["ROUNDTABLE_DATA_DIR"])
    if mode == "subprocess":
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
        full_env.update(env)
        proc = subprocess.Popen(
            [*_roundtable_exe(), "serve", "--port", str(port)],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(url, proc=proc)
            token = (data_dir / "admin.token").read_text().strip()
            yield Server(url=url, admin_token=token, pid=proc.pid, mode=mode)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        return
    if mode != "thread":
        raise ValueError(f"unknown server mode {mode!r}")
    import uvicorn

    from roundtable.api.app import create_app
    from roundtable.config import Settings

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_ready(url)
        token = (data_dir / "admin.token").read_text().strip()
        yield Server(url=url, admin_token=token, pid=os.getpid(), mode=mode)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# ---------------------------------------------------------------------------------------------
# A light HTTP client for load generators


class Http:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a request costs tens of
    microseconds of client CPU (httpx costs several hundred, which made the load generator,
    sharing the machine with the server, the bottleneck). JSON bodies in and out; `body=None`
    sends none (a GET)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.auth = f"Bearer {token}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        message = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: {self.auth}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(message)
        line = await self.reader.readline()
        if not line:  # the server closed the idle keep-alive connection: it read nothing
            await self.close()
            await self.open()
            assert self.reader is not None and self.writer is not None
            self.writer.write(message)
            line = await self.reader.readline()
        status = int(line.split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            chunks = []
            while size := int((await self.reader.readline()).strip(), 16):
                chunks.append(await self.reader.readexactly(size + 2))
            await self.reader.readline()
            payload = b"".join(c[:-2] for c in chunks)
        else:
            payload = await self.reader.readexactly(length)
        return status, json.loads(payload) if payload else None


# ---------------------------------------------------------------------------------------------
# Realistic journal content


_VERBS = ("Implemented", "Refactored", "Fixed", "Reviewed", "Tested", "Documented", "Profiled")
_THINGS = (
    "the lease renewal path in sessions/leases.py",
    "conflict handling for set_project with a stale expected_version",
    "Merkle inclusion proofs for checkpoints of size 2^k+1",
    "the SSE resume logic after Last-Event-ID",
    "pagination cursors in read_recent",
    "the FTS5 trigger on entries.message",
    "retry with exponential backoff and jitter in the client",
)
_TAILS = (
    "All 148 tests pass on SQLite and PostgreSQL.",
    "Follow-up: measure p99 under 100 concurrent agents.",
    "Edge case: empty batch now returns a clear invalid_input error.",
    "Touched 3 files, +212/-57 lines; no schema change.",
    "Blocked on a review of the migration; parked until tomorrow.",
)


def entry_payload(i: int) -> tuple[str, str, str, dict[str, Any]]:
    """A realistic (message, status, kind, meta) for entry number `i`: ~150-250 chars, 6 meta keys."""
    message = (
        f"{_VERBS[i % len(_VERBS)]} {_THINGS[i % len(_THINGS)]} (step {i}). "
        f"{_TAILS[i % len(_TAILS)]}"
    )
    status = ("info", "success", "info", "warn", "info", "error", "info", "bug")[i % 8]
    kind = ("progress", "decision", "progress", "test", "review")[i % 5]
    meta = {
        "occurred_at": f"2026-01-05T12:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "files": [f"src/roundtable/module_{i % 17}.py", f"tests/test_{i % 11}.py"],
        "lines_added": i % 300,
        "lines_removed": i % 70,
        "ticket": f"RT-{1000 + i % 500}",
        "ok": i % 3 != 0,
    }
    return message, status, kind, meta
