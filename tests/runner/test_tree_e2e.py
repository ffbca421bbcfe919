"""A session tree of depth 3 with fan-out, run by real `roundtable runner` processes against a
real `roundtable serve` process: every callback is delivered exactly once, also when the server
or a runner is SIGKILLed in the middle of the tree."""

from __future__ import annotations

import collections
import json
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from roundtable.config import Settings
from tests.live import LiveServer, subprocess_server
from tests.runner import cluster
from tests.runner.cluster import ACTIVE, FAST

FANOUT = 5  # children of the root
SPAWNING = 2  # of which this many start children of their own
LEAVES = 2  # each
SESSIONS = 1 + FANOUT + SPAWNING * LEAVES

MID_SCHEMA = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "minLength": 1}, "spawn": {"type": "array"}},
    "required": ["prompt"],
    "additionalProperties": False,
}


def blueprints(leaf_sleep: float) -> list[dict[str, Any]]:
    leaf = {"blueprint": "leaf", "parameters": {"prompt": "leaf"}, "mode": "async_callback"}
    mids = [
        {
            "blueprint": "mid",
            "parameters": {"prompt": f"mid {i}", "spawn": [leaf] * (LEAVES if i < SPAWNING else 0)},
            "mode": "async_callback",
        }
        for i in range(FANOUT)
    ]
    return [
        {
            "name": "root",
            "executor": {"kind": "echo", "config": {"children": mids}},
            "limits": {"max_children": 10, "max_depth": 3},
        },
        {
            "name": "mid",
            "executor": {"kind": "echo", "config": {"children_from_input": "spawn"}},
            "parameters_schema": MID_SCHEMA,
        },
        {"name": "leaf", "executor": {"kind": "echo", "config": {"sleep": leaf_sleep}}},
    ]


def callbacks_in(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The envelopes a session received, over all its completed callback runs."""
    envelopes: list[dict[str, Any]] = []
    for run in runs:
        if run["kind"] == "callback" and run["status"] == "completed":
            envelopes.extend(run["input"]["callbacks"])
    return envelopes


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def settled(
    client: httpx.Client, root: str
) -> tuple[dict[str, list[str]], dict[str, list[dict[str, Any]]]]:
    """The tree once complete: all sessions started, none busy, every callback delivered.

    A parent is called back once per completed run of each child (the child went idle with a
    new result), so the tree is complete when each parent holds as many envelopes for each child
    as the child has completed runs. Until then this raises AssertionError saying what is
    missing (shown if the wait times out). Returns the tree and every session's runs."""
    edges = cluster.tree(client, root)
    assert len(edges) == SESSIONS, f"{len(edges)} of {SESSIONS} sessions started"
    runs = {sid: cluster.runs(client, sid) for sid in edges}
    for sid in edges:
        status = cluster.session(client, sid)["status"]
        assert status not in ACTIVE, f"session {sid} is {status}"
        states = [(r["kind"], r["status"]) for r in runs[sid]]
        assert all(st == "completed" for _, st in states), f"session {sid} runs: {states}"
    for sid, kids in edges.items():
        got = collections.Counter(e["child_session_id"] for e in callbacks_in(runs[sid]))
        for kid in kids:
            assert got[kid] >= len(runs[kid]), f"{sid}: {got[kid]} of {len(runs[kid])} for {kid}"
    return edges, runs


def check_tree(client: httpx.Client, root: str, group: cluster.Runners) -> list[dict[str, Any]]:
    """Wait for the tree to settle; assert its shape and exactly-once callbacks; its runs."""

    def done() -> tuple[dict[str, list[str]], dict[str, list[dict[str, Any]]]]:
        group.assert_alive()
        return settled(client, root)

    edges, runs = cluster.wait_until("the tree to complete", done, timeout=120)
    assert len(edges[root]) == FANOUT
    depths = {cluster.session(client, sid)["depth"] for sid in edges}
    assert depths == {0, 1, 2}
    assert sorted(len(kids) for sid, kids in edges.items() if sid != root) == sorted(
        [LEAVES] * SPAWNING + [0] * (SESSIONS - 1 - SPAWNING)
    )
    for sid, kids in edges.items():
        envelopes = callbacks_in(runs[sid])
        assert {e["child_session_id"] for e in envelopes} == set(kids)
        for kid in kids:
            # Exactly once: one envelope per completed run of the child, each carrying that
            # run's own result (no run reported twice, none missing).
            received = sorted(
                canonical(e["result_data"]) for e in envelopes if e["child_session_id"] == kid
            )
            produced = sorted(canonical(r["result_data"]) for r in runs[kid])
            assert received == produced, f"callbacks of {sid} about {kid}"
        for envelope in envelopes:
            assert envelope["error"] is None, envelope
            assert envelope["status"] == "idle", envelope
    return [run for session_runs in runs.values() for run in session_runs]


def restart_port(server: LiveServer) -> int:
    port = urlparse(server.url).port
    assert port is not None
    return port


def test_tree_of_depth_3_calls_every_parent_back_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        subprocess_server(settings, tmp_path / "server.log", **FAST) as server,
        cluster.runners(tmp_path) as group,
        cluster.api(server) as client,
    ):
        for spec in blueprints(leaf_sleep=0.0):
            cluster.put_blueprint(client, spec)
        group.start(server.url, server.admin_token, "r1", capacity=4)
        group.start(server.url, server.admin_token, "r2", capacity=4)
        root = cluster.start(client, "root", {"prompt": "build a team"})
        runs = check_tree(client, root, group)
        assert all(r["attempt"] == 1 for r in runs)
        codes = group.terminate_all()  # a graceful stop: exits 0 and unregisters
        assert codes == {"r1": 0, "r2": 0}, [r.text() for r in group.started]
        listed = httpx.get(f"{server.url}/api/v1/runners", headers=server.headers)
        assert listed.status_code == 200, listed.text
        states = {r["name"]: r["state"] for r in listed.json()["runners"]}
        assert states.get("r1", "gone") == states.get("r2", "gone") == "gone", states


def test_tree_survives_a_server_sigkill(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with (
        cluster.runners(tmp_path) as group,
        subprocess_server(settings, log, **FAST) as server,
    ):
        port = restart_port(server)
        with cluster.api(server) as client:
            for spec in blueprints(leaf_sleep=1.5):
                cluster.put_blueprint(client, spec)
            group.start(server.url, server.admin_token, "r1", capacity=6)
            root = cluster.start(client, "root", {"prompt": "build a team"})
            # Mid-tree: leaves started (their runs sleeping), callbacks queued above them.
            cluster.wait_until(
                "leaves to start",
                lambda: len(cluster.tree(client, root)) == SESSIONS,
                timeout=60,
            )
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        assert server.process.wait(timeout=30) == -signal.SIGKILL
        with (
            subprocess_server(settings, log, port=port, **FAST) as server,
            cluster.api(server) as client,
        ):
            check_tree(client, root, group)
        assert group.started[0].process.poll() is None, "the runner died with the server"


def test_tree_survives_a_runner_sigkill(settings: Settings, tmp_path: Path) -> None:
    with (
        subprocess_server(settings, tmp_path / "server.log", **FAST) as server,
        cluster.runners(tmp_path) as group,
        cluster.api(server) as client,
    ):
        for spec in blueprints(leaf_sleep=4.0):
            cluster.put_blueprint(client, spec)
        first = group.start(server.url, server.admin_token, "doomed", capacity=8)
        root = cluster.start(client, "root", {"prompt": "build a team"})

        def leaves_running() -> bool:
            edges = cluster.tree(client, root)
            running = 0
            for sid in edges:
                if cluster.session(client, sid)["blueprint"] == "leaf":
                    running += sum(r["status"] == "running" for r in cluster.runs(client, sid))
            return running == SPAWNING * LEAVES

        cluster.wait_until("the leaves to run on the doomed runner", leaves_running, timeout=60)
        first.kill()
        group.start(server.url, server.admin_token, "rescuer", capacity=8)
        runs = check_tree(client, root, group)
        retried = [r for r in runs if r["attempt"] > 1]
        assert len(retried) >= SPAWNING * LEAVES, "the dead runner's runs were not requeued"
