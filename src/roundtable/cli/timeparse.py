"""Durations (`30m`, `1h`, `7d`, `1h30m`) and points in time (ISO 8601 or `2h` ago) from the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from roundtable.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_duration(text: str, *, option: str) -> timedelta:
    """`90`, `45s`, `30m`, `1h`, `7d`, `2w`, or combinations such as `1h30m`; must be positive."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        seconds = float(value)
    elif _WHOLE.fullmatch(value):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    else:
        raise InvalidInput(
            f"{option}: {text!r} is not a duration; use e.g. 45s, 30m, 1h, 7d or 1h30m",
            field=option,
        )
    if seconds <= 0:
        raise InvalidInput(f"{option}: the duration must be positive", field=option)
    return timedelta(seconds=seconds)


def parse_when(text: str, *, option: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time, or a duration meaning that long before `now` (`2h` = two hours ago).

    A time without an offset is read as local time, as a person at a terminal means it.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            ago = parse_duration(text, option=option)
        except InvalidInput:
            raise InvalidInput(
                f"{option}: {text!r} is neither an ISO 8601 time nor a duration such as 2h",
                field=option,
            ) from None
        return (now or datetime.now(UTC)) - ago
    return moment.astimezone(UTC)
