"""Witnesses (issue 15, D16): a second Roundtable instance runs `roundtable witness`, the server
sends it every checkpoint with a consistency proof, and `verify --witnesses 1` checks the
cosignature. The witness refuses forks and bad proofs as C2SP tlog-witness says."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from roundtable.auth.keys import SigningKey
from roundtable.config import Settings
from roundtable.journal import notes
from tests import live
from tests.live import LiveServer, env_for, roundtable_exe
from tests.pg import free_port


@pytest.fixture
def witness(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str, SigningKey]]:
    """(witness verifier key, its URL, the log's signing key) with `roundtable witness` up."""
    log_key = SigningKey.load_or_create(settings.data_dir)
    log_vkey = notes.verifier_key(settings.log_origin, log_key.public_raw)
    wdir = tmp_path / "witness-data"
    env = env_for(settings, ROUNDTABLE_DATA_DIR=str(wdir))
    exe = roundtable_exe()
    vkey = subprocess.run(
        [exe, "witness", "--print-key", "--name", "witness/test"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    with (tmp_path / "witness.log").open("wb") as sink:
        proc = subprocess.Popen(
            [exe, "witness", "--log", log_vkey, "--name", "witness/test", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.post(f"{url}/add-checkpoint", content=b"")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield vkey, url, log_key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _append_and_sign(server: LiveServer, n: int) -> dict[str, object]:
    api, h = server.api(), server.headers
    httpx.post(f"{api}/projects", json={"name": "web"}, headers=h)
    entries = [{"message": f"e{i}"} for i in range(n)]
    r = httpx.post(
        f"{api}/projects/web/entries", json={"agent": "a", "entries": entries}, headers=h
    )
    assert r.status_code == 201, r.text
    r = httpx.post(f"{api}/projects/web/checkpoints", headers=h)
    assert r.is_success, r.text
    body: dict[str, object] = r.json()
    return body


def _witnessed(server: LiveServer, size: int) -> dict[str, object]:
    """Poll `verify?witnesses=1` until the checkpoint of `size` is cosigned (submission runs
    in the background after the commit)."""
    for _ in range(200):
        r = httpx.get(
            f"{server.api()}/projects/web/verify", params={"witnesses": 1}, headers=server.headers
        )
        report: dict[str, object] = r.json()
        if report.get("witnessed_size") == size:
            return report
        time.sleep(0.05)
    raise AssertionError(f"never witnessed at size {size}: {report}")


def test_a_checkpoint_cosigned_by_a_witness_verifies_with_witnesses_1(
    settings: Settings, witness: tuple[str, str, SigningKey]
) -> None:
    vkey, url, log_key = witness
    with live.in_thread(settings.model_copy(update={"witnesses": f"{vkey}@{url}"})) as server:
        r = httpx.get(
            f"{server.api()}/projects/web/verify", params={"witnesses": 1}, headers=server.headers
        )
        assert r.status_code == 404  # no such project yet
        _append_and_sign(server, 5)
        report = _witnessed(server, 5)
        assert report["ok"] is True and report["cosigners"] == ["witness/test"], report
        # A larger checkpoint goes with a consistency proof from 5.
        _append_and_sign(server, 6)
        report = _witnessed(server, 11)
        assert report["ok"] is True, report
        # Two witnesses asked for, one configured: refused (422).
        r = httpx.get(
            f"{server.api()}/projects/web/verify", params={"witnesses": 2}, headers=server.headers
        )
        assert r.status_code == 422

        # The witness itself: a fork at size 11 (another root) is 409; a bad proof 422;
        # a stale old size 409 with its own size; an unknown origin 404.
        origin = f"{settings.log_origin}/default/web"

        def note(size: int, root: bytes, name: str = settings.log_origin) -> str:
            body = notes.CheckpointBody(origin, size, root).text()
            return notes.sign(body, name, log_key.private, log_key.public_raw)

        fork = httpx.post(f"{url}/add-checkpoint", content=f"old 11\n\n{note(11, b'x' * 32)}")
        assert fork.status_code == 409
        bad = "old 11\n" + base64.b64encode(b"y" * 32).decode() + "\n\n" + note(12, b"z" * 32)
        assert httpx.post(f"{url}/add-checkpoint", content=bad).status_code == 422
        stale = httpx.post(f"{url}/add-checkpoint", content=f"old 0\n\n{note(12, b'z' * 32)}")
        assert stale.status_code == 409 and stale.text == "11\n"
        assert stale.headers["content-type"].startswith("text/x.tlog.size")
        other = notes.sign(
            notes.CheckpointBody("elsewhere/x", 1, b"z" * 32).text(),
            "elsewhere",
            log_key.private,
            log_key.public_raw,
        )
        assert httpx.post(f"{url}/add-checkpoint", content=f"old 0\n\n{other}").status_code == 404


def test_without_cosignatures_verify_witnesses_fails(
    settings: Settings, witness: tuple[str, str, SigningKey]
) -> None:
    vkey, _, _ = witness
    dead = f"http://127.0.0.1:{free_port()}"  # configured, but nobody listens
    with live.in_thread(settings.model_copy(update={"witnesses": f"{vkey}@{dead}"})) as server:
        _append_and_sign(server, 3)
        r = httpx.get(
            f"{server.api()}/projects/web/verify", params={"witnesses": 1}, headers=server.headers
        )
        report = r.json()
        assert (report["ok"], report["problem"]) == (False, "unwitnessed"), report
        # The append and the checkpoint were never held up by the witness being down.
        assert httpx.get(f"{server.api()}/projects/web/verify", headers=server.headers).json()["ok"]
