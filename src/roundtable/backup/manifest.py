"""The backup's manifest: what it holds and the digest of every file, written last."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from roundtable.errors import InvalidInput

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "roundtable.db"
PG_FILE = "database.pgdump"
DATA = "data"


class FileDigest(BaseModel):
    path: str  # relative to the backup directory, "/"-separated
    size: int
    sha256: str


class Manifest(BaseModel):
    format: int = FORMAT
    created_at: datetime
    roundtable_version: str
    backend: Literal["sqlite", "postgresql"]
    schema_revision: str | None
    database_file: str
    files: list[FileDigest]


def digest(path: Path) -> FileDigest:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return FileDigest(path="", size=size, sha256=sha.hexdigest())


def write(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST
    with path.open("w") as handle:
        handle.write(manifest.model_dump_json(indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read(directory: Path) -> Manifest:
    """The manifest, after checking every file it lists (size and SHA-256) and that the
    directory holds nothing it does not list: a damaged or partial backup is refused."""
    path = directory / MANIFEST
    if not path.is_file():
        raise InvalidInput(
            f"{directory} is not a Roundtable backup (no {MANIFEST})", path=str(path)
        )
    try:
        manifest = Manifest.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as exc:
        raise InvalidInput(f"{path}: not a valid backup manifest: {exc}", path=str(path)) from exc
    if manifest.format != FORMAT:
        raise InvalidInput(
            f"backup format {manifest.format} is not supported (this version reads {FORMAT})",
            format=manifest.format,
        )
    listed = {f.path for f in manifest.files}
    present = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    if present != listed:
        missing, extra = sorted(listed - present), sorted(present - listed)
        raise InvalidInput(
            f"backup {directory} does not match its manifest", missing=missing, extra=extra
        )
    for entry in manifest.files:
        found = digest(directory / entry.path)
        if (found.size, found.sha256) != (entry.size, entry.sha256):
            raise InvalidInput(
                f"backup file {entry.path} is damaged (size or SHA-256 differs from the manifest)",
                path=entry.path,
            )
    return manifest
