"""Rotation and mirror routes over HTTP, on both backends: rotate, 409 when empty, the mirror
path admin-only and confined, and the CLI commands that go with them."""

from __future__ import annotations

import subprocess

import httpx

from roundtable.config import Settings
from tests.api.conftest import assert_problem, mint
from tests.live import LiveServer, env_for, roundtable_exe


def test_rotate_and_mirror_routes(live_server: LiveServer, settings: Settings) -> None:
    api = live_server.api()
    admin = live_server.headers
    agent = mint(live_server, "alice")
    r = httpx.post(f"{api}/projects", json={"name": "web"}, headers=admin)
    assert r.status_code == 201, r.text
    assert_problem(httpx.post(f"{api}/projects/web/rotate", headers=agent), 409, "conflict")
    body = {"entries": [{"message": f"m{i}"} for i in range(4)]}
    assert httpx.post(f"{api}/projects/web/entries", json=body, headers=agent).status_code == 201

    # an agent may not choose where the server writes
    denied = httpx.put(f"{api}/projects/web/mirror", json={"path": "web.md"}, headers=agent)
    assert_problem(denied, 403, "permission_denied")
    bad = httpx.put(f"{api}/projects/web/mirror", json={"path": "../../x.md"}, headers=admin)
    assert_problem(bad, 422, "invalid_input")
    absolute = httpx.put(f"{api}/projects/web/mirror", json={"path": "/tmp/x.md"}, headers=admin)
    assert_problem(absolute, 422, "invalid_input")
    r = httpx.put(f"{api}/projects/web/mirror", json={"path": "web.md"}, headers=admin)
    assert r.status_code == 200, r.text
    mirror = settings.data_dir / "mirrors" / "web.md"
    assert r.json()["file"] == str(mirror) and r.json()["lines"] == 4

    r = httpx.post(f"{api}/projects/web/rotate", headers=agent)
    assert r.status_code == 200, r.text
    sealed = r.json()
    assert (sealed["segment"], sealed["first_seq"], sealed["last_seq"]) == (1, 1, 4)
    assert "Segment 2, entries from seq 5." in mirror.read_text()
    assert_problem(httpx.post(f"{api}/projects/web/rotate", headers=agent), 409, "conflict")

    # the CLI: project mirror (HTTP, admin token from the data dir) and log render (local)
    env = env_for(settings, ROUNDTABLE_URL=live_server.url)
    run = subprocess.run(
        [roundtable_exe(), "project", "mirror", "web", "team/web.md"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    moved = settings.data_dir / "mirrors" / "team" / "web.md"
    assert moved.exists()
    out = settings.data_dir / "copy.md"
    run = subprocess.run(
        [roundtable_exe(), "log", "render", "web", "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == moved.read_bytes()
    run = subprocess.run(
        [roundtable_exe(), "project", "mirror", "web", "../x.md"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "invalid_input" in run.stderr
