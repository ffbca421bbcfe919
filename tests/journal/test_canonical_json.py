"""`canonical_json` (issue 16) gives exactly RFC 8785's bytes, or RFC 8785's refusal.

Its fast path (the C JSON encoder) is taken only for values it provably encodes the same way;
this compares the two on many random values full of the cases where JSON encoders differ:
control characters, surrogates, characters beyond the BMP and in U+E000-U+FFFF (whose UTF-16
and code point orders disagree), non-ASCII keys, floats, integers at the safe-integer edge.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785

from roundtable.journal.autorotate import META_REPR_FACTOR
from roundtable.journal.hashing import canonical_json, format_ts

CHARS = [
    "a", "Z", "0", " ", "/", "\\", '"', "\x00", "\x01", "\x08", "\t", "\n", "\x0c", "\r",
    "\x1f", "\x7f", "\x80", "é", "\u2028", "\u2029", "\ud7ff", "\ue000", "\uffff", "€",
    "\U0001f600", "\U00010000", "\ud800",
]  # fmt: skip


def text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6)))


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 10**20])
    if kind == 3:
        return rng.choice([0.0, 1.0, -0.5, 1e21, 1e-7, 3.14159, 2.0**60])
    if kind in (4, 5, 6):
        return text(rng)
    if kind == 7:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["k", "b", "a", "é", "\ue000", "\U0001f600", "A", "ab"]) + text(rng): value(
            rng, depth + 1
        )
        for _ in range(rng.randint(0, 5))
    }


def outcome(encode: Any, v: Any) -> bytes | str:
    try:
        return bytes(encode(v))
    except Exception as exc:  # the refusal must be the same too (rfc8785's own error types)
        return type(exc).__name__


@pytest.mark.parametrize("seed", range(4))
def test_canonical_json_equals_rfc8785(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2_000):
        v = {"meta": value(rng), "message": text(rng), "seq": rng.randint(1, 10**6)}
        assert outcome(canonical_json, v) == outcome(rfc8785.dumps, v), repr(v)


def test_an_ordinary_entry_canonicalises_as_before() -> None:
    entry = {"v": 1, "meta": {"files": ["a.py"], "n": 3, "ok": True}, "message": "done\n"}
    assert canonical_json(entry) == rfc8785.dumps(entry)


def test_hashed_timestamps_are_the_strftime_text() -> None:
    """`format_ts`'s fast path (isoformat) writes exactly what the hashed form always had
    (strftime): random instants, whole seconds (isoformat's shorter form), other time zones,
    and years below 1000 (which strftime does not pad on glibc: the original path)."""
    rng = random.Random(16)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    for _ in range(20_000):
        ts = datetime(
            rng.randint(2, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
            rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, rng.randint(0, 999_999)]),
            tzinfo=rng.choice(zones),
        )  # fmt: skip
        assert format_ts(ts) == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_rotation_check_bounds_str_meta_by_its_canonical_size() -> None:
    """Automatic rotation skips measuring entries while even the largest allowed ones could not
    reach `rotate_max_bytes`; that relies on `str(meta)` never exceeding META_REPR_FACTOR times
    meta's canonical JSON bytes (what `max_meta_bytes` limits), here on adversarial values."""
    rng = random.Random(9)
    worst = 0.0
    for _ in range(5_000):
        meta = {"k": value(rng), "x" + text(rng): [value(rng) for _ in range(rng.randint(0, 6))]}
        try:
            size = len(canonical_json(meta))
        except Exception:  # no canonical form: such meta is refused before any append
            continue
        worst = max(worst, len(str(meta)) / size)
    for meta in ({"a": [0] * 50}, {"s": "\x01\U000e0001'\"" * 20}, {"": {"": {"": None}}}):
        worst = max(worst, len(str(meta)) / len(canonical_json(meta)))
    assert worst <= 2.5 < META_REPR_FACTOR
