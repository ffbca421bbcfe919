"""Orchestration with `echo` executors (DESIGN targets: >= 300 runs/s end to end on SQLite;
claim p99 < 20 ms with 8 runners).

Starts the real server (`roundtable serve`) and real runner processes (`roundtable runner
--executors echo`), applies one `echo` blueprint, then measures three phases (with
`--claim-only`, only phases 2 and 3):

1. `throughput`: `--runs` sessions started with mode `sync` by `--concurrency` concurrent
   clients; each call returns when the session's run has been claimed by a runner, executed and
   reported, so runs/s is create -> result end to end, and the per-call latency is recorded.
   Every answer is checked (status, `result_data == {"echo": parameters}`).
   Afterwards (unmeasured) the run rows of a sample of those sessions are read back to split
   the time on the server: `queued_to_claimed_ms` is how long a run waited in the queue before
   a long-polling runner claimed it (the long-poll's own wake-up included), `claimed_to_finished_ms`
   the rest up to the recorded end.
2. `claim`: the runner processes are stopped, `--claim-runs` sessions are queued, then 8
   runners (in this process, over HTTP, making the runner protocol's calls as `roundtable
   runner` does, on the light client) claim them one at a time (`wait=0`, `start` as
   `roundtable runner` claims) and complete each; the latency of every claim call that returned
   a run is recorded, and CPU per claim + complete cycle (server, and these runners).
   `wait=0`: no long-poll wait is in these figures, only the claim's own time (HTTP, the claim
   transaction, and waiting for the writer behind the other 7 runners' claims and reports).
3. `claim_at_half_load`: the same with half as many runs, each runner starting a claim at a
   steady pace, together half the cycles per second phase 2 reached: what a claim costs when
   the server is not saturated (the way issue 16 states write latency, at half capacity).

Prints one JSON object.

    python benchmarks/orchestration.py [--runs 2000] [--concurrency 64] [--runners 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchlib import (
    Http,
    Interference,
    Server,
    add_common_args,
    backend_of,
    emit,
    latency_ms,
    log,
    machine_info,
    process_cpu_seconds,
    rounded,
    scratch_database,
    serve,
    temp_data_dir,
    wait_quiet,
)

TARGET_RUNS_PER_S = 300.0
TARGET_CLAIM_P99_MS = 20.0
CLAIMERS = 8


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {
        "ROUNDTABLE_DATA_DIR": str(data_dir),
        "ROUNDTABLE_WRITE_RATE_PER_SECOND": "1000000000",
        "ROUNDTABLE_WRITE_BURST": "1000000000",
        "ROUNDTABLE_MAX_SESSIONS_PER_AGENT": "1000000",
        "ROUNDTABLE_MAX_SESSIONS_PER_NAMESPACE": "1000000",
    }
    if database_url is not None:
        env["ROUNDTABLE_DATABASE_URL"] = database_url
    return env


def start_runners(server: Server, count: int, capacity: int) -> list[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).parent / "roundtable"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUNDTABLE_")}
    procs = []
    for n in range(count):
        procs.append(
            subprocess.Popen(
                [
                    str(exe),
                    "runner",
                    "--url",
                    server.url,
                    "--token",
                    server.admin_token,
                    "--name",
                    f"bench-{n}",
                    "--executors",
                    "echo",
                    "--capacity",
                    str(capacity),
                    "--log-level",
                    "warning",
                    "--grace",
                    "5",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def stop_runners(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def throughput(server: Server, args: argparse.Namespace, pids: list[int]) -> dict[str, Any]:
    latencies: list[float] = []
    sessions: list[str] = []
    errors: dict[str, int] = {}
    path = "/api/v1/namespaces/default/agent-sessions"
    # `--concurrency` clients, each on its own keep-alive connection, taking the next job
    clients = [Http(server.url, server.admin_token) for _ in range(args.concurrency)]

    async def one(http: Http, n: int, record: bool) -> None:
        params = {"prompt": f"job {n}"}
        body = {"blueprint": "bench", "parameters": params, "mode": "sync", "wait_seconds": 60}
        started = time.perf_counter()
        status, answer = await http.request("POST", path, body)
        elapsed = time.perf_counter() - started
        ok = (
            status in (200, 201)
            and isinstance(answer, dict)
            and not answer.get("timed_out")
            and answer.get("result_data") == {"echo": params}
        )
        if not ok:
            key = f"{status} {answer.get('status') if isinstance(answer, dict) else ''}"
            errors[key] = errors.get(key, 0) + 1
        if record:
            latencies.append(elapsed)
            if ok:
                sessions.append(answer["id"])

    async def drain(jobs: list[int], record: bool) -> None:
        async def client(http: Http) -> None:
            while jobs:
                await one(http, jobs.pop(), record)

        await asyncio.gather(*(client(http) for http in clients))

    try:
        log(f"warm-up: {args.warmup} runs")
        await drain([-n - 1 for n in range(args.warmup)][::-1], False)
        log(f"throughput: {args.runs} runs, {args.concurrency} at a time")
        meter = Interference(pids=pids)
        meter.start()
        cpu_before = {pid: process_cpu_seconds(pid) for pid in [os.getpid(), *pids]}
        writes_before = await write_transactions(server)
        began = time.perf_counter()
        await drain(list(range(args.runs))[::-1], True)
        wall = time.perf_counter() - began
        interference = meter.report()
        cpu = {pid: process_cpu_seconds(pid) - cpu_before[pid] for pid in cpu_before}
        writes = await write_transactions(server) - writes_before
        queued, held = await run_timings(clients[0], sessions[:: max(1, len(sessions) // 300)])
    finally:
        for http in clients:
            await http.close()
    return {
        "runs": args.runs,
        "runs_per_s": rounded(args.runs / wall, 1),
        "wall_s": rounded(wall),
        "create_to_result_ms": latency_ms(latencies),
        "queued_to_claimed_ms": latency_ms(queued),
        "claimed_to_finished_ms": latency_ms(held),
        "bad_answers": errors,
        # the server's write transactions per run (each one takes the writer and commits)
        "write_transactions_per_run": rounded(writes / args.runs, 2),
        # CPU milliseconds per run, by process: where the time goes.
        "cpu_ms_per_run": {
            "server": rounded(cpu[pids[0]] * 1000 / args.runs),
            "runners": rounded(sum(cpu[p] for p in pids[1:]) * 1000 / args.runs),
            "client": rounded(cpu[os.getpid()] * 1000 / args.runs),
        },
        "interference": interference,
    }


async def write_transactions(server: Server) -> float:
    """Write transactions the server has committed or rolled back so far (from `/metrics`)."""
    async with httpx.AsyncClient(headers=server.headers) as client:
        r = await client.get(f"{server.url}/metrics")
        r.raise_for_status()
    name = "roundtable_db_write_transaction_duration_seconds_count"
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in r.text.splitlines() if line.startswith(name)
    )


async def run_timings(http: Http, sessions: list[str]) -> tuple[list[float], list[float]]:
    """From the sampled sessions' run rows: queued -> claimed, and claimed -> finished (s)."""
    queued: list[float] = []
    held: list[float] = []
    for session_id in sessions:
        status, answer = await http.request(
            "GET", f"/api/v1/namespaces/default/sessions/{session_id}/runs"
        )
        if status != 200:
            raise RuntimeError(f"runs of {session_id}: {status} {answer}")
        for run in answer["runs"] if isinstance(answer, dict) else answer:
            created, claimed, finished = (
                datetime.fromisoformat(run[k]) if run.get(k) else None
                for k in ("created_at", "claimed_at", "finished_at")
            )
            if created and claimed and finished:
                queued.append((claimed - created).total_seconds())
                held.append((finished - claimed).total_seconds())
    return queued, held


async def queue_runs(server: Server, count: int) -> None:
    async with httpx.AsyncClient(base_url=server.api(), headers=server.headers, timeout=60) as c:
        log(f"claim: queueing {count} runs")
        gate = asyncio.Semaphore(32)

        async def queue(n: int) -> None:
            body = {"blueprint": "bench", "parameters": {"prompt": f"q {n}"}, "mode": "async_poll"}
            async with gate:
                r = await c.post("/agent-sessions", json=body)
            r.raise_for_status()

        await asyncio.gather(*(queue(n) for n in range(count)))


async def claim_latency(server: Server, runs: int, interval: float | None = None) -> dict[str, Any]:
    """`CLAIMERS` runners claim `runs` queued runs one at a time and complete each: back to
    back (`interval` None: the server saturated, so a claim waits behind the others' writes),
    or each runner starting a claim every `interval` seconds (a steady load below capacity)."""
    await queue_runs(server, runs)
    samples: list[float] = []
    claimed: list[str] = []
    loop = asyncio.get_running_loop()

    async def claimer(n: int) -> None:
        # The runner protocol's calls, as `roundtable runner` (RunnerApi) makes them, on the
        # light client: 8 runners share this process, and httpx's CPU would sit inside every
        # measured claim (a real runner has its own process).
        http = Http(server.url, server.admin_token)
        body = {
            "name": f"claimer-{n}",
            "hostname": "bench",
            "namespace": "default",
            "tags": [],
            "executors": ["echo"],
            "capacity": 1,
        }
        status, reg = await http.request("POST", "/api/v1/runners", body)
        if status != 201:
            raise RuntimeError(f"register: {status} {reg}")
        http.auth = f"Bearer {reg['token']}"
        base = f"/api/v1/runners/{reg['id']}"
        due = loop.time() + (interval or 0.0) * n / CLAIMERS  # staggered starts
        try:
            while True:
                if interval is not None:
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    due += interval
                started = time.perf_counter()
                status, answer = await http.request(
                    "POST", f"{base}/claim", {"max": 1, "wait": 0, "start": True}
                )
                elapsed = time.perf_counter() - started
                if status != 200:
                    raise RuntimeError(f"claim: {status} {answer}")
                got = answer["runs"]
                if not got:
                    return
                samples.append(elapsed)
                for run in got:
                    if run["status"] != "running" or not run.get("run_token"):
                        raise RuntimeError(f"claimed run not running: {run}")
                    claimed.append(run["id"])
                    result = {"result_data": {"echo": run["input"]}, "result_text": None}
                    status, done = await http.request(
                        "POST", f"{base}/runs/{run['id']}/complete", result
                    )
                    if status != 200 or done["status"] != "completed":
                        raise RuntimeError(f"complete: {status} {done}")
        finally:
            await http.request("DELETE", base)
            await http.close()

    pace = "back to back" if interval is None else f"one claim each every {interval * 1000:.1f} ms"
    log(f"claim: {CLAIMERS} runners draining the queue, {pace}")
    meter = Interference(pids=[server.pid])
    meter.start()
    cpu_before = {pid: process_cpu_seconds(pid) for pid in (server.pid, os.getpid())}
    began = time.perf_counter()
    await asyncio.gather(*(claimer(n) for n in range(CLAIMERS)))
    wall = time.perf_counter() - began
    cpu = {pid: process_cpu_seconds(pid) - cpu_before[pid] for pid in cpu_before}
    interference = meter.report()
    cycles = max(1, len(claimed))
    return {
        "runners": CLAIMERS,
        "claimed": len(claimed),
        "claimed_twice": len(claimed) - len(set(claimed)),
        "cycles_per_s": rounded(len(claimed) / wall, 1),
        "claim_ms": latency_ms(samples),
        # CPU milliseconds per claim + complete cycle: the server's, and this process's (the
        # 8 runners' protocol client, whose time is inside the measured claim latencies too)
        "cpu_ms_per_cycle": {
            "server": rounded(cpu[server.pid] * 1000 / cycles),
            "runners_client": rounded(cpu[os.getpid()] * 1000 / cycles),
        },
        "interference": interference,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    busy = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    async with scratch_database(args.database_url) as database_url:
        with (
            temp_data_dir("orchestration", args.keep) as data_dir,
            serve(server_env(data_dir, database_url)) as server,
        ):
            log(f"server {server.url} ({backend_of(database_url)})")
            async with httpx.AsyncClient(base_url=server.api(), headers=server.headers) as c:
                r = await c.put(
                    "/blueprints/bench", json={"name": "bench", "executor": {"kind": "echo"}}
                )
                r.raise_for_status()
            phase1: dict[str, Any] = {}
            if not args.claim_only:
                runners = start_runners(server, args.runners, args.capacity)
                try:
                    phase1 = await throughput(server, args, [server.pid, *(p.pid for p in runners)])
                finally:
                    stop_runners(runners)
            phase2 = await claim_latency(server, args.claim_runs)
            # The same at half the rate the 8 runners reached back to back (as issue 16 states
            # write latency at half capacity): a claim's own time, not a queue behind others.
            interval = CLAIMERS / (phase2["cycles_per_s"] / 2)
            phase3 = await claim_latency(server, args.claim_runs // 2, interval)
    return {
        "benchmark": "orchestration",
        "backend": backend_of(args.database_url),
        "options": {
            "runs": args.runs,
            "concurrency": args.concurrency,
            "runners": args.runners,
            "capacity": args.capacity,
            "claim_runs": args.claim_runs,
            "claim_only": args.claim_only,
        },
        "throughput": phase1,
        "claim": phase2,
        "claim_at_half_load": phase3,
        "target": {
            "runs_per_s": TARGET_RUNS_PER_S,
            "runs_per_s_met": (phase1["runs_per_s"] >= TARGET_RUNS_PER_S if phase1 else None),
            "claim_p99_ms": TARGET_CLAIM_P99_MS,
            "claim_p99_met": phase2["claim_ms"].get("p99", 1e9) < TARGET_CLAIM_P99_MS,
            "claim_p99_at_half_load_met": (
                phase3["claim_ms"].get("p99", 1e9) < TARGET_CLAIM_P99_MS
            ),
        },
        "machine": {**machine_info(), "busy_share_before": busy},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="measured runs (2000)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured runs first (100)")
    parser.add_argument("--concurrency", type=int, default=64, help="clients at once (64)")
    parser.add_argument("--runners", type=int, default=2, help="runner processes (2)")
    parser.add_argument("--capacity", type=int, default=32, help="runs per runner at once (32)")
    parser.add_argument("--claim-runs", type=int, default=2000, help="runs queued for phase 2")
    parser.add_argument(
        "--claim-only",
        action="store_true",
        help="skip phase 1 (throughput): only the claim phases",
    )
    add_common_args(parser)
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
