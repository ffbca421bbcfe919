"""What the routes of namespaced, versioned resources (blueprints, MCP servers) share."""

from __future__ import annotations

from roundtable.auth.tokens import Principal
from roundtable.errors import InvalidInput, PermissionDenied


def refuse_run_token(caller: Principal, what: str) -> None:
    """A run token (an agent started by a run) may read `what` but never change it."""
    if caller.scope is not None:
        raise PermissionDenied(f"a run token cannot change {what}")


def check_path_name(body_name: str, path_name: str) -> None:
    """A PUT names its resource twice (path and body); they must agree."""
    if body_name != path_name:
        raise InvalidInput(f"the body names {body_name!r} but the path {path_name!r}", field="name")
