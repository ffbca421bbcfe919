"""`roundtable serve`'s HTTP server: uvicorn, with event streams ended as soon as a stop begins.

An SSE stream or a long-poll never finishes by itself, and uvicorn waits for open responses
before it shuts the application down: it used to wait out its grace period, then cancel them
("Cancel 1 running task(s)…" and a `CancelledError` traceback per client). Here the event bus
is closed first, so every stream ends like a normal response (SSE clients reconnect with
`Last-Event-ID`; `roundtable events tail` does so by itself) and the stop is quick and quiet.

Once started, the objects that live as long as the process are moved out of the garbage
collector's reach and young collections are made rarer (`roundtable.heap`). Requests that wait
for a group commit outlive the young generations, so full collections came every second or so
under load and each walked all of them: a third of the server's CPU at 1,000 `set_project`
calls per second (issue 16).
"""

from __future__ import annotations

import logging
import socket

import uvicorn
from fastapi import FastAPI

from roundtable.config import Settings
from roundtable.heap import freeze_startup_objects

#: uvicorn's logger for one line per request (`client - "GET /path HTTP/1.1" 200`).
ACCESS_LOGGER = "uvicorn.access"


async def end_streams(app: FastAPI) -> None:
    """End every live event stream and long-poll of `app` (they return what they have)."""
    core = getattr(app.state, "core", None)
    if core is not None:
        await core.events.close()


class Server(uvicorn.Server):
    """A uvicorn server that ends the app's event streams before waiting for responses."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        freeze_startup_objects()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await end_streams(self.app)
        await super().shutdown(sockets)
        # uvicorn re-raises the signal that stopped it once it is done (exit 130 or -15). A
        # stop is how a server is meant to end, so a clean one exits 0, as the follow
        # commands do on Ctrl-C (docs/decisions.md).
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def run(app: FastAPI, settings: Settings) -> None:
    """Serve `app` until SIGINT or SIGTERM; an access log on stderr if `access_log` is set."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=(settings.log_level or "WARNING").lower(),
        log_config=None,  # uvicorn's loggers propagate to ours (`logs.configure`)
        access_log=settings.access_log,
        # Anything still open once the streams have ended gets a few seconds to finish.
        timeout_graceful_shutdown=3,
    )
    if settings.access_log:
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
    Server(config, app).run()
