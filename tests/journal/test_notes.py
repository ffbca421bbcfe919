"""C2SP signed notes and tlog checkpoints, checked against Go's sumdb/note test vector."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from roundtable.journal import notes

# golang.org/x/mod/sumdb/note: ExampleSign / TestSign.
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIGNED = (
    TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def go_key() -> tuple[Ed25519PrivateKey, bytes]:
    raw = base64.b64decode(SKEY.split("+", 4)[4])
    assert raw[0] == 1
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, public


def test_signing_reproduces_go_vector() -> None:
    private, public = go_key()
    assert notes.verifier_key("PeterNeumann", public) == VKEY
    assert notes.key_hash("PeterNeumann", public).hex() == "c74f20a3"
    assert notes.sign(TEXT, "PeterNeumann", private, public) == SIGNED


def test_opening_go_vector() -> None:
    verifier = notes.NoteVerifier.parse(VKEY)
    text, signer = notes.open_note(SIGNED, [verifier])
    assert text == TEXT and signer == verifier
    with pytest.raises(notes.NoteError) as bad:
        notes.open_note(SIGNED.replace("cryptography", "cryptographY"), [verifier])
    assert bad.value.kind == "bad_signature"
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with pytest.raises(notes.NoteError) as unknown:
        notes.open_note(SIGNED, [notes.NoteVerifier("PeterNeumann", other)])
    assert unknown.value.kind == "unknown_key"


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+c74f20a3+AhpcdQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong alg
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space
        "PeterNeumann+c74f20a3",
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(notes.NoteError):
        notes.NoteVerifier.parse(vkey)


@pytest.mark.parametrize(
    "note",
    [
        TEXT,  # no signature block
        TEXT + "\n",
        TEXT + "\n— PeterNeumann !!!notbase64\n",
        TEXT + "\n- PeterNeumann x08go/ZJ\n",  # hyphen, not an em dash
        TEXT + "\n— PeterNeumann AAAA\n",  # too short
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(notes.NoteError) as bad:
        notes.open_note(note, [notes.NoteVerifier.parse(VKEY)])
    assert bad.value.kind == "malformed"


def test_checkpoint_body_round_trip() -> None:
    body = notes.CheckpointBody("example.com/log", 42, bytes(range(32)))
    text = body.text()
    assert text == f"example.com/log\n42\n{base64.b64encode(bytes(range(32))).decode()}\n"
    assert notes.CheckpointBody.parse(text) == body
    # Extension lines after the root are allowed (tlog-checkpoint) and ignored.
    assert notes.CheckpointBody.parse(text + "extension\n") == body
    for bad in ("o\n042\n" + text.split("\n")[2] + "\n", "o\n1\nAAAA\n", "o\n-1\nx\n", "o\n1\n"):
        with pytest.raises(notes.NoteError):
            notes.CheckpointBody.parse(bad)
