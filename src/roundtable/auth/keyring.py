"""Every public signing key this deployment has used, kept in `signing_keys` (the keyring).

The private key stays on disk (DATA_DIR/keys/signing-ed25519.pem, 0600); its public half is
registered in the database on start, so anything verified later (checkpoint notes, agent tokens,
tokens minted by another instance sharing the database) looks its key up here by key id. A
rotated key is marked retired and its file moved to DATA_DIR/keys/retired/<kid>.pem; retired
keys still verify what they signed. A key id is derived from the public key, so a row whose
public key was swapped no longer matches its kid and is never trusted.

A key file that already existed, is not registered, while other keys are, is refused at start:
that is a replaced key, not a new instance (a new instance creates its key on first start).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update

from roundtable.auth.keys import SigningKey, ed25519_jwk
from roundtable.errors import ConflictError, InvalidInput, NotFound
from roundtable.ids import utcnow
from roundtable.journal import notes
from roundtable.store import tables
from roundtable.store.dialect import insert_ignore
from roundtable.store.engine import Conn, Database

K = tables.signing_keys
ALGORITHM = "Ed25519"


def key_file(data_dir: Path) -> Path:
    return data_dir / "keys" / "signing-ed25519.pem"


def retired_file(data_dir: Path, kid: str) -> Path:
    return data_dir / "keys" / "retired" / f"{kid}.pem"


def derive_kid(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """One registered key. `consistent` is False when the row's kid does not fit its key."""

    kid: str
    public_raw: bytes
    created_at: datetime
    retired_at: datetime | None

    @property
    def consistent(self) -> bool:
        return derive_kid(self.public_raw) == self.kid

    @property
    def public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_raw)

    def jwk(self) -> dict[str, Any]:
        return ed25519_jwk(self.public_raw, self.kid)


def _row_key(row: Any) -> PublicKey | None:
    try:
        raw = base64.b64decode(str(row["public_key"]), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raw = b"\x00" * 32  # unusable, and its kid will not match: reported as forged
    return PublicKey(row["kid"], raw, row["created_at"], row["retired_at"])


async def load_keys(conn: Conn) -> dict[str, PublicKey]:
    """Every row of `signing_keys`, consistent or not (verify reports the inconsistent ones)."""
    rows = (await conn.execute(select(K).order_by(K.c.created_at, K.c.kid))).mappings()
    keys = {}
    for row in rows:
        key = _row_key(row)
        if key is not None:
            keys[key.kid] = key
    return keys


async def register(conn: Conn, key: SigningKey, now: datetime) -> bool:
    """Insert the key's public half if absent; True if it was inserted."""
    result = await conn.execute(
        insert_ignore(
            conn,
            K,
            kid=key.kid,
            algorithm=ALGORITHM,
            public_key=base64.b64encode(key.public_raw).decode(),
            created_at=now,
        )
    )
    return bool(result.rowcount)


class Keyring:
    """The signing key this process uses and a cache of every registered public key."""

    def __init__(self, data_dir: Path, current: SigningKey) -> None:
        self.data_dir = data_dir
        self.current = current
        self.keys: dict[str, PublicKey] = {}
        self._unknown_reloads: deque[float] = deque()

    @classmethod
    async def open(cls, db: Database, data_dir: Path) -> Keyring:
        """Load (or create) the key file, register it, and load the keyring."""
        existed = key_file(data_dir).exists()
        key = SigningKey.load_or_create(data_dir)
        async with db.write() as conn:
            known = await load_keys(conn)
            if existed and known and key.kid not in known:
                raise ConflictError(
                    f"the signing key in {key_file(data_dir)} (kid {key.kid}) is not registered "
                    "in this database, which has other keys: it was replaced. Restore the key, "
                    "or run `roundtable keys register` if this really is a new instance's key",
                    kid=key.kid,
                )
            await register(conn, key, utcnow())
        ring = cls(data_dir, key)
        await ring.reload(db)
        return ring

    async def reload(self, db: Database) -> None:
        async with db.read() as conn:
            self.keys = await load_keys(conn)

    async def reload_for_unknown_kid(self, db: Database) -> None:
        """Reload for a token naming a key we lack, at most 20 times a second (tokens with
        made-up key ids must not each turn into a database read)."""
        now = time.monotonic()
        while self._unknown_reloads and now - self._unknown_reloads[0] > 1.0:
            self._unknown_reloads.popleft()
        if len(self._unknown_reloads) < 20:
            self._unknown_reloads.append(now)
            await self.reload(db)

    def trusted(self, kid: str) -> PublicKey | None:
        """The registered key with this id, if its row is consistent."""
        key = self.keys.get(kid)
        return key if key is not None and key.consistent else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys.values() if k.consistent]}

    async def follow_rotation(self, db: Database) -> bool:
        """Switch to the key file's key if `keys rotate` replaced it and registered the new one.

        A running server keeps signing with the key it loaded; the sweeper calls this so a
        rotation takes effect without a restart. An unregistered file is never used.
        """
        try:  # never create one here: a missing key file is not a rotation
            private = serialization.load_pem_private_key(
                key_file(self.data_dir).read_bytes(), password=None
            )
        except (OSError, ValueError, TypeError):
            return False
        if not isinstance(private, Ed25519PrivateKey):
            return False
        key = SigningKey(private)
        if key.kid == self.current.kid:
            return False
        await self.reload(db)
        if self.trusted(key.kid) is None:
            return False
        self.current = key
        return True


async def rotate(db: Database, data_dir: Path) -> tuple[str, str]:
    """Make a new key current; retire the old one (its file moves to keys/retired/).

    Returns (old kid, new kid). The new key file is written first, under a temporary name, so a
    failure leaves either the old state or the new one, never a registered key without its file.
    """
    old = SigningKey.load_or_create(data_dir)
    new = SigningKey(Ed25519PrivateKey.generate())
    path = key_file(data_dir)
    staged = path.with_suffix(".pem.new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            new.private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        handle.flush()
        os.fsync(handle.fileno())
    now = utcnow()
    async with db.write() as conn:
        await register(conn, old, now)
        await register(conn, new, now)
        await conn.execute(
            update(K).where(K.c.kid == old.kid, K.c.retired_at.is_(None)).values(retired_at=now)
        )
    retired = retired_file(data_dir, old.kid)
    retired.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.replace(path, retired)
    os.replace(staged, path)
    return old.kid, new.kid


async def register_disk_key(db: Database, data_dir: Path) -> str:
    """Register the data directory's key explicitly (a new instance's pre-made key)."""
    if not key_file(data_dir).exists():
        raise NotFound(f"no signing key at {key_file(data_dir)}")
    key = SigningKey.load_or_create(data_dir)
    async with db.write() as conn:
        await register(conn, key, utcnow())
    return key.kid


def note_verifiers(keys: dict[str, PublicKey], name: str) -> list[notes.NoteVerifier]:
    """Verifiers for signatures under key name `name`, from the consistent registered keys."""
    return [notes.NoteVerifier(name, k.public_raw) for k in keys.values() if k.consistent]


def _pem_kid(path: Path) -> str | None:
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(private, Ed25519PrivateKey):
        return None
    return SigningKey(private).kid


def local_kids(data_dir: Path) -> tuple[str | None, set[str]]:
    """(the key file's kid, the kids of keys/retired/*.pem): the keys this data dir holds.

    Kids are derived from the files' keys, not their names, so a renamed file proves nothing.
    """
    current = _pem_kid(key_file(data_dir)) if key_file(data_dir).exists() else None
    retired_dir = key_file(data_dir).parent / "retired"
    retired = {kid for p in sorted(retired_dir.glob("*.pem")) if (kid := _pem_kid(p))}
    return current, retired


def trust_file(data_dir: Path) -> Path:
    """Key ids of other deployments this one trusts (`roundtable keys trust`), one per line.

    It lives in the data directory, not the database, so write access to the database alone
    can never make `verify` trust a key.
    """
    return key_file(data_dir).parent / "trusted"


def trusted_in_file(data_dir: Path) -> set[str]:
    try:
        text = trust_file(data_dir).read_text()
    except FileNotFoundError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def trust(data_dir: Path, kids: list[str]) -> set[str]:
    """Add `kids` to the trust file (atomically, mode 0600); returns what it now holds."""
    for kid in kids:
        if not _KID.fullmatch(kid):
            raise InvalidInput(f"{kid!r} is not a key id (16 hex digits)", field="kid")
    trusted = trusted_in_file(data_dir) | set(kids)
    path = trust_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".trusted.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{kid}\n" for kid in sorted(trusted)))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return trusted


_KID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Anchors:
    """What `verify` trusts a checkpoint's key by: keys whose private half this server holds."""

    trusted: set[str]
    file_kid: str | None  # the key file's key now
    memory_kid: str  # the key this process signs with
    foreign: frozenset[str] = frozenset()  # trusted by the trust file or setting, not held here


def anchors(keyring: Keyring, trusted_setting: str | None) -> Anchors:
    """Our key in memory, keys/retired/*.pem, `trusted_keys`, the trust file (`trust`), and the
    key file's key if it got there by a rotation (the in-memory key is retired); a key file
    swapped behind our back is not trusted (and `verify` reports it)."""
    current, retired = local_kids(keyring.data_dir)
    extra = {k.strip() for k in (trusted_setting or "").split(",") if k.strip()}
    extra |= trusted_in_file(keyring.data_dir)
    memory = keyring.current.kid
    trusted = {memory, *retired, *extra}
    ours = keyring.keys.get(memory)
    if current is not None and (current == memory or (ours and ours.retired_at is not None)):
        trusted.add(current)
    held = {memory, *retired, *({current} if current in trusted else set())}
    return Anchors(trusted, current, memory, frozenset(extra - held))


def trusted_kids(keyring: Keyring, trusted_setting: str | None) -> tuple[str | None, set[str]]:
    """(the key file's kid, every kid `verify` trusts): `anchors` as a pair."""
    found = anchors(keyring, trusted_setting)
    return found.file_kid, found.trusted
