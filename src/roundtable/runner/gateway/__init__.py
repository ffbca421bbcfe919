"""The runner's MCP gateway (D11/D12): per-run loopback endpoints for exactly the run's MCP
servers, credentials injected on the upstream side, every call reported as a progress event."""

from roundtable.runner.gateway.secrets import RunnerSecrets
from roundtable.runner.gateway.server import Gateway, RunGrant

__all__ = ["Gateway", "RunGrant", "RunnerSecrets"]
