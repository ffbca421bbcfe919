"""A fake `claude` CLI speaking Claude Code's headless stream-json format (tests cannot reach a
model). It accepts the flags the `claude-code` executor passes, records what it got in
$FAKE_RECORD (JSON lines), and behaves by prompt: `FAIL` -> an error result, `CRASH` -> exit 2
with no result, otherwise success (with `structured_output` when --json-schema is given)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

parser = argparse.ArgumentParser(prog="claude", exit_on_error=False)
parser.add_argument("-p", "--print", action="store_true")
parser.add_argument("--output-format", choices=["text", "json", "stream-json"])
parser.add_argument("--verbose", action="store_true")
parser.add_argument("--mcp-config")
parser.add_argument("--strict-mcp-config", action="store_true")
parser.add_argument("--allowedTools")
parser.add_argument("--append-system-prompt")
parser.add_argument("--json-schema")
parser.add_argument("--resume")
parser.add_argument("--model")
parser.add_argument("--max-turns")
parser.add_argument("--permission-mode")
args = parser.parse_args()
assert args.print and args.output_format == "stream-json" and args.verbose
prompt = sys.stdin.read()
mcp = None
if args.mcp_config:
    with open(args.mcp_config) as source:
        mcp = json.loads(source.read())
if os.environ.get("FAKE_RECORD"):
    with open(os.environ["FAKE_RECORD"], "a") as f:
        f.write(json.dumps({"argv": sys.argv, "prompt": prompt, "mcp": mcp,
                            "env": dict(os.environ)}) + "\n")  # fmt: skip


def emit(event: dict[str, object]) -> None:
    print(json.dumps(event), flush=True)


if "CRASH" in prompt:
    sys.stderr.write("claude: something broke\n")
    sys.exit(2)
session = args.resume or str(uuid.uuid4())
emit({"type": "system", "subtype": "init", "session_id": session, "tools": []})
emit({"type": "assistant", "session_id": session, "message": {"content": [
    {"type": "tool_use", "id": "t1", "name": "mcp__gh__echo", "input": {"text": "x"}},
    {"type": "text", "text": f"working on: {prompt[:40]}"},
]}})  # fmt: skip
usage = {"input_tokens": 120, "output_tokens": 30}
if "FAIL" in prompt:
    emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
          "result": "the model gave up", "session_id": session, "usage": usage})  # fmt: skip
    sys.exit(1)
result: dict[str, object] = {
    "type": "result", "subtype": "success", "is_error": False, "session_id": session,
    "result": f"resumed {args.resume}" if args.resume else "done",
    "usage": usage, "total_cost_usd": 0.0123,
}  # fmt: skip
if args.json_schema:
    result["structured_output"] = {"answer": 42}
emit(result)
