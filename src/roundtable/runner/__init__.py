"""The runner: a separate process that executes runs for the server, over HTTP only.

Nothing in this package may import the store, the services or the runtime: a runner runs on
machines that have no database (a test enforces it).
"""

from roundtable.runner.process import Runner, RunnerConfig, serve

__all__ = ["Runner", "RunnerConfig", "serve"]
