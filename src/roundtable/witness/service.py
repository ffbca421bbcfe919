"""`roundtable witness`: a C2SP tlog-witness another Roundtable instance (or any log) submits to.

`POST /add-checkpoint` takes "old <size>\\n", up to 63 base64 consistency-proof lines, a blank
line and a signed checkpoint. The witness checks the log's signature against the log keys it was
given (`--log`, signed-note verifier keys; a checkpoint's origin must start with the key's name
and "/": Roundtable origins are `<LOG_ORIGIN>/<namespace>/<project>`), that `old` is the size it
last cosigned for that origin (else 409 with that size, `text/x.tlog.size`), and the RFC 9162
consistency proof from the root it holds (else 422); then it records the new checkpoint
durably and answers with its cosignature line. 404: unknown origin; 403: no trusted signature;
400: malformed. Its state (latest size and root per origin) and key live in
`DATA_DIR/witness/`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from roundtable.auth.files import read_or_create
from roundtable.journal import merkle, notes
from roundtable.witness import cosign

MAX_BODY = 64 * 1024


def witness_key(data_dir: Path) -> Ed25519PrivateKey:
    pem = read_or_create(
        data_dir / "witness" / "witness-ed25519.pem",
        lambda: Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError("the witness key file does not hold an Ed25519 key")
    return key


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Witness:
    def __init__(self, data_dir: Path, name: str, logs: list[notes.NoteVerifier]) -> None:
        self.name = notes.check_key_name(name)
        self.key = witness_key(data_dir)
        self.public_raw = public_raw(self.key)
        self.logs = logs
        self.state_path = data_dir / "witness" / "state.json"
        self.lock = asyncio.Lock()  # check-and-update is atomic (the spec's rollback race)

    @property
    def verifier_key(self) -> str:
        return cosign.verifier_key(self.name, self.public_raw)

    def _state(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self.state_path.read_text())
            return value
        except FileNotFoundError:
            return {}

    def _save(self, state: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".state-")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_path)

    async def add_checkpoint(self, body: bytes) -> Response:
        try:
            old, proof, note = _parse(body.decode("utf-8"))
            text, _ = notes.split(note)
            checkpoint = notes.CheckpointBody.parse(text)
        except (UnicodeDecodeError, ValueError) as exc:
            return PlainTextResponse(f"malformed request: {exc}\n", status_code=400)
        logs = [v for v in self.logs if checkpoint.origin.startswith(v.name + "/")]
        if not logs:
            return PlainTextResponse("unknown origin\n", status_code=404)
        try:
            notes.open_note(note, logs)
        except notes.NoteError:
            return PlainTextResponse("no trusted signature\n", status_code=403)
        if old > checkpoint.size:
            return PlainTextResponse("old size beyond the checkpoint\n", status_code=400)
        async with self.lock:
            state = self._state()
            known = state.get(checkpoint.origin, {"size": 0, "root": ""})
            if old != known["size"]:
                return Response(
                    f"{known['size']}\n", status_code=409, media_type="text/x.tlog.size"
                )
            if old == 0:
                if proof:
                    return PlainTextResponse("a proof from size 0 must be empty\n", 422)
            elif old == checkpoint.size:
                if checkpoint.root.hex() != known["root"] or proof:
                    return PlainTextResponse("another root at the same size\n", 409)
            elif not merkle.verify_consistency(
                old, checkpoint.size, bytes.fromhex(known["root"]), checkpoint.root, proof
            ):
                return PlainTextResponse("the consistency proof does not verify\n", 422)
            state[checkpoint.origin] = {"size": checkpoint.size, "root": checkpoint.root.hex()}
            self.state_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            await asyncio.to_thread(self._save, state)
        line = cosign.cosign(text, self.name, self.key, self.public_raw, int(time.time()))
        return PlainTextResponse(line)


def _parse(body: str) -> tuple[int, list[bytes], str]:
    head, sep, note = body.partition("\n\n")
    if not sep:
        raise ValueError("no blank line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not first[4:].isdigit():
        raise ValueError("the first line is `old <size>`")
    if len(first) > 5 and first[4] == "0":
        raise ValueError("leading zero in the old size")
    proof_lines = lines[1:]
    if len(proof_lines) > 63:
        raise ValueError("more than 63 proof lines")
    try:
        proof = [base64.b64decode(p, validate=True) for p in proof_lines]
    except binascii.Error:
        raise ValueError("a proof line is not base64") from None
    if any(len(p) != 32 for p in proof):
        raise ValueError("a proof hash is not 32 bytes")
    return int(first[4:]), proof, note


def create_witness_app(witness: Witness) -> Starlette:
    async def add(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return PlainTextResponse("request too large\n", status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request too large\n", status_code=413)
        return await witness.add_checkpoint(body)

    return Starlette(routes=[Route("/add-checkpoint", add, methods=["POST"])])
