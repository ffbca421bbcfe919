"""Request dependencies: the running core and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roundtable.auth.tokens import Principal
from roundtable.runtime import Roundtable


def get_core(request: Request) -> Roundtable:
    core: Roundtable = request.app.state.core
    return core


async def get_principal(
    request: Request, core: Annotated[Roundtable, Depends(get_core)]
) -> Principal:
    return await core.authenticate_async(request.headers.get("authorization"))


Core = Annotated[Roundtable, Depends(get_core)]
Caller = Annotated[Principal, Depends(get_principal)]
