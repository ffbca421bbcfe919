"""A document's text as ordered chunks of a few KB, so an edit rewrites only what it touches.

Each chunk is one row of `document_chunks` and one unit of the full-text index, so editing a
character range of a 1 MB document re-indexes a few KB, not the document. Chunks are cut at
whitespace where possible, so a word rarely straddles two of them (search would miss it). `pos`
orders the chunks with gaps between them, so inserting a chunk rarely moves the others (on
PostgreSQL an UPDATE recomputes the row's generated tsvector, even for `pos` alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from roundtable.store import tables
from roundtable.store.engine import Conn

C = tables.document_chunks

#: Target chunk size in characters, and the gap between consecutive positions.
CHUNK_CHARS = 4096
POS_GAP = 1 << 20


def split(text: str, size: int | None = None) -> list[str]:
    """Cut `text` into pieces of at most `size` (default `CHUNK_CHARS`) characters, after
    whitespace where possible."""
    size = size or CHUNK_CHARS
    parts: list[str] = []
    start = 0
    while len(text) - start > size:
        end = start + size
        cut = max(text.rfind(" ", start + size // 2, end), text.rfind("\n", start + size // 2, end))
        end = cut + 1 if cut >= 0 else end
        parts.append(text[start:end])
        start = end
    if start < len(text):
        parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class Chunk:
    id: int
    pos: int
    start: int  # character offset of the chunk's first character in the document
    length: int

    @property
    def end(self) -> int:
        return self.start + self.length


async def layout(conn: Conn, document_id: str) -> list[Chunk]:
    """The chunks of a document in order, with their character offsets (no text read)."""
    rows = await conn.execute(
        select(C.c.id, C.c.pos, C.c.length).where(C.c.document_id == document_id).order_by(C.c.pos)
    )
    chunks: list[Chunk] = []
    start = 0
    for row in rows:
        chunks.append(Chunk(row.id, row.pos, start, row.length))
        start += row.length
    return chunks


async def bodies(conn: Conn, chunks: list[Chunk]) -> str:
    if not chunks:
        return ""
    rows = await conn.execute(select(C.c.id, C.c.body).where(C.c.id.in_([c.id for c in chunks])))
    by_id = {row.id: row.body for row in rows}
    return "".join(by_id[c.id] for c in chunks)


async def read_all(conn: Conn, document_id: str) -> str:
    rows = await conn.execute(
        select(C.c.body).where(C.c.document_id == document_id).order_by(C.c.pos)
    )
    return "".join(rows.scalars())


async def read_range(conn: Conn, document_id: str, offset: int, limit: int | None) -> str:
    """Characters [offset, offset + limit) reading only the chunks that hold them."""
    chunks = await layout(conn, document_id)
    end = chunks[-1].end if chunks else 0
    stop = end if limit is None else min(end, offset + limit)
    if offset >= stop:
        return ""
    needed = [c for c in chunks if c.end > offset and c.start < stop]
    text = await bodies(conn, needed)
    base = needed[0].start
    return text[offset - base : stop - base]


async def write_all(conn: Conn, document_id: str, text: str) -> None:
    """Replace the whole content."""
    await conn.execute(delete(C).where(C.c.document_id == document_id))
    parts = split(text)
    if parts:
        await conn.execute(
            insert(C),
            [
                {"document_id": document_id, "pos": (k + 1) * POS_GAP, "body": p, "length": len(p)}
                for k, p in enumerate(parts)
            ],
        )


async def splice(
    conn: Conn, document_id: str, edits: list[tuple[int, int, str]]
) -> tuple[int, int]:
    """Apply non-overlapping `(start, end, replacement)` edits; returns the change in
    characters and in UTF-8 bytes. Only the chunks around the edited span are rewritten (with
    one neighbour each side, so a word joined at a chunk edge is re-cut whole)."""
    chunks = await layout(conn, document_id)
    lo = min(start for start, _, _ in edits)
    hi = max(end for _, end, _ in edits)
    first = next((k for k, c in enumerate(chunks) if c.end > lo), len(chunks) - 1)
    last = next((k for k, c in enumerate(chunks) if c.end >= hi), len(chunks) - 1)
    first, last = max(first - 1, 0), min(last + 1, len(chunks) - 1)
    touched = chunks[first : last + 1] if chunks else []
    base = touched[0].start if touched else 0
    old = await bodies(conn, touched)
    new = old
    for start, end, text in sorted(edits, reverse=True):
        new = new[: start - base] + text + new[end - base :]
    parts = split(new)
    extra = parts[len(touched) :]
    after = touched[-1].pos if touched else 0
    following = chunks[last + 1].pos if touched and last + 1 < len(chunks) else None
    if extra and following is not None and following - after - 1 < len(extra):
        # No free positions between the neighbours: spread every chunk out again (rare).
        for k, chunk in enumerate(chunks):
            await conn.execute(update(C).where(C.c.id == chunk.id).values(pos=(k + 1) * POS_GAP))
        after, following = (last + 1) * POS_GAP, (last + 2) * POS_GAP
    # Reuse the touched rows in order (unchanged ones are left alone, so not re-indexed).
    for chunk, part in zip(touched, parts, strict=False):
        if part != old[chunk.start - base : chunk.end - base]:
            await conn.execute(
                update(C).where(C.c.id == chunk.id).values(body=part, length=len(part))
            )
    if len(touched) > len(parts):
        gone = [c.id for c in touched[len(parts) :]]
        await conn.execute(delete(C).where(C.c.id.in_(gone)))
    if extra:
        step = POS_GAP if following is None else max((following - after) // (len(extra) + 1), 1)
        await conn.execute(
            insert(C),
            [
                {
                    "document_id": document_id,
                    "pos": after + (k + 1) * step,
                    "body": p,
                    "length": len(p),
                }
                for k, p in enumerate(extra)
            ],
        )
    return len(new) - len(old), len(new.encode()) - len(old.encode())
