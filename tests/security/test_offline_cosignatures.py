"""Witness cosignatures without the server (D16): `verify --offline` checks the cosigned
checkpoints kept in the data directory, and exports carry them (with the witnesses' verifier
keys) so `verify-export` checks them too. Real keys and signatures, both backends; the witness
is played by this test (its cosignature is the C2SP cosignature/v1 line it would return).
"""

from __future__ import annotations

import base64
import io
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.journal import checkpoints, notes
from roundtable.journal.models import Checkpoint, EntryInput
from roundtable.journal.offline import verify_offline
from roundtable.runtime import Roundtable
from roundtable.transfer.audit import verify_export
from roundtable.transfer.export import export_namespace
from roundtable.witness import cosign
from roundtable.witness.check import witnessed
from roundtable.witness.submit import cosigned_path, keep_cosigned

NS, NAME = "default", "witness/test"


class Witness:
    def __init__(self, name: str = NAME) -> None:
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        self.raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.vkey = cosign.verifier_key(name, self.raw)

    def cosign(self, note: str) -> str:
        body, _ = notes.split(note)
        return note + cosign.cosign(body, self.name, self.key, self.raw, int(time.time()))


async def _journal(settings: Settings, n: int = 12) -> Checkpoint:
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project(NS, "a", "web", "")
        await core.journal.append(NS, "a", "web", [EntryInput(message=f"e{i}") for i in range(n)])
        return await checkpoints.sign_now(core.db, core.signer, settings, NS, "web")


def _flip_last_byte(encoded: str) -> str:
    """A cosignature with the witness's key id whose Ed25519 signature no longer verifies."""
    blob = bytearray(base64.b64decode(encoded))
    blob[-1] ^= 1
    return base64.b64encode(bytes(blob)).decode()


def _keep(settings: Settings, cp: Checkpoint, note: str) -> None:
    keep_cosigned(settings.data_dir, NS, "web", cp.size, cp.root, note)


async def test_offline_verify_checks_kept_cosignatures(settings: Settings) -> None:
    cp = await _journal(settings)
    witness = Witness()
    _keep(settings, cp, witness.cosign(cp.note))
    [report] = await verify_offline(settings, NS, ["web"], witnesses=1, witness_keys=[witness.vkey])
    assert report.ok, report
    assert (report.witnessed_size, report.cosigners) == (cp.size, [NAME])
    with pytest.raises(InvalidInput, match="witness keys"):
        await verify_offline(settings, NS, ["web"], witnesses=1)
    [other] = await verify_offline(
        settings, NS, ["web"], witnesses=1, witness_keys=[Witness("other/w").vkey]
    )
    assert (other.ok, other.problem) == (False, "unwitnessed")


async def test_offline_verify_refuses_a_forged_cosignature(settings: Settings) -> None:
    cp = await _journal(settings)
    witness = Witness()
    note = witness.cosign(cp.note)
    head, last = note.rstrip("\n").rsplit(" ", 1)
    _keep(settings, cp, f"{head} {_flip_last_byte(last)}\n")
    [report] = await verify_offline(settings, NS, ["web"], witness_keys=[witness.vkey])
    assert (report.ok, report.problem) == (False, "bad_signature")
    assert NAME in (report.detail or "")


async def test_a_cosigned_root_the_journal_contradicts_is_damage(settings: Settings) -> None:
    """The witness vouched for another tree at this size: what it saw was rewritten since."""
    cp = await _journal(settings)
    witness = Witness()
    body = notes.CheckpointBody(f"{settings.log_origin}/{NS}/web", cp.size, b"\x07" * 32).text()
    log = Witness(settings.log_origin)  # any signer: the log's signature is not what is checked
    _keep(settings, cp, witness.cosign(notes.sign(body, log.name, log.key, log.raw)))
    [report] = await verify_offline(settings, NS, ["web"], witness_keys=[witness.vkey])
    assert (report.ok, report.problem) == (False, "checkpoint_mismatch")
    # Without the witness's key nothing is claimed either way.
    [plain] = await verify_offline(settings, NS, ["web"])
    assert plain.ok and plain.witnessed_size is None


async def test_exports_carry_cosignatures_and_verify_export_checks_them(
    settings: Settings,
) -> None:
    cp = await _journal(settings)
    witness = Witness()
    cosigned = witness.cosign(cp.note)
    _keep(settings, cp, cosigned)
    configured = settings.model_copy(update={"witnesses": f"{witness.vkey}@http://127.0.0.1:9"})
    out = io.StringIO()
    async with Roundtable.open(configured, sweeper=False) as core:
        counts = await export_namespace(core, NS, out.write)
    assert (counts["witness_key"], counts["cosigned"]) == (1, 1)
    text = out.getvalue()

    audit = await verify_export(text.splitlines(), None, witnesses=1)
    assert audit.ok, audit
    assert (audit.reports[0].witnessed_size, audit.reports[0].cosigners) == (cp.size, [NAME])
    pinned = await verify_export(
        text.splitlines(), None, witness_keys=[Witness("other/w").vkey], witnesses=1
    )
    assert not pinned.ok and pinned.reports[0].problem == "unwitnessed"

    signature = cosigned.rstrip("\n").rsplit(" ", 1)[1]
    forged = text.replace(signature, _flip_last_byte(signature))
    assert forged != text
    damaged = await verify_export(forged.splitlines(), None)
    assert not damaged.ok and damaged.reports[0].problem == "bad_signature"
    assert cosigned_path(settings.data_dir, NS, "web").exists()


async def test_the_unsigned_json_beside_a_cosigned_note_is_not_trusted(
    settings: Settings,
) -> None:
    """A record whose `size`/`root` fields were edited to match a rewritten journal still says,
    in its signed body, what the witness saw: online `--witnesses` does not count it."""
    cp = await _journal(settings)
    witness = Witness()
    log = Witness(settings.log_origin)
    body = notes.CheckpointBody(f"{settings.log_origin}/{NS}/web", cp.size, b"\x07" * 32).text()
    _keep(settings, cp, witness.cosign(notes.sign(body, log.name, log.key, log.raw)))
    configured = settings.model_copy(update={"witnesses": f"{witness.vkey}@http://127.0.0.1:9"})
    async with Roundtable.open(configured, sweeper=False) as core:
        report = await witnessed(core.db, configured, await core.journal.verify(NS, "web"), 1)
    assert (report.ok, report.problem) == (False, "unwitnessed")
