"""The fast front of `roundtable mcp`: `initialize` and `tools/list` answered at once.

MCP clients start every stdio server at each launch and wait for its tool list; importing the
MCP SDK and building the 30 tools takes most of a second. The answers to those two requests
are fixed for a given release, protocol version and choice of tool groups, so they are recorded
in `snapshot.json` (by `roundtable.mcp.snapshot`, checked against the live server by
tests/mcp/test_snapshot.py). The front, which imports nothing but the standard library, owns
the process's stdin and stdout (`pipes.Pipes`): its reader thread answers those two requests
from the snapshot while the main thread imports and builds the real server, and hands every
other line on to it, in order (`stdio_wire`). Only a line that contains `"initialize"` or
`"tools/list"` is parsed here. The `initialize` it answered is handed on too, so the SDK's
session is initialized like any other; the SDK's own answer to it is dropped on the way out.
Everything else (calls, pings, malformed lines, an `initialize` the front does not recognise)
is the server's.

If the server cannot start (a configuration error), every request waiting and to come is
answered with a JSON-RPC error that says why, until the client closes stdin.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from roundtable.mcp.pipes import Pipes

SNAPSHOT_PATH = Path(__file__).with_name("snapshot.json")

#: `roundtable.config.MCP_TOOL_GROUPS`, repeated so the front need not import the settings
#: (pydantic); tests/mcp/test_snapshot.py checks that they agree.
TOOL_GROUPS = ("journal", "proofs", "events", "orchestration", "schemas", "documents")

#: JSON-RPC "internal error": what a request gets when the server could not start.
INTERNAL_ERROR = -32603


def chosen_groups(environ: Mapping[str, str]) -> frozenset[str] | None:
    """The tool groups `ROUNDTABLE_MCP_TOOLS` chooses, parsed as `Settings` does; None when it
    is invalid (the settings then report it)."""
    groups = {g.strip() for g in environ.get("ROUNDTABLE_MCP_TOOLS", "all").split(",")}
    groups.discard("")
    if not groups or groups - {"all", *TOOL_GROUPS}:
        return None
    return frozenset(TOOL_GROUPS) if "all" in groups else frozenset(groups)


def _enabled(value: str) -> bool:
    """`ROUNDTABLE_MCP_FRONT` as pydantic reads a bool (an invalid value: the settings say so,
    so the front stays out of the way)."""
    return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")


def initialize_key(groups: Collection[str]) -> str:
    """Which recorded `initialize` answer fits these groups: only the journal group changes it
    (it adds the resources and withdraws the prompts)."""
    return "journal" if "journal" in groups else "no-journal"


def _request_id(message: dict[str, Any]) -> int | str | None:
    ident = message.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str):
        return None
    return ident


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class Recorded:
    """The recorded answers for one choice of tool groups."""

    def __init__(self, snapshot: dict[str, Any], groups: Collection[str]) -> None:
        self._versions: dict[str, Any] = snapshot["versions"]
        self._shared_tools: list[dict[str, Any]] = snapshot["tools"]
        self._groups = frozenset(groups)

    def initialize(self, params: Any) -> dict[str, Any] | None:
        """The `initialize` result, if `params` is one the SDK would accept as it is and its
        protocol version was recorded (the SDK answers any other)."""
        if not isinstance(params, dict):
            return None
        version = params.get("protocolVersion")
        info = params.get("clientInfo")
        if (
            not isinstance(version, str)
            or version not in self._versions
            or not isinstance(params.get("capabilities"), dict)
            or not isinstance(info, dict)
            or not isinstance(info.get("name"), str)
            or not isinstance(info.get("version"), str)
        ):
            return None
        result = self._versions[version]["initialize"].get(initialize_key(self._groups))
        return result if isinstance(result, dict) else None

    def tools(self, version: str) -> dict[str, Any]:
        """The `tools/list` result for a session of protocol `version`."""
        tools = self._versions[version].get("tools", self._shared_tools)
        wanted = self._groups | {"sessions"}
        return {"tools": [entry["tool"] for entry in tools if entry["group"] in wanted]}


class Front(Pipes):
    """Owns stdin and stdout for the life of `roundtable mcp` (see the module docstring)."""

    def __init__(self, snapshot: dict[str, Any], groups: Collection[str]) -> None:
        super().__init__()
        self._recorded = Recorded(snapshot, groups)
        #: Ids of the requests the front answered whose SDK answer must not be written too.
        self._answered: set[int | str] = set()
        self._version: str | None = None  # the protocol version of the `initialize` answered
        self._failure: str | None = None

    @classmethod
    def start_front(cls, environ: Mapping[str, str] = os.environ) -> Front | None:
        """The front, reading already; None when it is switched off (`ROUNDTABLE_MCP_FRONT`) or
        cannot help (unknown tool groups, no snapshot), and the server serves stdio alone."""
        groups = chosen_groups(environ)
        if groups is None or not _enabled(environ.get("ROUNDTABLE_MCP_FRONT", "true")):
            return None
        try:
            snapshot = json.loads(SNAPSHOT_PATH.read_bytes())
        except (OSError, ValueError):
            return None
        front = cls(snapshot, groups)
        front.start()
        return front

    # The reader thread.

    def _take(self, raw: bytes) -> None:
        # Only an `initialize` or a `tools/list` can be the front's (a method name spelled
        # with escapes is left to the SDK, which answers any request): parse nothing else.
        if b'"initialize"' not in raw and b'"tools/list"' not in raw:
            with self._lock:
                if self._failure is None:
                    self._deliver(raw)
                    return
        message = _parse(raw)
        ident = None if message is None else _request_id(message)
        with self._lock:
            if message is not None and ident is not None:
                method = message.get("method")
                if method == "initialize" and self._version is None:
                    result = self._recorded.initialize(message.get("params"))
                    if result is not None:
                        self._version = str(result["protocolVersion"])
                        self._answered.add(ident)
                        self._answer({"jsonrpc": "2.0", "id": ident, "result": result})
                        self._deliver(raw)  # the SDK's session must see it too
                        return
                elif method == "tools/list" and self._version is not None:
                    params = message.get("params")
                    if not isinstance(params, dict) or "cursor" not in params:
                        result = self._recorded.tools(self._version)
                        self._answer({"jsonrpc": "2.0", "id": ident, "result": result})
                        return
            if self._failure is not None:
                self._refuse(message)
            else:
                self._deliver(raw)

    def _refuse(self, message: dict[str, Any] | None) -> None:
        ident = None if message is None else _request_id(message)
        if ident is not None and message is not None and "method" in message:
            error = {"code": INTERNAL_ERROR, "message": self._failure}
            self._answer({"jsonrpc": "2.0", "id": ident, "error": error})

    def _answer(self, message: dict[str, Any]) -> None:
        self.write(_line(message))

    # The server's side.

    def swallows(self, ident: object, error: object = None) -> bool:
        """Whether the server's answer to request `ident` must not be written: the front
        answered that `initialize` already (`error`: the server's refusal, if it refused)."""
        if not self._answered:
            return False
        with self._lock:
            if ident not in self._answered:
                return False
            self._answered.discard(ident)
        if error is not None:
            print(
                f"roundtable mcp: the server refused an initialize the front accepted: {error}",
                file=sys.stderr,
                flush=True,
            )
        return True

    def fail(self, reason: str) -> None:
        """The server could not start, or stopped: answer every request waiting, and those to
        come, with `reason` (the recorded `initialize` and `tools/list` answers still stand)."""
        with self._lock:
            self._failure = reason
            self._consumer = self._loop = None
            while self._backlog:
                raw = self._backlog.popleft()
                if raw:
                    self._refuse(_parse(raw))
