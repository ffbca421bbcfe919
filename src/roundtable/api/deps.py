"""Request dependencies: the running core and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roundtable.auth.tokens import ADMIN, Principal
from roundtable.runtime import Roundtable


def get_core(request: Request) -> Roundtable:
    core: Roundtable = request.app.state.core
    return core


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authenticate(core: Roundtable, authorization: str | None) -> Principal:
    """The caller behind an `Authorization` header (everyone is admin when auth is disabled)."""
    if core.settings.auth_disabled:
        return ADMIN
    return core.tokens.authenticate(bearer_token(authorization))


def get_principal(request: Request, core: Annotated[Roundtable, Depends(get_core)]) -> Principal:
    return authenticate(core, request.headers.get("authorization"))


Core = Annotated[Roundtable, Depends(get_core)]
Caller = Annotated[Principal, Depends(get_principal)]
