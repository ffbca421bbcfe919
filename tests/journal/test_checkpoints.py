"""Checkpoints: signed every N entries and every T seconds, served, and still verifiable after a
key rotation; the keyring (signing_keys) verifies tokens minted before the rotation too."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from roundtable.auth import keyring
from roundtable.config import Settings
from roundtable.errors import Unauthenticated
from roundtable.journal import checkpoints, notes
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.services.util import events_of

NS = "default"
C = tables.checkpoints


def items(n: int) -> list[EntryInput]:
    return [EntryInput(message=f"m{i}") for i in range(n)]


async def sizes(core: Roundtable, project: str = "web") -> list[int]:
    page = await checkpoints.history(
        core.db, NS, project, limit=500, cursor_=None, max_page=core.settings.max_page_size
    )
    return sorted(c.size for c in page.checkpoints)


async def test_signed_when_crossing_every_n(settings: Settings) -> None:
    tuned = settings.model_copy(update={"checkpoint_every_entries": 5})
    async with Roundtable.open(tuned, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "web")
        for n in (3, 1, 1, 4, 9, 2):  # sizes 3* (the first append), 4, 5*, 9, 18*, 20*
            await core.journal.append(NS, "alice", "web", items(n))
        assert await sizes(core) == [3, 5, 18, 20]
        latest = await checkpoints.latest(core.db, NS, "web")
        assert latest.size == 20
        # The note is a C2SP checkpoint for this journal, signed by the current key.
        verifier = notes.NoteVerifier.parse(core.signer.verifier_key())
        text, _ = notes.open_note(latest.note, [verifier])
        body = notes.CheckpointBody.parse(text)
        assert body.origin == f"{tuned.log_origin}/{NS}/web"
        assert (body.size, body.root.hex()) == (20, latest.root)
        assert latest.root == (await core.journal.tree_head(NS, "web")).root
        signed = await events_of(core.db, checkpoints.CHECKPOINT_SIGNED)
        assert [e.payload["size"] for e in signed] == [3, 5, 18, 20]
        assert all(e.payload["key_id"] == core.keyring.current.kid for e in signed)
        assert (await core.journal.verify(NS, "web")).checkpoints_checked == 4


async def test_signed_every_t_seconds_by_the_sweeper(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={"checkpoint_every_seconds": 0.2, "sweep_interval_seconds": 0.05}
    )
    async with Roundtable.open(tuned, sweeper=True) as core:
        await core.journal.create_project(NS, "alice", "web")
        await core.journal.create_project(NS, "alice", "idle")
        await core.journal.append(NS, "alice", "web", items(3))
        for _ in range(400):  # poll for the condition; no timing is asserted
            if await sizes(core) == [3]:
                break
            await asyncio.sleep(0.05)
        assert await sizes(core) == [3]
        await core.journal.append(NS, "alice", "web", items(2))
        for _ in range(400):
            if (await sizes(core))[-1:] == [5]:
                break
            await asyncio.sleep(0.05)
        assert await sizes(core) == [3, 5]
        assert await sizes(core, "idle") == []  # nothing to sign: no entries


async def test_sign_due_skips_journals_signed_recently(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "web")
    await core.journal.append(NS, "alice", "web", items(2))
    now = (await checkpoints.sign_now(core.db, core.signer, core.settings, NS, "web")).created_at
    await core.journal.append(NS, "alice", "web", items(1))
    assert await checkpoints.sign_due(core.db, core.signer, core.settings, now) == 0
    later = now + timedelta(seconds=core.settings.checkpoint_every_seconds)
    assert await checkpoints.sign_due(core.db, core.signer, core.settings, later) == 1
    assert await checkpoints.sign_due(core.db, core.signer, core.settings, later) == 0
    assert await sizes(core) == [2, 3]
    # Signing an already signed head again returns the existing checkpoint.
    again = await checkpoints.sign_now(core.db, core.signer, core.settings, NS, "web")
    assert again.size == 3 and await sizes(core) == [2, 3]


async def test_key_rotation_keeps_old_checkpoints_and_tokens_valid(settings: Settings) -> None:
    async with Roundtable.open(settings, sweeper=False) as core:
        old_kid = core.keyring.current.kid
        token = core.tokens.mint("alice", NS, timedelta(hours=1))
        await core.journal.create_project(NS, "alice", "web")
        await core.journal.append(NS, "alice", "web", items(3))
        await checkpoints.sign_now(core.db, core.signer, core.settings, NS, "web")

        retired, new_kid = await keyring.rotate(core.db, settings.data_dir)
        assert retired == old_kid and new_kid != old_kid
        path = settings.data_dir / "keys" / "retired" / f"{old_kid}.pem"
        assert path.stat().st_mode & 0o777 == 0o600
        assert (settings.data_dir / "keys" / "signing-ed25519.pem").stat().st_mode & 0o777 == 0o600

        # The running core follows the rotation (the sweeper does this every interval).
        assert await core.keyring.follow_rotation(core.db)
        assert core.keyring.current.kid == new_kid and core.tokens.key.kid == new_kid
        await core.journal.append(NS, "alice", "web", items(2))
        after = await checkpoints.sign_now(core.db, core.signer, core.settings, NS, "web")
        assert after.key_id == new_kid
        report = await core.journal.verify(NS, "web")
        assert report.ok and report.checkpoints_checked == 2, report
        assert core.authenticate(f"Bearer {token}").agent == "alice"
        jwks = {k["kid"] for k in core.keyring.jwks()["keys"]}
        assert jwks == {old_kid, new_kid}
        async with core.db.read() as conn:
            rows = {r.kid: r.retired_at for r in await conn.execute(select(tables.signing_keys))}
        assert rows[old_kid] is not None and rows[new_kid] is None

    # A restart signs with the new key; everything signed before still verifies.
    async with Roundtable.open(settings, sweeper=False) as core:
        assert core.keyring.current.kid == new_kid
        assert (await core.journal.verify(NS, "web")).ok
        assert core.authenticate(f"Bearer {token}").agent == "alice"


async def test_tokens_of_another_instance_verify_once_trusted(settings: Settings) -> None:
    """Two instances, two data directories, one database: each accepts the other's tokens once
    its key is trusted outside the database (issue 15: a key row alone is not enough)."""
    other = settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"})
    async with (
        Roundtable.open(settings, sweeper=False) as first,
        Roundtable.open(other, sweeper=False) as second,
    ):
        assert first.keyring.current.kid != second.keyring.current.kid
        token = second.tokens.mint("bob", NS, timedelta(minutes=5))
        with pytest.raises(Unauthenticated, match="not trusted"):
            await first.authenticate_async(f"Bearer {token}")
        keyring.trust(settings.data_dir, [second.keyring.current.kid])
        await asyncio.sleep(0.1)
        caller = await first.authenticate_async(f"Bearer {token}")
        assert caller.agent == "bob"
        published = {k["kid"] for k in first.keyring.jwks()["keys"]}
        assert published == {first.keyring.current.kid, second.keyring.current.kid}


async def test_verify_while_appending_and_signing(settings: Settings) -> None:
    """Entries, checkpoints and segments committed while verify runs are not damage."""
    tuned = settings.model_copy(update={"checkpoint_every_entries": 3})
    async with Roundtable.open(tuned, sweeper=False) as core:
        await core.journal.create_project(NS, "alice", "web")
        await core.journal.append(NS, "alice", "web", items(50))

        async def write() -> None:
            for i in range(30):
                await core.journal.append(NS, "alice", "web", items(7))
                if i % 10 == 9:
                    await core.rotation.rotate(NS, "web")

        async def check() -> list[bool]:
            oks = []
            for _ in range(15):
                oks.append((await core.journal.verify(NS, "web")).ok)
            return oks

        _, oks = await asyncio.gather(write(), check())
        assert all(oks)
        final = await core.journal.verify(NS, "web")
        assert final.ok and final.segments_checked == 3 and final.checked == 50 + 210 + 3
