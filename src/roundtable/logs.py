"""Process logging: plain text or one JSON object per line, for every logger, never a secret.

`configure` sets the root logger (level `ROUNDTABLE_LOG_LEVEL`, format `ROUNDTABLE_LOG_FORMAT`)
and `adopt_handlers` re-dresses every handler other code installed (uvicorn's error and access
loggers, the access log setting's) with the same formatter and redaction, so a JSON setup has no
plain-text stragglers. A JSON record carries the ids of the call it was written in (agent,
session, project, namespace: `roundtable.tracing.annotate`) and, with tracing on, the trace and
span ids.

Secrets never reach the output: bearer tokens, the admin token (`rt_admin_...`), JWTs and
`token=`/`password=` values are replaced by `[redacted]` in messages, arguments, extra fields and
tracebacks, in both formats.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from roundtable import tracing

_SECRET = re.compile(
    r"(?i)(?P<bearer>bearer\s+)[^\s\"',;]+"
    r"|rt_admin_[\w-]+"
    r"|eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"
    r"|(?P<key>\b(?:token|access_token|password|secret|authorization)[\"']?\s*[=:]\s*[\"']?"
    r"(?:(?:bearer|basic)\s+)?)[^\s\"'&,;]+"
)

#: Attributes every `LogRecord` has; anything else on a record came as `extra=` and is output.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def redact(text: str) -> str:
    """`text` with every token-shaped secret replaced by `[redacted]`."""

    def replace(match: re.Match[str]) -> str:
        prefix = match.group("bearer") or match.group("key") or ""
        return prefix + "[redacted]"

    return _SECRET.sub(replace, text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the call's ids, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        body.update(tracing.ids())
        trace = tracing.current_trace_ids()
        if trace is not None:
            body["trace_id"], body["span_id"] = trace
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in body and not key.startswith("_"):
                body[key] = _plain(value)
        if record.exc_info:
            body["exc"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            body["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(body, ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def formatter(kind: Literal["text", "json"]) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


#: The format `configure` set in this process (None: never called, e.g. in tests and libraries).
_configured: Literal["text", "json"] | None = None


def configure(kind: Literal["text", "json"] = "text", level: str = "INFO") -> None:
    """Log to stderr at `level` in `kind` format; every existing handler adopts the format."""
    global _configured
    _configured = kind
    root = logging.getLogger()
    root.setLevel(level)
    # Migration chatter ("Context impl SQLiteImpl.") and the MCP SDK's session-manager notices
    # on every start are noise below DEBUG.
    for chatty in ("alembic", "mcp"):
        logging.getLogger(chatty).setLevel(level if level == "DEBUG" else "WARNING")
    if not any(getattr(h, "_roundtable", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._roundtable = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    adopt_handlers(kind)


def adopt_handlers(kind: Literal["text", "json"]) -> None:
    """Give every handler of every logger (root included) our formatter, so all output has one
    format and passes redaction. Run again after a library installs its own handlers."""
    fmt = formatter(kind)
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(fmt)


def reapply() -> None:
    """`adopt_handlers` again with the configured format (after uvicorn set up its loggers);
    nothing if `configure` was never called in this process."""
    if _configured is not None:
        adopt_handlers(_configured)
