// Runs a plan of MCP calls with the official TypeScript SDK client and prints what the client
// surfaced for each, as one JSON document on stdout (tests/mcp/test_conformance.py reads it).
//
//   node conformance.mjs PLAN.json
//
// PLAN: {"connect": {"transport": "stdio", "command", "args", "env"} |
//                    {"transport": "http", "url", "token"},
//        "steps": [{"tool", "arguments", "save"?: {"name": "field"}, "until_error"?: N}]}
// "${name}" in a step's string arguments is replaced by a value saved by an earlier step.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const saved = {};

function transportFor(connect) {
  if (connect.transport === "stdio") {
    return new StdioClientTransport({
      command: connect.command,
      args: connect.args ?? [],
      env: connect.env,
      stderr: "inherit",
    });
  }
  return new StreamableHTTPClientTransport(new URL(connect.url), {
    requestInit: { headers: { Authorization: `Bearer ${connect.token}` } },
  });
}

function substitute(value) {
  if (typeof value === "string") {
    return value.replace(/\$\{(\w+)\}/g, (_, name) => String(saved[name]));
  }
  if (Array.isArray(value)) return value.map(substitute);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  }
  return value;
}

async function callOnce(client, step) {
  try {
    const result = await client.callTool({ name: step.tool, arguments: substitute(step.arguments ?? {}) });
    return {
      isError: result.isError === true,
      structuredContent: result.structuredContent ?? null,
      text: (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text),
    };
  } catch (error) {
    // What a client built on the SDK would show instead of the result.
    return { thrown: String(error?.message ?? error) };
  }
}

const client = new Client({ name: "roundtable-conformance", version: "1.0.0" });
await client.connect(transportFor(plan.connect));
const listed = await client.listTools();
const out = {
  server: client.getServerVersion(),
  capabilities: client.getServerCapabilities(),
  tools: listed.tools.map((t) => t.name),
  steps: [],
};
for (const step of plan.steps) {
  let outcome = await callOnce(client, step);
  let calls = 1;
  while (step.until_error && !outcome.isError && !outcome.thrown && calls < step.until_error) {
    outcome = await callOnce(client, step);
    calls += 1;
  }
  for (const [name, field] of Object.entries(step.save ?? {})) {
    saved[name] = outcome.structuredContent?.[field];
  }
  out.steps.push({ tool: step.tool, calls, ...outcome });
}
await client.close();
process.stdout.write(JSON.stringify(out) + "\n");
