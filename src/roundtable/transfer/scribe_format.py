"""Scribe MCP's own formats: progress-log lines, timestamps, and emoji marks.

A Scribe progress log (`PROGRESS_LOG.md`) holds one entry per line, written by Scribe's
`compose_log_line`:

    [✅] [2026-01-05 12:00:00 UTC] [Agent: A1] [Project: web] message | k=v; k2=v2

Older Scribe versions put the timestamp first (`[ts] [emoji] ...`), newer ones may add
`[ID: ...]` after the project; both are accepted. Meta values are plain strings (Scribe
stringifies them and strips `|` and newlines), and a value may itself contain `; `, so a segment
that does not start with `key=` continues the previous value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from roundtable.journal.models import EMOJI, Status

_TS = re.compile(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.\d+)?\s*(?:UTC|Z|\+00:00)?")
_BRACKET = re.compile(r"\[([^\]]*)\]\s*")
_META_KEY = re.compile(r"([A-Za-z0-9_.:-]+)=(.*)", re.DOTALL)

#: Scribe's status presets and the other marks agents commonly pass as `emoji`, by our status.
#: Compared without variation selectors (U+FE0F), so `⚠` and `⚠️` are the same mark.
_MARKS: dict[Status, str] = {
    Status.INFO: "ℹ 🧭 📝 📌 🔍 🔎 💡 📋 🧪 ⏳ 🔄 🗒 📣 🛠 🔧 ⚙",
    Status.SUCCESS: "✅ ✔ ☑ 🎉 🚀 🟢 🏁 👍",
    Status.WARN: "⚠ 🟡 🚧 🟠 ⏸",
    Status.ERROR: "❌ ✖ 🛑 ⛔ 🔥 🚨 💥 🔴 🚫",
    Status.BUG: "🐞 🐛 🪲",
}
_STATUS_OF: dict[str, Status] = {
    mark: status for status, marks in _MARKS.items() for mark in marks.split()
}


def _bare(emoji: str) -> str:
    return emoji.replace("\ufe0f", "").strip()


def status_of(emoji: str | None) -> tuple[Status, bool]:
    """Our status for a Scribe mark, and whether the mark is that status's own emoji.

    Scribe's presets are info ℹ️, success ✅, warn ⚠️, error ❌, bug 🐞 and plan 🧭 (which we
    keep as info); any other mark an agent chose maps by the table above, else to info.
    """
    bare = _bare(emoji or "")
    status = _STATUS_OF.get(bare, Status.INFO)
    return status, bare == _bare(EMOJI[status])


def parse_ts(text: str) -> datetime | None:
    """A Scribe timestamp (`2025-10-24 12:00:00 UTC` or ISO 8601) as an aware UTC datetime."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text.replace(" UTC", "+00:00").replace("Z", "+00:00"))
    except ValueError:
        match = _TS.fullmatch(text)
        if match is None:
            return None
        try:
            parsed = datetime.fromisoformat(match.group(1).replace(" ", "T"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Scribe writes UTC only
    return parsed.astimezone(UTC)


def iso(ts: datetime) -> str:
    """`occurred_at` as people expect it: ISO 8601 UTC with a Z, microseconds only if any."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LogLine:
    emoji: str
    ts: datetime
    agent: str
    project: str
    message: str
    meta: dict[str, str] = field(default_factory=dict)
    entry_id: str | None = None


class NotAnEntry(ValueError):
    """The line is not a Scribe entry; the message says why."""


def looks_like_entry(line: str) -> bool:
    """Entry candidates start with `[`: anything else (headings, prose, blank) is not one."""
    return line.lstrip().startswith("[")


def parse_line(line: str) -> LogLine:
    """Parse one progress-log line, or raise `NotAnEntry` naming what is wrong."""
    text = line.strip()
    groups: list[str] = []
    pos = 0
    while len(groups) < 5:
        match = _BRACKET.match(text, pos)
        if match is None:
            break
        inner = match.group(1)
        if len(groups) >= 2 and not inner.startswith(("Agent:", "Project:", "ID:")):
            break  # the message itself starts with a bracket
        groups.append(inner)
        pos = match.end()
    if len(groups) < 4:
        raise NotAnEntry("expected [emoji] [timestamp] [Agent: ...] [Project: ...] message")
    first, second = groups[0], groups[1]
    ts = parse_ts(second) if _TS.fullmatch(second.strip()) else None
    emoji = first
    if ts is None and _TS.fullmatch(first.strip()):  # the older `[ts] [emoji]` order
        ts, emoji = parse_ts(first), second
    if ts is None:
        raise NotAnEntry(f"no valid UTC timestamp in {first!r} or {second!r}")
    labels = dict(_label(inner) for inner in groups[2:])
    if "Agent" not in labels or "Project" not in labels:
        raise NotAnEntry("missing [Agent: ...] or [Project: ...]")
    message, meta = split_meta(text[pos:])
    if not message.strip():
        raise NotAnEntry("the message is empty")
    return LogLine(
        emoji=emoji.strip(),
        ts=ts,
        agent=labels["Agent"],
        project=labels["Project"],
        message=message,
        meta=meta,
        entry_id=labels.get("ID"),
    )


def _label(inner: str) -> tuple[str, str]:
    key, _, value = inner.partition(":")
    return key.strip(), value.strip()


def split_meta(rest: str) -> tuple[str, dict[str, str]]:
    """`message | k=v; k2=v2` into the message and its meta (the last ` | ` separates them)."""
    message, sep, tail = rest.rpartition(" | ")
    if not sep:
        return rest.strip(), {}
    meta: dict[str, str] = {}
    last: str | None = None
    for part in tail.split("; "):
        match = _META_KEY.fullmatch(part.strip())
        if match is not None:
            last = match.group(1)
            meta[last] = match.group(2).strip()
        elif last is not None:
            meta[last] += "; " + part
        else:
            return rest.strip(), {}  # no `key=` after the bar: it is part of the message
    return message.strip(), meta
