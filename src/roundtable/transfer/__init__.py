"""Moving journals in and out: Scribe MCP import (D14) and namespace export/import as JSONL."""
