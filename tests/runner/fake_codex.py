"""A fake `codex` CLI speaking `codex exec --json` JSONL. It accepts the executor's flags,
records what it got in $FAKE_RECORD, and behaves by prompt: `FAIL` -> turn.failed (exit 1),
otherwise success (a JSON message when --output-schema is given)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

parser = argparse.ArgumentParser(prog="codex", exit_on_error=False)
parser.add_argument("command", choices=["exec"])
parser.add_argument("--json", action="store_true")
parser.add_argument("--skip-git-repo-check", action="store_true")
parser.add_argument("--output-schema")
parser.add_argument("-m", "--model")
parser.add_argument("-C", "--cd")
parser.add_argument("-c", "--config", action="append", default=[])
parser.add_argument("rest", nargs="*")
args = parser.parse_intermixed_args()
assert args.json and args.rest[-1] == "-"
resume = args.rest[1] if args.rest[0] == "resume" else None
prompt = sys.stdin.read()
schema = None
if args.output_schema:
    with open(args.output_schema) as source:
        schema = json.loads(source.read())
if os.environ.get("FAKE_RECORD"):
    with open(os.environ["FAKE_RECORD"], "a") as f:
        f.write(json.dumps({"argv": sys.argv, "prompt": prompt, "schema": schema,
                            "env": dict(os.environ)}) + "\n")  # fmt: skip


def emit(event: dict[str, object]) -> None:
    print(json.dumps(event), flush=True)


thread = resume or str(uuid.uuid4())
emit({"type": "thread.started", "thread_id": thread})
emit({"type": "turn.started"})
emit({"type": "item.completed", "item": {"id": "i0", "type": "mcp_tool_call", "server": "gh",
                                          "tool": "echo", "status": "completed"}})  # fmt: skip
if "FAIL" in prompt:
    emit({"type": "turn.failed", "error": {"message": "model refused"}})
    sys.exit(1)
text = json.dumps({"answer": 42}) if schema else (f"resumed {resume}" if resume else "done")
emit({"type": "item.completed", "item": {"id": "i1", "type": "agent_message", "text": text}})
emit({"type": "turn.completed",
      "usage": {"input_tokens": 50, "cached_input_tokens": 0, "output_tokens": 7}})  # fmt: skip
