"""Which checkpoints a journal must have: one per rotation and one per crossed interval.

Used by `verify` when it knows the checkpoint interval: deleting checkpoints is damage too, since they are what
witnesses and clients hold the server to.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from roundtable.journal.anchors import Anchor
from roundtable.journal.audit_checks import Damaged
from roundtable.journal.models import Damage


def check_expected_checkpoints(
    checkpoints: Sequence[Mapping[str, Any]],
    rotation_seqs: Iterable[int],
    anchors: Sequence[Anchor],
    head_seq: int,
    *,
    every: int,
    slack: int,
    local: set[str],
) -> None:
    """Raise `Damaged` for the first checkpoint that must exist and does not.

    One at every rotation entry, and one signed by the append that crossed each multiple of
    `every` (size in [m, m + slack)). Multiples up to the journal's first checkpoint, in the
    database or the anchor file (history from before checkpoints), or covered by a checkpoint of
    a foreign key (an imported journal, signed under another interval) are not expected:
    deleting checkpoints cannot move either bound past an edited entry, since every later
    checkpoint covers it."""
    sizes = sorted(int(r["size"]) for r in checkpoints)
    for seq in sorted(rotation_seqs):
        if seq <= head_seq and seq not in sizes:
            raise Damaged(
                seq,
                Damage.MISSING_CHECKPOINT,
                f"no checkpoint at rotation entry {seq} (every rotation signs one)",
            )
    foreign = max((int(r["size"]) for r in checkpoints if str(r["key_id"]) not in local), default=0)
    known = [*sizes[:1], *(a.size for a in anchors[:1])]
    if not known:
        return  # never checkpointed (a journal from before checkpoints, upgraded)
    start = max(foreign, min(known))
    first = (start // every + 1) * every
    for m in range(first, head_seq + 1, every):
        i = bisect.bisect_left(sizes, m)
        if i == len(sizes) or sizes[i] >= m + slack:
            raise Damaged(
                m,
                Damage.MISSING_CHECKPOINT,
                f"no checkpoint where the journal crossed size {m} (one is signed every "
                f"{every} entries)",
            )
