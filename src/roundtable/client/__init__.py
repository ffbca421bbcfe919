"""Talking to a Roundtable server over HTTP: a typed client and a retry helper."""

from roundtable.client.context import use_project
from roundtable.client.http import IssuedToken, RoundtableClient, ServerUnreachable
from roundtable.client.retry import backoff_ceiling, backoff_delay, retry_async

__all__ = [
    "IssuedToken",
    "RoundtableClient",
    "ServerUnreachable",
    "backoff_ceiling",
    "backoff_delay",
    "retry_async",
    "use_project",
]
