"""The garbage collector in a long-running process (`roundtable serve`, `roundtable mcp`).

Once a process is up, the objects that live as long as it does (modules, the app or MCP
server, the core and its caches: some 190,000-240,000) are moved out of the collector's reach
(`gc.freeze`): they are never garbage, yet every full collection walked all of them. Under
`roundtable serve` at 1,000 `set_project` calls per second that was a third of the CPU; under
`roundtable mcp` a full collection came every few thousand appends and cost ~100 ms, some
30 µs per append on average (issue 16; docs/configuration.md, "Per-call cost trade-offs").
"""

from __future__ import annotations

import gc

#: Young-generation collection threshold once the process is up (CPython's default is 700).
GC_YOUNG_THRESHOLD = 5000


def freeze_startup_objects() -> None:
    """Collect what start-up left behind, then exempt every surviving object from future
    collections: they are never garbage (freed by reference counting all the same), and
    a full collection no longer walks them. The young generation is then collected after
    `GC_YOUNG_THRESHOLD` net allocations instead of 700: with a hundred requests in flight
    (each holding its objects until its group commits) the count crossed 700 every ~70
    requests, and each collection walked all of their objects (issue 16: ~4 % of an append)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
